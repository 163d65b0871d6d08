"""A bounded per-process memo of a pure function, for the text pipeline's hottest lookups."""
from __future__ import annotations

from collections.abc import Callable


class Memo(dict):
    """``fn(key)`` for each key asked, kept: ``memo[key]`` answers a known key at the cost of a
    dict lookup (also through ``map(memo.__getitem__, keys)``, with no Python frame), where an
    ``lru_cache`` call costs two to three times that. Emptied when it reaches ``size`` keys, which
    bounds it as a cache's size would; what it answers never depends on what it holds. Safe to
    share between threads: a value lost to a clear is computed again."""

    def __init__(self, fn: Callable, size: int) -> None:
        super().__init__()
        self._fn = fn
        self._size = size

    def __missing__(self, key):
        return self.remember(key, self._fn(key))

    def remember(self, key, value):
        """Keep ``value`` as the answer for ``key`` (one computed elsewhere, e.g. in a batch)."""
        if len(self) >= self._size:
            self.clear()
        self[key] = value
        return value
