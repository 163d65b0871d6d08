from __future__ import annotations

import time
from typing import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.middleware.http import ConditionalGetMiddleware as DjangoConditionalGetMiddleware

from newsroom import metrics


class RequestMetricsMiddleware:
    """Request latency and status class by view name, for /metrics."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        start = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        # View names, never raw paths: label cardinality stays bounded.
        view = (match.view_name if match else getattr(response, "page_cache_view", "")) or "unmatched"
        metrics.REQUEST_LATENCY.labels(view=view, method=request.method).observe(time.perf_counter() - start)
        metrics.RESPONSES.labels(view=view, status=f"{response.status_code // 100}xx").inc()
        return response


class RejectNulMiddleware:
    """A NUL in the query string is a value no page takes, and PostgreSQL refuses it in text:
    wherever one reached a query (the admin's list filters, say) it was a 500. A 400 instead,
    before any view, cache or session is touched. (A raw NUL can't be in a request line: only
    the percent-encoded one, which has no letters to vary in case.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "%00" in request.META.get("QUERY_STRING", ""):
            return HttpResponseBadRequest("请求参数含有空字符（NUL）", content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class SecurityHeadersMiddleware:
    """CSP and friends. Images may come from anywhere (article bodies), scripts only from us."""

    CSP = (
        "default-src 'self'; img-src 'self' https: http: data:; script-src 'self'; "
        "style-src 'self' 'unsafe-inline'; frame-src https:; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'self'"
    )

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.CSP)
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        return response


class ConditionalGetMiddleware(DjangoConditionalGetMiddleware):
    """Django's ETags and 304s, except on the anonymous pages the page cache fills in
    (``response.page_cache_fills``): their read counts are filled in after this
    middleware and move all the time, and the cache's hits (served before it) carry
    no ETag either, so hashing such a page, twice when its counts moved, bought nothing.
    Feeds, sitemaps and signed-in readers' pages keep theirs."""

    def needs_etag(self, response: HttpResponse) -> bool:
        return not getattr(response, "page_cache_fills", False) and super().needs_etag(response)
