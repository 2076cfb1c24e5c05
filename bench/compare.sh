#!/usr/bin/env bash
# The README's comparison, on your machine: `orchestrator bench` and Celery 5 (prefork pool, concurrency 2, Redis
# broker and result backend, a no-op task) against the same redis-server on 127.0.0.1, in one run. Prints both
# figures and the ratio. Needs the .NET SDK, redis-server and Celery from the distribution:
#   apt-get install redis-server python3-celery python3-redis
# Settings (environment): TASKS (5000), IN_FLIGHT (256), SINGLE (tasks measured one at a time, 1000), WARMUP (tasks
# each side runs first, unmeasured, 20000: .NET's optimising recompilation of the hot code ends within them), PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."
TASKS=${TASKS:-5000}
IN_FLIGHT=${IN_FLIGHT:-256}
SINGLE=${SINGLE:-1000}
WARMUP=${WARMUP:-20000}
PYTHON=${PYTHON:-/usr/bin/python3}

command -v redis-server >/dev/null || { echo "redis-server is not installed (apt-get install redis-server)" >&2; exit 2; }
"$PYTHON" -c 'import celery, redis' 2>/dev/null || { echo "$PYTHON has no celery/redis modules (apt-get install python3-celery python3-redis, or set PYTHON)" >&2; exit 2; }

work=$(mktemp -d)
port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
celery_pid=
cleanup() {
  [[ -n "$celery_pid" ]] && kill "$celery_pid" 2>/dev/null && wait "$celery_pid" 2>/dev/null
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" --daemonize yes --logfile "$work/redis.log"
for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done

echo "building orchestrator (Release)" >&2
dotnet build -c Release client -v q -nologo >&2
ours() { dotnet client/bin/Release/net10.0/orchestrator.dll bench -n "$1" -c "$2" --warmup "$WARMUP" --redis "127.0.0.1:$port" --json 2>/dev/null; }
echo "orchestrator: $TASKS tasks, $IN_FLIGHT in flight" >&2
ours_many=$(ours "$TASKS" "$IN_FLIGHT")
echo "orchestrator: $SINGLE tasks one at a time" >&2
ours_one=$(ours "$SINGLE" 1)

redis-cli -p "$port" flushall >/dev/null
export BENCH_REDIS_URL="redis://127.0.0.1:$port/0"
(cd bench && exec "$PYTHON" -m celery -A celery_noop worker --pool prefork --concurrency 2 --loglevel WARNING) >"$work/celery.log" 2>&1 &
celery_pid=$!
celery_run() { (cd bench && "$PYTHON" celery_noop.py "$1" "$2" "$WARMUP"); }
echo "celery: $TASKS tasks, $IN_FLIGHT in flight" >&2
celery_many=$(celery_run "$TASKS" "$IN_FLIGHT")
echo "celery: $SINGLE tasks one at a time" >&2
celery_one=$(celery_run "$SINGLE" 1)

"$PYTHON" - "$ours_many" "$ours_one" "$celery_many" "$celery_one" "$IN_FLIGHT" <<'PY'
import json, sys
ours_many, ours_one, celery_many, celery_one = (json.loads(a) for a in sys.argv[1:5])
rows = [
    (f"tasks/s, {sys.argv[5]} in flight", ours_many["tasks_per_second"], celery_many["tasks_per_second"], True),
    ("p50 ms, one at a time", ours_one["p50_ms"], celery_one["p50_ms"], False),
    ("p99 ms, one at a time", ours_one["p99_ms"], celery_one["p99_ms"], False),
]
print(f"{'':28} {'orchestrator':>14} {'celery':>10} {'ratio':>8}")
for name, ours, celery, higher_better in rows:
    ratio = ours / celery if higher_better else celery / ours
    print(f"{name:28} {ours:>14} {celery:>10} {ratio:>7.2f}x")
print(f"orchestrator per task: {ours_many.get('cpu_us_per_task')} us CPU, {ours_many.get('allocated_kb_per_task')} KB allocated, "
      f"{ours_many.get('redis_commands_per_task')} Redis commands, {ours_many.get('redis_bytes_per_finished_task')} B in Redis")
print(f"(ratio: how many times better the orchestrator is; below 1 Celery is better; each side ran {ours_many.get('warmup_tasks')} tasks first, unmeasured)")
PY
