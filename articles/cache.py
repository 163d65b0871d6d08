"""Page-cache generations: what a cached page is keyed by, bumped when what it
shows changes, so that only the pages a change touches are rendered again.

* the site generation (``bump_generation``): anything a page anywhere may show
  (an editor's change in the admin) — every page goes;
* the lists generation (``bump_lists``): the list pages (home, hot, tags, a tag,
  a source) and the shared 热点推荐 fragment — new or changed articles, counts on
  cards, a tag's or source's follower count;
* an article's generation (``bump_articles``): that article's own page — its
  edit, a repost joining its story, its related posts, a comment or bookmark.

So an ingest that stores new articles re-renders the lists, not every article
page on the site. An article page still shows a few numbers kept elsewhere (a
tag's article and follower counts): those may lag by the page TTL
(``pagecache.TTL_SECONDS``).

With Redis each generation is a plain Redis integer (``articles.pagecache`` reads
them inside its lookup script; an article's expires a while after its last
bump, longer than any page lives, and then reads as 1 again). Without Redis no
page is cached: the site and lists generations live in the Django cache for
the shared fragments only, and article generations are not kept.
"""
from __future__ import annotations

from collections.abc import Iterable

from django.core.cache import cache

from articles import counters

GENERATION_KEY = "nr:generation"
LISTS_KEY = "nr:generation:lists"
ARTICLE_KEY_PREFIX = "nr:generation:a:"
ARTICLE_KEY_SECONDS = 24 * 3600  # far longer than a cached page lives (pagecache.TTL_SECONDS)

# INCR each key (a missing key reads as 1, so a first INCR that gives 1 goes on to 2);
# keys starting with ARGV[2] (article generations) expire ARGV[1] seconds after their last bump.
_BUMP = """
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('INCR', key) end
  if string.sub(key, 1, #ARGV[2]) == ARGV[2] then redis.call('EXPIRE', key, ARGV[1]) end
end
"""


def article_key(article_id: int | str) -> str:
    return f"{ARTICLE_KEY_PREFIX}{article_id}"


def generation() -> str:
    """The site and lists generations, as the page cache keys list pages and fragments."""
    client = counters.redis_client()
    if client is not None:
        try:
            site, lists = client.mget(GENERATION_KEY, LISTS_KEY)
            return f"{int(site or 1)}.{int(lists or 1)}"
        except Exception:
            return "0.0"
    kept = cache.get_many([GENERATION_KEY, LISTS_KEY])
    return f"{int(kept.get(GENERATION_KEY) or 1)}.{int(kept.get(LISTS_KEY) or 1)}"


def _bump(keys: list[str]) -> None:
    client = counters.redis_client()
    if client is not None:
        try:
            counters.lua_script(_BUMP)(keys=keys, args=[ARTICLE_KEY_SECONDS, ARTICLE_KEY_PREFIX])
        except Exception:
            pass  # Redis down: nothing is being cached either
        return
    for key in keys:
        if key.startswith(ARTICLE_KEY_PREFIX):
            continue  # no page cache without Redis: only the fragments' generations matter
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 2, timeout=None)


def bump_generation() -> None:
    """Every cached page and fragment goes."""
    _bump([GENERATION_KEY])


def bump_lists() -> None:
    """The list pages and the shared fragments go; article pages stay."""
    _bump([LISTS_KEY])


def bump_articles(article_ids: Iterable[int], *, lists: bool = False) -> None:
    """These articles' own pages go (and, with ``lists``, the list pages): one round trip."""
    keys = [article_key(pk) for pk in sorted(set(article_ids))]
    if lists:
        keys.insert(0, LISTS_KEY)
    if keys:
        _bump(keys)
