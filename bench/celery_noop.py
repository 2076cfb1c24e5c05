"""The Celery side of bench/compare.sh: a no-op task, and a driver that measures it like `orchestrator bench` does.

Worker:  celery -A celery_noop worker --pool prefork --concurrency 2
Driver:  python3 celery_noop.py TASKS IN_FLIGHT [WARMUP]   (prints one JSON line; WARMUP tasks first, unmeasured,
         at least 64 at a time, as `orchestrator bench --warmup` does)
"""
import json
import os
import sys
import time
from collections import deque

from celery import Celery

redis_url = os.environ["BENCH_REDIS_URL"]
app = Celery("celery_noop", broker=redis_url, backend=redis_url)
app.conf.update(task_acks_late=False, worker_prefetch_multiplier=4, result_expires=3600, broker_connection_retry_on_startup=True)


@app.task
def noop():
    return None


def percentile(sorted_ms, p):
    return round(sorted_ms[min(len(sorted_ms) - 1, max(0, int(-(-p * len(sorted_ms) // 1)) - 1))], 3) if sorted_ms else 0


def measure(tasks, in_flight):
    """Submit → result for each task, `in_flight` outstanding at a time; tasks/s and latency percentiles."""
    window = deque()
    latencies = []
    started = time.perf_counter()
    for _ in range(tasks):
        if len(window) >= in_flight:
            submitted, result = window.popleft()
            result.get(timeout=120)
            latencies.append((time.perf_counter() - submitted) * 1000)
        window.append((time.perf_counter(), noop.delay()))
    while window:
        submitted, result = window.popleft()
        result.get(timeout=120)
        latencies.append((time.perf_counter() - submitted) * 1000)
    seconds = time.perf_counter() - started
    latencies.sort()
    return {"tasks": tasks, "concurrency": in_flight, "seconds": round(seconds, 3), "tasks_per_second": round(tasks / seconds, 1),
            "p50_ms": percentile(latencies, 0.5), "p95_ms": percentile(latencies, 0.95), "p99_ms": percentile(latencies, 0.99)}


if __name__ == "__main__":
    warmup = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    if warmup > 0:
        measure(warmup, max(int(sys.argv[2]), 64))
    print(json.dumps(measure(int(sys.argv[1]), int(sys.argv[2])) | {"warmup_tasks": warmup}))
