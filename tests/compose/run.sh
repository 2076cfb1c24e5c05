#!/usr/bin/env bash
# The compose flow of the README, as CI runs it: build-free (images must exist: docker/build-images.sh all), then
# up, wait for health, a two-domain task through the HTTP API, `stop silo1` while a task is in flight, another
# task through silo2, and `down -v`. Every container it made is removed on exit, whatever happened.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
compose=(docker-compose -f "$repo/docker-compose.yml")
say() { printf '[compose] %s\n' "$*"; }

dir=$(mktemp -d)
cp -r "$repo/agents" "$dir/agents"
mkdir -p "$dir/workspace" && chmod 777 "$dir/workspace"
cd "$dir"
export PWD="$dir" COMPOSE_PROJECT_NAME="orchestrator-ci-$$"
export REDIS_PASSWORD="pw-$RANDOM$RANDOM" ORCHESTRATOR_API_KEY="key-$RANDOM$RANDOM"
export REDIS_PORT=${REDIS_PORT:-16379} SILO1_HTTP_PORT=${SILO1_HTTP_PORT:-18081} SILO2_HTTP_PORT=${SILO2_HTTP_PORT:-18082}
# Slow enough that `stop silo1` happens while the first task is in flight.
export AGENT_COMMAND='sleep 4; {demo}'

cleanup() {
  "${compose[@]}" logs --no-color --tail 30 silo1 silo2 > "$dir/compose.log" 2>&1 || true
  "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
  for id in $(docker ps -aq --filter label=distributed-agent-network.managed=true); do
    if docker inspect --format '{{range .HostConfig.Binds}}{{.}} {{end}}' "$id" | grep -q "$dir/workspace:"; then
      docker rm -f "$id" >/dev/null
    fi
  done
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { say "FAILED: $*"; "${compose[@]}" logs --no-color --tail 40 >&2 || true; exit 1; }

api() { # api PORT METHOD PATH [BODY]
  curl -fsS -X "$2" -H "X-Api-Key: $ORCHESTRATOR_API_KEY" -H 'Content-Type: application/json' ${4:+-d "$4"} "http://127.0.0.1:$1$3"
}
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
wait_ready() { # wait_ready PORT
  for _ in $(seq 1 90); do curl -fsS "http://127.0.0.1:$1/health/ready" >/dev/null 2>&1 && return 0; sleep 1; done
  fail "the silo on port $1 never became ready"
}
wait_final() { # wait_final PORT TASK -> prints the result
  for _ in $(seq 1 120); do
    local result; result=$(api "$1" GET "/api/tasks/$2")
    case $(echo "$result" | field '["status"]') in
      completed|partially_completed|failed|timed_out|cancelled) echo "$result"; return 0 ;;
    esac
    sleep 1
  done
  fail "task $2 did not finish"
}

say "up"
"${compose[@]}" up -d
wait_ready "$SILO1_HTTP_PORT"
wait_ready "$SILO2_HTTP_PORT"
say "both silos ready"

task=$(api "$SILO1_HTTP_PORT" POST /api/tasks '{"description": "Create user registration with form and API", "requirements": ["POST /api/users/register", "Build registration form component"]}' | field '["task_id"]')
say "submitted $task; following its events"
timeout 120 curl -fsSN -H "X-Api-Key: $ORCHESTRATOR_API_KEY" "http://127.0.0.1:$SILO1_HTTP_PORT/api/tasks/$task/events" | grep -m1 '^event: end' >/dev/null \
  || fail "the event stream of $task did not end"
result=$(wait_final "$SILO1_HTTP_PORT" "$task")
[[ $(echo "$result" | field '["status"]') == completed ]] || fail "task $task: $result"
for file in $(echo "$result" | field '["files_created"]' | tr -d "[]',"); do
  [[ -f "$dir/workspace/$file" ]] || fail "$file is not in the workspace"
done
say "two-domain task completed with its files"

inflight=$(api "$SILO2_HTTP_PORT" POST /api/tasks '{"description": "Add a health check endpoint to the API"}' | field '["task_id"]')
sleep 1
say "stopping silo1 while $inflight is in flight"
"${compose[@]}" stop silo1
result=$(wait_final "$SILO2_HTTP_PORT" "$inflight")
[[ $(echo "$result" | field '["status"]') == completed ]] || fail "in-flight task $inflight after stop: $result"
say "the in-flight task completed after silo1 stopped"

after=$(api "$SILO2_HTTP_PORT" POST /api/tasks '{"description": "Deploy the authentication service"}' | field '["task_id"]')
result=$(wait_final "$SILO2_HTTP_PORT" "$after")
[[ $(echo "$result" | field '["status"]') == completed ]] || fail "task $after on silo2: $result"
say "compose flow passed"
