"""Prometheus metrics. Multi-process (gunicorn/celery) aware when
PROMETHEUS_MULTIPROC_DIR is set; otherwise the default process registry."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FETCH_OUTCOMES = Counter("newsroom_fetch_total", "Source fetches by outcome", ["status", "kind"])
FETCH_LATENCY = Histogram(
    "newsroom_fetch_seconds", "Source fetch latency", ["status"], buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
)
ENTRIES = Counter("newsroom_entries_total", "Entries ingested by outcome", ["outcome"])
SCHEDULER_LAG = Gauge("newsroom_scheduler_lag_seconds", "Age of the oldest overdue source")
QUEUE_LENGTH = Gauge("newsroom_queue_length", "Messages waiting per Celery queue", ["queue"])
COUNTER_FLUSH_LAG = Gauge("newsroom_counter_flush_lag_seconds", "Seconds since counters were last flushed")
REQUEST_LATENCY = Histogram(
    "newsroom_request_seconds",
    "Request latency by view",
    ["view", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
