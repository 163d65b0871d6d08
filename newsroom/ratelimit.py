"""A tiny sliding-window rate limit on django.core.cache (Redis in production).

    @ratelimit("comment", limit=5, window_seconds=60)
    def comment_post(request, pk): ...

Keyed by user id when logged in, else by client IP (REMOTE_ADDR: a proxy in
front must set it, e.g. gunicorn --forwarded-allow-ips). Only the listed
methods count (POST by default), so showing a login form costs nothing.
Over the limit: 429 with a Chinese message (JSON for fetch() callers) and a
Retry-After header. A cache outage never blocks anyone.

Attempts are counted per fixed window, and the previous window's count weighs
in by the share of it still inside the last ``window_seconds`` (the usual
sliding-window estimate): a burst that straddles a window boundary is limited
like any other, not granted twice the limit.
"""
from __future__ import annotations

import time
from functools import wraps

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

MESSAGE = "操作太频繁，请稍后再试。"


def _who(request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"u{user.pk}"
    return "ip" + (request.META.get("REMOTE_ADDR") or "unknown")


def hit(key_prefix: str, request: HttpRequest, limit: int, window_seconds: int) -> tuple[bool, int]:
    """Count one attempt; (allowed, seconds until the window resets)."""
    now = time.time()
    window = int(now // window_seconds)
    prefix = f"rl:{key_prefix}:{_who(request)}:"
    key = f"{prefix}{window}"
    retry_after = int((window + 1) * window_seconds - now) + 1
    timeout = 2 * window_seconds + 1  # the next window still weighs this one
    try:
        cache.add(key, 0, timeout=timeout)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr: a fresh window
            cache.set(key, 1, timeout=timeout)
            count = 1
        previous = cache.get(f"{prefix}{window - 1}") or 0
    except Exception:
        return True, 0
    overlap = 1.0 - (now / window_seconds - window)  # share of the previous window still inside the last window_seconds
    return (count or 0) + previous * overlap <= limit, retry_after


def too_many(request: HttpRequest, retry_after: int) -> HttpResponse:
    if "application/json" in request.headers.get("Accept", ""):
        response: HttpResponse = JsonResponse({"error": MESSAGE}, status=429)
    else:
        html = render_to_string("429.html", {"message": MESSAGE, "retry_after": retry_after}, request=request)
        response = HttpResponse(html, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def ratelimit(key_prefix: str, limit: int, window_seconds: int, methods: tuple[str, ...] = ("POST",)):
    """Decorator for function views (and ``as_view()`` callables)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs):
            if request.method in methods:
                allowed, retry_after = hit(key_prefix, request, limit, window_seconds)
                if not allowed:
                    return too_many(request, retry_after)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
