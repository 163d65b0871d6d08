"""Whole-page cache for anonymous readers, with live read counts.

A cached page is keyed by the content generation (bumped when an article, tag
or count a page shows changes) and the counter-flush epoch (bumped each time
read counts move from Redis to the database). Read counts are rendered as
`<span data-reads="ID" data-base="STORED">N</span>`; on a hit each one is
re-filled with stored + pending reads from Redis, so counts keep moving on
cached pages without re-rendering them. Only with Redis: the embedded
default (file cache, counts written straight to the database) does not cache.
"""
from __future__ import annotations

import hashlib
import re
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from articles import counters
from articles.cache import generation
from articles.text.formatting import zh_count

TTL_SECONDS = 300
_READS = re.compile(rb'data-reads="(\d+)" data-base="(\d+)">[^<]*<')


def enabled() -> bool:
    return bool(settings.REDIS_URL) and getattr(settings, "NEWSROOM_PAGE_CACHE", True)


def cacheable_request(request: HttpRequest) -> bool:
    """Anonymous GETs with nothing personal to show (no flash messages pending)."""
    if not enabled() or request.method != "GET":
        return False
    if "messages" in request.COOKIES:
        return False
    return not request.user.is_authenticated


def _key(request: HttpRequest) -> str:
    path = hashlib.sha1(request.get_full_path().encode("utf-8")).hexdigest()
    return f"page:{generation()}:{counters.flush_epoch()}:{path}"


def _refill_reads(content: bytes) -> bytes:
    ids = [int(m.group(1)) for m in _READS.finditer(content)]
    if not ids:
        return content
    pending = counters.pending_reads(list(dict.fromkeys(ids)))

    def fill(match: re.Match) -> bytes:
        aid, base = int(match.group(1)), int(match.group(2))
        total = zh_count(base + pending.get(aid, 0))
        return b'data-reads="%d" data-base="%d">%s<' % (aid, base, str(total).encode("utf-8"))

    return _READS.sub(fill, content)


def lookup(request: HttpRequest) -> tuple[bytes, str] | None:
    try:
        return cache.get(_key(request))
    except Exception:
        return None


def respond(entry: tuple[bytes, str]) -> HttpResponse:
    content, content_type = entry
    return HttpResponse(_refill_reads(content), content_type=content_type)


def cached_page(view):
    """Serve anonymous GETs of a list page from the page cache."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not cacheable_request(request):
            return view(request, *args, **kwargs)
        entry = lookup(request)
        if entry is not None:
            return respond(entry)
        return store(request, view(request, *args, **kwargs))

    return wrapper


def store(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Keep a rendered page unless it is personal (a CSRF token, cookies it set)."""
    if (
        response.status_code == 200
        and not response.streaming
        and not request.META.get("CSRF_COOKIE_NEEDS_UPDATE")
        and not response.cookies
    ):
        try:
            cache.set(_key(request), (response.content, response["Content-Type"]), TTL_SECONDS)
        except Exception:
            pass
    return response
