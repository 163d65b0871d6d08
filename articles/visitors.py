"""Who is reading: for one read per visitor per window (articles.counters) and the
page cache, which counts a cached page's read before any view runs."""
from __future__ import annotations

import secrets
import time
from functools import lru_cache

from django.http import HttpRequest, HttpResponse
from django.utils.http import http_date

VISITOR_COOKIE = "nr_vid"


def visitor_for(request: HttpRequest) -> tuple[str, str | None]:
    """Who is reading, for one-read-per-window: the user, else a first-party
    visitor cookie (no session row per anonymous reader). Returns the id and
    a new cookie value to set, if any (the same answer for the whole request)."""
    known = getattr(request, "_nr_visitor", None)
    if known is not None:
        return known
    vid = request.COOKIES.get(VISITOR_COOKIE, "")
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        known = (f"u{user.pk}", None)
    elif len(vid) == 22 and vid.replace("-", "").replace("_", "").isalnum():
        known = (f"v{vid}", None)
    else:
        vid = secrets.token_urlsafe(16)
        known = (f"v{vid}", vid)
    request._nr_visitor = known
    return known


VISITOR_MAX_AGE = 365 * 86400


@lru_cache(maxsize=2)
def _expires(second: int) -> str:
    # The cookie date Django would format on every set_cookie: once per second instead.
    return http_date(second + VISITOR_MAX_AGE)


def with_visitor_cookie(request: HttpRequest, response: HttpResponse, new_cookie: str | None) -> HttpResponse:
    if new_cookie and VISITOR_COOKIE not in response.cookies:
        response.set_cookie(VISITOR_COOKIE, new_cookie, max_age=VISITOR_MAX_AGE, expires=_expires(int(time.time())),
                            httponly=True, samesite="Lax", secure=request.is_secure())
    return response
