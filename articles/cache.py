"""Page-cache generations: a stored article, tag or count change bumps the
generation, which is part of every cached fragment's key (old entries expire)."""
from __future__ import annotations

from django.core.cache import cache

_KEY = "newsroom:generation"


def generation() -> int:
    value = cache.get(_KEY)
    if value is None:
        cache.add(_KEY, 1, timeout=None)
        value = cache.get(_KEY) or 1
    return int(value)


def bump_generation() -> None:
    try:
        cache.incr(_KEY)
    except ValueError:
        cache.set(_KEY, 2, timeout=None)
