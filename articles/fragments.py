"""Fragments shared by many pages, rendered once and kept in the cache.

The 热点推荐 sidebar is the same on every article page and the home page: it
is rendered at most once a minute per content generation (a changed title
shows at once) and counter-flush epoch (its stored read counts are the epoch's), and its read counts are re-filled from Redis each
time it is used, as on cached pages (`articles.pagecache.refill_reads`).
"""
from __future__ import annotations

from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from articles import counters, selectors
from articles.cache import generation

HOT_SIDEBAR_SECONDS = 60


def hot_sidebar(limit: int = 8, request=None) -> SafeString:
    from articles.pagecache import refill_reads

    found = getattr(request, "page_cache_lookup", None) if request is not None else None
    if found is not None:
        gen, epoch = found.generation, found.epoch
    else:
        gen, epoch = generation(), counters.flush_epoch()
    key = f"frag:hot:{limit}:{gen}:{epoch}"
    html = None
    try:
        html = cache.get(key)
    except Exception:
        pass
    if html is None:
        html = render_to_string("includes/hot_list.html", {"hot": selectors.hot_articles(24, limit)})
        try:
            cache.set(key, html, HOT_SIDEBAR_SECONDS)
        except Exception:
            pass
        return mark_safe(html)
    return mark_safe(refill_reads(html.encode("utf-8")).decode("utf-8"))
