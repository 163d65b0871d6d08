"""Prometheus metrics. Multi-process (gunicorn workers, celery pool processes)
aware when PROMETHEUS_MULTIPROC_DIR is set — it must be set (to an emptied
folder) before any process starts, as scripts/run-embedded.sh and
docker-compose.yml do; /metrics then aggregates every process's values.
Without it, the default per-process registry."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FETCH_OUTCOMES = Counter("newsroom_fetch_total", "Source fetches by outcome", ["status", "kind"])
FETCH_LATENCY = Histogram(
    "newsroom_fetch_seconds", "Source fetch latency", ["status"], buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
)
ENTRIES = Counter("newsroom_entries_total", "Entries ingested by outcome", ["outcome"])
# Gauges describe shared state (the database, the broker): whichever process
# looked last is right, so the multi-process value is the most recent one.
SCHEDULER_LAG = Gauge(
    "newsroom_scheduler_lag_seconds", "Age of the oldest overdue source", multiprocess_mode="mostrecent"
)
QUEUE_LENGTH = Gauge(
    "newsroom_queue_length", "Messages waiting per Celery queue", ["queue"], multiprocess_mode="mostrecent"
)
COUNTER_FLUSH_LAG = Gauge(
    "newsroom_counter_flush_lag_seconds", "Seconds since counters were last flushed", multiprocess_mode="mostrecent"
)
REQUEST_LATENCY = Histogram(
    "newsroom_request_seconds",
    "Request latency by view",
    ["view", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
RESPONSES = Counter("newsroom_responses_total", "Responses by view and status class", ["view", "status"])
# Anonymous requests for cacheable pages: served from the page cache (hit), rendered and
# stored (miss), or rendered without it (unavailable: Redis unreachable).
PAGE_CACHE = Counter("newsroom_page_cache_total",
                     "Cacheable page requests by page-cache outcome (hit, miss: kept, first: not kept, unavailable)",
                     ["outcome"])
