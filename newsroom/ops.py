"""/healthz (readiness: database, broker, cache; ?live=1 for liveness) and /metrics.

Readiness never hangs: each dependency is probed with its own short
connect/read timeouts, all probes run at once, and whatever has not answered
after HEALTHZ_TIMEOUT seconds counts as down (503), so a load balancer takes
the instance out quickly when PostgreSQL or Redis is gone or stuck.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.urls import path
from django.views.decorators.cache import never_cache

from newsroom import metrics

HEALTHZ_TIMEOUT = 2.5  # seconds for the whole readiness answer
PROBE_TIMEOUT = 2  # connect / statement timeout of each probe
_probes = ThreadPoolExecutor(max_workers=8, thread_name_prefix="healthz")


def _check_db() -> str:
    try:
        if connection.vendor == "postgresql":
            # A fresh connection with its own timeouts: the probe measures whether a new
            # request could get a connection, and never leaves a broken one behind.
            import psycopg

            db = connection.settings_dict
            with psycopg.connect(
                dbname=db["NAME"], user=db.get("USER") or None, password=db.get("PASSWORD") or None,
                host=db.get("HOST") or None, port=db.get("PORT") or None,
                connect_timeout=PROBE_TIMEOUT, options=f"-c statement_timeout={PROBE_TIMEOUT * 1000}",
                autocommit=True,
            ) as conn:
                conn.execute("SELECT 1").fetchone()
            return "ok"
        from django.db import connections

        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        finally:
            connections.close_all()  # this probe thread's connection
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


def _check_broker() -> str:
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
        return "ok" if os.path.isdir(folder) and os.access(folder, os.W_OK) else "error: broker folder missing"
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


def _check_cache() -> str:
    try:
        key = f"healthz:probe:{os.getpid()}"
        cache.set(key, "1", 10)
        return "ok" if cache.get(key) == "1" else "error: cache did not keep a value"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


CHECKS = {"database": _check_db, "broker": _check_broker, "cache": _check_cache}


def readiness() -> dict[str, str]:
    deadline = time.monotonic() + HEALTHZ_TIMEOUT
    futures = {name: _probes.submit(check) for name, check in CHECKS.items()}
    results = {}
    for name, future in futures.items():
        try:
            results[name] = future.result(timeout=max(deadline - time.monotonic(), 0.01))
        except FutureTimeout:
            results[name] = "error: timeout"
        except Exception as exc:  # a probe must never turn into a 500
            results[name] = f"error: {type(exc).__name__}"
    return results


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    if request.GET.get("live"):
        return JsonResponse({"status": "ok", "time": time.time()})
    checks = readiness()
    ok = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if ok else "error", **checks}, status=200 if ok else 503)


def _client_ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    if _client_ip(request) not in settings.NEWSROOM_METRICS_ALLOWED:
        return HttpResponseForbidden("metrics are restricted")
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    _refresh_gauges()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import CollectorRegistry, multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def _refresh_gauges() -> None:
    """Gauges that describe shared state are read at scrape time."""
    from django.utils import timezone

    from articles.counters import last_flush_age, redis_client
    from feeds.models import Source

    try:
        now = timezone.now()
        oldest = Source.objects.due(now).order_by("next_fetch_at").values_list("next_fetch_at", flat=True).first()
        metrics.SCHEDULER_LAG.set((now - oldest).total_seconds() if oldest else 0)
    except Exception:
        pass
    age = last_flush_age()
    if age is not None:
        metrics.COUNTER_FLUSH_LAG.set(age)
    client = redis_client()
    if client is not None:
        for queue in ("fetch", "process", "maintenance"):
            try:
                metrics.QUEUE_LENGTH.labels(queue).set(client.llen(queue))
            except Exception:
                break


def bench_minimal(request: HttpRequest) -> HttpResponse:
    """The baseline page of `make bench`: the whole middleware stack, no queries, no template."""
    return HttpResponse("ok", content_type="text/plain; charset=utf-8")


def bench_urls() -> list:
    """/bench/minimal, only when settings.NEWSROOM_BENCH is on."""
    if not getattr(settings, "NEWSROOM_BENCH", False):
        return []
    return [path("bench/minimal", bench_minimal, name="bench_minimal")]
