"""Page-cache generations: a stored article, tag or count change bumps the
generation, which is part of every cached page's key (old entries expire).

With Redis the generation is a plain Redis integer (`articles.pagecache` reads
it inside its lookup script); without Redis nothing is cached and the value
lives in the Django cache only so callers need not care.
"""
from __future__ import annotations

from django.core.cache import cache

from articles import counters

GENERATION_KEY = "nr:generation"


def generation() -> int:
    client = counters.redis_client()
    if client is not None:
        try:
            return int(client.get(GENERATION_KEY) or 1)
        except Exception:
            return 0
    return int(cache.get(GENERATION_KEY) or 1)


def bump_generation() -> None:
    client = counters.redis_client()
    if client is not None:
        try:
            # INCR of a missing key gives 1, the value a missing key reads as: start from 2.
            if client.incr(GENERATION_KEY) == 1:
                client.incr(GENERATION_KEY)
        except Exception:
            pass  # Redis down: nothing is being cached either
        return
    try:
        cache.incr(GENERATION_KEY)
    except ValueError:
        cache.set(GENERATION_KEY, 2, timeout=None)
