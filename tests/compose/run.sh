#!/usr/bin/env bash
# The compose flow of the README, as CI runs it: build-free (images must exist: docker/build-images.sh all), then
# the cluster's certificates and Redis users (docker/make-dev-certs.sh, docker/make-redis-acl.sh), up, wait for
# health, no password in `ps` or `docker inspect`, a two-domain task through the HTTP API, each domain container on
# its own Redis user, the CLI over mutual TLS (refused without a certificate), `stop silo1` while a task is in
# flight, another task through silo2, and `down -v`. Every container it made is removed on exit, whatever happened.
# ORCHESTRATOR_CLI: the built CLI (default: the Debug build of client/).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
compose=(docker-compose -f "$repo/docker-compose.yml")
say() { printf '[compose] %s\n' "$*"; }

dir=$(mktemp -d)
cp -r "$repo/agents" "$dir/agents"
mkdir -p "$dir/workspace" && chmod 777 "$dir/workspace"
cd "$dir"
bash "$repo/docker/make-dev-certs.sh" "$dir/secrets/tls" 2>/dev/null
bash "$repo/docker/make-redis-acl.sh" "$dir/secrets/redis" 2>/dev/null
cli=${ORCHESTRATOR_CLI:-$repo/client/bin/Debug/net10.0/orchestrator.dll}
export PWD="$dir" COMPOSE_PROJECT_NAME="orchestrator-ci-$$"
export ORCHESTRATOR_API_KEY="key-$RANDOM$RANDOM"
export REDIS_PORT=${REDIS_PORT:-16379} SILO1_HTTP_PORT=${SILO1_HTTP_PORT:-18081} SILO2_HTTP_PORT=${SILO2_HTTP_PORT:-18082}
# Slow enough that `stop silo1` happens while the first task is in flight.
export AGENT_COMMAND='sleep 4; {demo}'

# our_domain_containers: the domain containers the silos spawned for this run (by their workspace bind).
our_domain_containers() {
  for id in $(docker ps -aq --filter label=distributed-agent-network.managed=true); do
    docker inspect --format '{{range .HostConfig.Binds}}{{.}} {{end}}' "$id" | grep -q "$dir/workspace:" && echo "$id"
  done
}

cleanup() {
  "${compose[@]}" logs --no-color --tail 30 silo1 silo2 > "$dir/compose.log" 2>&1 || true
  "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
  for id in $(our_domain_containers); do docker rm -f "$id" >/dev/null; done
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
wait_healthy() { # wait_healthy CONTAINER... : each container's own health check reports healthy
  local id status
  for id in "$@"; do
    for _ in $(seq 1 60); do
      status=$(docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id")
      [[ $status == healthy ]] && break
      sleep 1
    done
    [[ $status == healthy ]] || fail "container $(docker inspect --format '{{.Name}}' "$id") reports '$status', not healthy: $(docker inspect --format '{{range .State.Health.Log}}{{.Output}}{{end}}' "$id" | tail -3)"
  done
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

# orchestrator: the CLI against silo1's gateway with the API key, and the given Cluster:Tls environment.
# The silos take the configured API key as the access token of gateway clients too.
orchestrator() { env Cluster__Gateway=127.0.0.1:30000 Cluster__AccessToken="$ORCHESTRATOR_API_KEY" "$@"; }
client_tls=(Cluster__Tls__Certificate="$dir/secrets/tls/client.pem" Cluster__Tls__Key="$dir/secrets/tls/client.key"
  Cluster__Tls__CertificateAuthority="$dir/secrets/tls/ca.pem")

say "up"
"${compose[@]}" up -d
wait_ready "$SILO1_HTTP_PORT"
wait_ready "$SILO2_HTTP_PORT"
say "both silos ready"

visible="$(ps -eo args; docker inspect $("${compose[@]}" ps -q))"
for user in "$dir"/secrets/redis/*.password; do
  grep -qF "$(cat "$user")" <<<"$visible" && fail "the password of $(basename "$user" .password) is visible in ps or docker inspect"
done
grep -qE -- '--requirepass|redis-cli .*-a ' <<<"$visible" && fail "a Redis password option is on a command line"
say "no Redis password in ps or docker inspect"

task=$(api "$SILO1_HTTP_PORT" POST /api/tasks '{"description": "Create user registration with form and API", "requirements": ["POST /api/users/register", "Build registration form component"]}' | field '["task_id"]')
say "submitted $task; following its events"
# Read whole (the stream ends after its end event): `grep -m1` on a pipe would close it early, and curl's failure to
# write the rest then fails the pipeline under pipefail although the end event came.
events=$(timeout 120 curl -fsSN -H "X-Api-Key: $ORCHESTRATOR_API_KEY" "http://127.0.0.1:$SILO1_HTTP_PORT/api/tasks/$task/events") \
  || fail "the event stream of $task broke off or did not end within 120 s"
grep -q '^event: end' <<<"$events" || fail "the event stream of $task ended without its end event"
result=$(wait_final "$SILO1_HTTP_PORT" "$task")
[[ $(echo "$result" | field '["status"]') == completed ]] || fail "task $task: $result"
for file in $(echo "$result" | field '["files_created"]' | tr -d "[]',"); do
  [[ -f "$dir/workspace/$file" ]] || fail "$file is not in the workspace"
done
say "two-domain task completed with its files"

orchestrator_password=$(cat "$dir/secrets/redis/orchestrator.password")
domain_containers=$(our_domain_containers)
[[ -n $domain_containers ]] || fail "no domain container ran the task"
for id in $domain_containers; do
  env=$(docker inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$id")
  domain=$(sed -n 's/^DOMAIN_TYPE=//p' <<<"$env")
  grep -q "^REDIS_URL=rediss://worker-$domain:" <<<"$env" || fail "domain container $id ($domain) is not on its domain's Redis user over TLS"
  grep -qF "$orchestrator_password" <<<"$env" && fail "domain container $id holds the orchestrator's Redis password"
done
say "each domain container logs in to Redis as its own domain's user, over TLS"

# shellcheck disable=SC2046
wait_healthy $("${compose[@]}" ps -q) $domain_containers
say "every service's own health check reports healthy (redis, both silos, the domain containers)"

[[ $(orchestrator "${client_tls[@]}" dotnet "$cli" status "$task" --json | field '["status"]') == completed ]] \
  || fail "the CLI with the client certificate did not read $task"
set +e; orchestrator dotnet "$cli" status "$task" --json >/dev/null 2>&1; refused=$?; set -e
[[ $refused == 4 ]] || fail "the CLI without a certificate got exit code $refused, not 4 (no orchestrator reachable)"
say "the CLI reads the task over mutual TLS and is refused without a certificate"

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
