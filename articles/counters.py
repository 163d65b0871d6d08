"""Read counts and hot lists.

With Redis: a view lands as one SET NX (one read per visitor per article per
window) plus HINCRBY on a pending hash and ZINCRBY on hourly hot buckets; a
periodic task flushes the pending hash into PostgreSQL. Pages show the stored
count plus what is pending, so counts move even on cached pages.
Without Redis (embedded SQLite default): the same rules on the database.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import uuid
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from articles.models import Article, Tag, TaggedArticle

log = logging.getLogger(__name__)

READ_WINDOW_SECONDS = 30 * 60
PENDING_KEY = "nr:reads:pending"
FLUSHING_KEY = "nr:reads:flushing"
LAST_FLUSH_KEY = "nr:reads:last_flush"
HOT_BUCKET_SECONDS = 3600
# A bookmark says more than a read: it weighs this many reads in the hot buckets.
BOOKMARK_WEIGHT = 3


@lru_cache(maxsize=1)
def redis_client():
    if not settings.REDIS_URL:
        return None
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


HOT_BUCKET_TTL = 8 * 86400 + HOT_BUCKET_SECONDS


def hot_key(ts: float) -> str:
    return f"nr:hot:{int(ts // HOT_BUCKET_SECONDS)}"


SEEN_PREFIX = "nr:seen:"  # nr:seen:<article id>:<visitor>, one per read window

# One read, counted in Redis: the visitor's SET NX for the window, then the pending
# count and the hot bucket. Shared by record_read and the page cache's lookup script.
COUNT_READ_LUA = f"""
local function count_read(article_id, visitor, hot_key, window, hot_ttl)
  if redis.call('SET', '{SEEN_PREFIX}' .. article_id .. ':' .. visitor, 1, 'NX', 'EX', window) then
    redis.call('HINCRBY', '{PENDING_KEY}', article_id, 1)
    redis.call('ZINCRBY', hot_key, 1, article_id)
    redis.call('EXPIRE', hot_key, hot_ttl)
    return 1
  end
  return 0
end
"""
_RECORD_READ_LUA = COUNT_READ_LUA + "return count_read(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])"

# A read COUNT_READ_LUA counted, taken back (the page that counted it did not show the article).
# ARGV: article id, visitor, hot bucket key. Should a counter flush fall in between, the read
# already went to the database, where an UPDATE of an article that does not exist changes nothing.
_UNCOUNT_READ_LUA = f"""
if redis.call('DEL', '{SEEN_PREFIX}' .. ARGV[1] .. ':' .. ARGV[2]) == 1 then
  if redis.call('HINCRBY', '{PENDING_KEY}', ARGV[1], -1) <= 0 then redis.call('HDEL', '{PENDING_KEY}', ARGV[1]) end
  if tonumber(redis.call('ZINCRBY', ARGV[3], -1, ARGV[1])) <= 0 then redis.call('ZREM', ARGV[3], ARGV[1]) end
end
return 0
"""

# The reads of these articles still in Redis (pending, or being flushed) as "id:n,…", only
# those with any: what a page adds to the stored counts it was rendered with. Shared by
# the page cache's scripts (articles.pagecache), read back with parse_moved_reads.
PENDING_READS_LUA = """
local function pending_reads(ids, pending_key, flushing_key)
  if #ids == 0 then return '' end
  local pending = redis.call('HMGET', pending_key, unpack(ids))
  local flushing = redis.call('HMGET', flushing_key, unpack(ids))
  local moved = {}
  for i, id in ipairs(ids) do
    local n = (tonumber(pending[i]) or 0) + (tonumber(flushing[i]) or 0)
    if n > 0 then moved[#moved + 1] = id .. ':' .. n end
  end
  return table.concat(moved, ',')
end
"""


def parse_moved_reads(moved: bytes) -> dict[int, int]:
    return {int(aid): int(n) for aid, _, n in (pair.partition(b":") for pair in moved.split(b",") if pair)}


class _Script:
    """A Lua script run by EVALSHA on this thread's own connection to Redis, called as
    redis-py's Script is (``keys=``, ``args=``). Every page the cache serves makes one
    such call (two on a miss that keeps the page): the client's pool, retry and script
    layers cost about 30 µs of CPU a call, as much as the round trip itself. Loaded
    again if Redis forgot it (a restart); on a broken connection (Redis restarted),
    reconnects and tries once more, then raises as the client would."""

    def __init__(self, client, source: str):
        self.client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode("utf-8")).hexdigest()

    def __call__(self, keys=(), args=()):
        from redis.exceptions import ConnectionError, NoScriptError, TimeoutError

        conn = _own_connection(self.client)
        loaded = reconnected = False
        while True:
            try:
                conn.send_command("EVALSHA", self.sha, len(keys), *keys, *args)
                return conn.read_response()
            except NoScriptError:
                if loaded:
                    raise
                conn.send_command("SCRIPT", "LOAD", self.source)
                conn.read_response()
                loaded = True
            except (ConnectionError, TimeoutError, OSError):
                conn.disconnect()  # the next send connects again
                if reconnected:
                    raise
                reconnected = True


_own = threading.local()


def _own_connection(client):
    """This thread's connection, outside the client's pool (one per thread and process:
    a worker forked from a process that had one opens its own)."""
    conn = getattr(_own, "conn", None)
    if conn is None or _own.pid != os.getpid() or _own.client is not client:
        pool = client.connection_pool
        conn = pool.connection_class(**pool.connection_kwargs)
        _own.conn, _own.pid, _own.client = conn, os.getpid(), client
    return conn


@lru_cache(maxsize=None)
def lua_script(source: str) -> _Script:
    """A Lua script on this process's Redis client, run by EVALSHA (loaded again if
    Redis restarted and forgot it)."""
    return _Script(redis_client(), source)


def uncount_read(article_id: int | str, visitor: str, hot_bucket: str) -> None:
    """Take back a read counted in Redis by COUNT_READ_LUA (``hot_bucket``: the hot key it went to)."""
    lua_script(_UNCOUNT_READ_LUA)(args=[article_id, visitor, hot_bucket])


PENDING = "pending"  # counted in Redis: pages add it to the stored count until the flush
STORED = "stored"  # written straight to the database (no Redis, or Redis down)


def record_read(article_id: int, visitor: str) -> str:
    """Count one read unless this visitor read this article within the window (one
    round trip). Returns where it was counted, PENDING or STORED, or "" if not counted."""
    if redis_client() is not None:
        try:
            args = [article_id, visitor, hot_key(time.time()), READ_WINDOW_SECONDS, HOT_BUCKET_TTL]
            return PENDING if lua_script(_RECORD_READ_LUA)(args=args) else ""
        except Exception:  # Redis down: fall through to the database, a read is never an error page
            log.warning("redis unavailable for read counter; writing to the database")
    # False: seen within the window. None: the cache is unreachable too (django-redis ignores
    # the error): then the read is counted rather than lost, without the once-per-window rule.
    if cache.add(f"seen:{article_id}:{visitor}", 1, timeout=READ_WINDOW_SECONDS) is False:
        return ""
    _apply_reads({article_id: 1})
    return STORED


def record_bookmark(article_id: int, delta: int) -> None:
    """A bookmark added (+1) or removed (-1) moves the article in the hot lists.
    The stored Article.bookmark_count is written by the bookmark service itself."""
    client = redis_client()
    if client is None:
        return  # the database fallback ranks by the stored bookmark_count
    try:
        key = hot_key(time.time())
        pipe = client.pipeline()
        pipe.zincrby(key, delta * BOOKMARK_WEIGHT, str(article_id))
        pipe.expire(key, HOT_BUCKET_TTL)
        pipe.execute()
    except Exception:
        log.warning("redis unavailable for hot list; bookmark not weighed")


def pending_reads(article_ids: list[int]) -> dict[int, int]:
    client = redis_client()
    if client is None or not article_ids:
        return {}
    try:
        keys = [str(a) for a in article_ids]
        pipe = client.pipeline(transaction=False)
        pipe.hmget(PENDING_KEY, keys)
        pipe.hmget(FLUSHING_KEY, keys)
        values, flushing = pipe.execute()
    except Exception:
        return {}
    out = {}
    for aid, v, f in zip(article_ids, values, flushing):
        n = int(v or 0) + int(f or 0)
        if n:
            out[aid] = n
    return out


def _apply_reads(counts: dict[int, int]) -> None:
    with transaction.atomic():
        for aid, n in counts.items():
            Article.objects.filter(pk=aid).update(read_count=F("read_count") + n)
        tag_views: dict[int, int] = {}
        for aid, tag_id in TaggedArticle.objects.filter(content_object_id__in=list(counts)).values_list(
            "content_object_id", "tag_id"
        ):
            tag_views[tag_id] = tag_views.get(tag_id, 0) + counts[aid]
        for tag_id, n in tag_views.items():
            Tag.objects.filter(pk=tag_id).update(views_count=F("views_count") + n)


FLUSH_TOKEN_KEY = "nr:reads:flush_token"
EPOCH_KEY = "nr:reads:epoch"


def flush_reads() -> int:
    """Move pending reads from Redis to the database, exactly once.

    PENDING is renamed to FLUSHING with a fresh token; the database update and
    a CounterFlush row with that token commit together; only then is FLUSHING
    deleted. A flush killed anywhere is finished by the next one, and the token
    makes a re-run after the commit a no-op instead of a double count."""
    from articles.models import CounterFlush

    client = redis_client()
    if client is None:
        return 0
    if not client.exists(FLUSHING_KEY):
        if not client.exists(PENDING_KEY):
            client.set(LAST_FLUSH_KEY, time.time())
            return 0
        pipe = client.pipeline(transaction=True)
        pipe.rename(PENDING_KEY, FLUSHING_KEY)
        pipe.set(FLUSH_TOKEN_KEY, uuid.uuid4().hex)
        pipe.execute()
    token = (client.get(FLUSH_TOKEN_KEY) or b"").decode() or uuid.uuid4().hex
    raw = client.hgetall(FLUSHING_KEY)
    counts = {int(k): int(v) for k, v in raw.items() if int(v) > 0}
    applied = 0
    with transaction.atomic():
        if not CounterFlush.objects.filter(token=token).exists():
            if counts:
                _apply_reads(counts)
            CounterFlush.objects.create(token=token, reads=sum(counts.values()))
            applied = sum(counts.values())
        CounterFlush.objects.filter(created_at__lt=timezone.now() - timedelta(days=7)).delete()
    pipe = client.pipeline(transaction=True)
    pipe.delete(FLUSHING_KEY, FLUSH_TOKEN_KEY)
    pipe.incr(EPOCH_KEY)  # cached pages rendered before this flush carry old stored counts
    pipe.set(LAST_FLUSH_KEY, time.time())
    pipe.execute()
    return applied


def flush_epoch() -> int:
    client = redis_client()
    if client is None:
        return 0
    try:
        return int(client.get(EPOCH_KEY) or 0)
    except Exception:
        return -1


def last_flush_age() -> float | None:
    client = redis_client()
    if client is None:
        return None
    try:
        value = client.get(LAST_FLUSH_KEY)
    except Exception:
        return None
    return time.time() - float(value) if value else None


def hot_article_ids(hours: int, limit: int = 10) -> list[int]:
    """Hottest articles in the last `hours` by reads (Redis buckets), else by stored counts."""
    client = redis_client()
    if client is not None:
        try:
            now = time.time()
            keys = [hot_key(now - i * HOT_BUCKET_SECONDS) for i in range(hours)]
            dest = f"nr:hotunion:{hours}:{int(now // 60)}"
            if not client.exists(dest):
                client.zunionstore(dest, keys)
                client.expire(dest, 60)
            # Only positive scores: a bookmark added then removed nets zero.
            ids = [int(x) for x in client.zrevrangebyscore(dest, "+inf", "(0", start=0, num=limit * 3)]
            if ids:
                return ids
        except Exception:
            log.warning("redis unavailable for hot list")
    since = timezone.now() - timedelta(hours=hours)
    return list(
        Article.objects.published()
        .filter(published_at__gte=since)
        .order_by("-read_count", "-bookmark_count", "-published_at")
        .values_list("id", flat=True)[:limit]
    )
