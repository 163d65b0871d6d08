"""/healthz (readiness: database, broker, cache; ?live=1 for liveness) and /metrics."""
from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.views.decorators.cache import never_cache

from newsroom import metrics


def _check_db() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


def _check_broker() -> str:
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
        import os

        return "ok" if os.path.isdir(folder) and os.access(folder, os.W_OK) else "error: broker folder missing"
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


def _check_cache() -> str:
    try:
        key = "healthz:probe"
        cache.set(key, "1", 10)
        return "ok" if cache.get(key) == "1" else "error: cache did not keep a value"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    if request.GET.get("live"):
        return JsonResponse({"status": "ok", "time": time.time()})
    checks = {"database": _check_db(), "broker": _check_broker(), "cache": _check_cache()}
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
    import os

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
