"""Fragments shared by many pages, rendered once and kept in the cache.

The 热点推荐 sidebar is the same on every article page and the home page: it
is rendered at most once a minute per content generation (a changed title
shows at once) and counter-flush epoch (its stored read counts are the epoch's),
with stored read counts, which are filled in each time it is used, as on cached
pages (`articles.pagecache`). With Redis it is a plain Redis string, so the page
cache's lookup script brings it along with a miss (`shown_on`); without Redis it
lives in the Django cache.
"""
from __future__ import annotations

import re

from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from articles import counters, selectors
from articles.cache import generation

HOT_SIDEBAR_SECONDS = 60
FRAGMENT_PREFIX = "nr:frag:"
# The fragment each cacheable page shape shows (templates call hot_sidebar(limit) for
# "hot:<limit>"). Only saves a round trip: a page asking for another one fetches it itself.
_SHOWN_ON = ((re.compile(r"^/articles/\d+/$"), "hot:8"), (re.compile(r"^/$"), "hot:10"))


def shown_on(path: str) -> str:
    """The shared fragment the page at ``path`` shows, "" if none."""
    for pattern, name in _SHOWN_ON:
        if pattern.match(path):
            return name
    return ""


def hot_sidebar(limit: int = 8, request=None) -> SafeString:
    from articles import pagecache

    name = f"hot:{limit}"
    found = getattr(request, "page_cache_lookup", None) if request is not None else None
    brought = found is not None and found.fragments.get(name) is not None
    if found is not None and name in found.fragments:
        html = found.fragments[name]  # brought by the page-cache lookup (None: not stored yet)
        if html is None:
            html = _render_and_keep(name, limit, found.generation, found.epoch)
    else:
        gen, epoch = (found.generation, found.epoch) if found is not None else (generation(), counters.flush_epoch())
        html = _kept(name, gen, epoch) or _render_and_keep(name, limit, gen, epoch)
    # The page cache fills in the counts after the view: on a page it keeps, every count on it;
    # on a first miss only those the lookup knew of, the fragment's among them if it brought it.
    if not pagecache.fills_reads(request) or (not found.keep and not brought):
        html = pagecache.refill_reads(html)
    return mark_safe(html.decode("utf-8"))


def _key(name: str, gen, epoch) -> str:
    return f"{FRAGMENT_PREFIX}{name}:{gen}:{epoch}"  # as the page cache's lookup script builds it


def _kept(name: str, gen, epoch) -> bytes | None:
    client = counters.redis_client()
    try:
        return client.get(_key(name, gen, epoch)) if client is not None else cache.get(_key(name, gen, epoch))
    except Exception:
        return None


def _render_and_keep(name: str, limit: int, gen, epoch) -> bytes:
    hot = selectors.hot_articles(24, limit, live=False)
    html = render_to_string("includes/hot_list.html", {"hot": hot}).encode("utf-8")
    client = counters.redis_client()
    try:
        if client is not None:
            client.set(_key(name, gen, epoch), html, ex=HOT_SIDEBAR_SECONDS)
        else:
            cache.set(_key(name, gen, epoch), html, HOT_SIDEBAR_SECONDS)
    except Exception:
        pass
    return html
