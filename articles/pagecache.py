"""Whole-page cache for anonymous readers, with live read counts.

A cached page is keyed by its content generations (``articles.cache``: the
site's, and the lists' for a list page or the article's own for an article
page — so new articles re-render the lists, not every article page) and the
counter-flush epoch (bumped each time read counts move from Redis to the
database). Read counts are rendered as
`<span data-reads="ID" data-base="STORED">N</span>`; on a hit each one is
re-filled with stored + pending reads from Redis, so counts keep moving on
cached pages without re-rendering them.

A hit is one Redis round trip: a Lua script reads the generation and epoch,
the page, counts the reader's read of the article the page shows (one per
visitor per window, the same rule as `counters.record_read`) and returns the
pending counts of every article on the page. `PageCacheMiddleware` serves hits
before the session, auth, CSRF and message middleware run: a cached page is
the same for every anonymous reader, so none of them has anything to add.
Requests with a session or pending flash messages never touch the cache.

A page is kept from its second miss within ``ASKED_SECONDS``: one asked for
less often than that would expire before anyone read it again (a crawler's
sweep of the archive, the long tail of old articles), so keeping it would only
cost a round trip and Redis memory. The lookup remembers each missed path (a
small marker) to tell the two apart.

A first miss is one round trip: the lookup also counts the reader's read of
the article the path names, brings the shared fragment the page shows (the
热点推荐 sidebar, `articles.fragments`) and returns the pending reads of that
article and of the fragment's articles, filled in after the view renders with
stored counts (`fills_reads`); other articles on the page (related posts, list
cards) show their stored counts, at most one counter flush (a minute) behind.
If the view does not answer 200 (no such article), the read is taken back.

A miss that keeps the page is two: the lookup (with the fragment), the view,
then one more script counts the reader's read, stores the page and returns
the pending counts of every article on it, filled in as on a hit.

Only with Redis: the embedded default (file cache, counts written straight to
the database) does not cache pages.
"""
from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass, field
from functools import wraps
from typing import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers

from articles import counters, fragments
from articles.cache import GENERATION_KEY, LISTS_KEY, article_key
from articles.templating import zh_count
from articles.visitors import VISITOR_COOKIE, visitor_for, with_visitor_cookie
from newsroom import metrics
from newsroom.converters import row_id

log = logging.getLogger(__name__)

TTL_SECONDS = 300
PAGE_PREFIX = "nr:page:"
# A miss keeps the page when its path was missed before within this time (a marker
# per path, "nr:asked:<path hash>"): longer than the page's life, so a page read all
# the time is kept again as soon as it expires.
ASKED_SECONDS = 2 * TTL_SECONDS
ASKED_PREFIX = "nr:asked:"
# The page shapes that may be cached (anonymous GETs); anything else never costs a lookup.
CACHEABLE_PATH = re.compile(r"^/(?:|hot/|tags/|tags/[^/]+/|sources/[^/]+/|articles/\d+/)$")
_ARTICLE_PATH = re.compile(r"^/articles/(\d+)/$")
_READS = re.compile(rb'data-reads="(\d+)" data-base="(\d+)">([^<]*)<')
# Response headers a cached page keeps (security headers are added again on every hit).
_KEPT_HEADERS = ("Content-Type", "Content-Language", "Vary")

# KEYS: site generation, flush epoch, pending reads, flushing reads, lists generation, the
#       page's own generation (the lists' again for a list page, the article's for its page).
# ARGV: path hash, visitor ("" = count nothing), hot bucket key, read window s, hot bucket ttl s,
#       shared fragment to bring on a miss ("" = none), the article the path names ("" = none),
#       asked-marker ttl s.
# Returns {generation, epoch, page generation, entry, "id:reads,…"} on a hit (the reads still
# pending in Redis for the articles on the page); on a miss {generation, epoch, page generation,
# false, fragment or false, kept}, where kept = 1 if the path was missed before (the page is to
# be stored: FINISH), else "id:reads,…" of the named article and the fragment's articles, and
# whether this reader's read of the named article was counted (1/0). The generation
# (site.lists) keys the fragments.
_LOOKUP = counters.COUNT_READ_LUA + counters.PENDING_READS_LUA + """
local site = redis.call('GET', KEYS[1]) or '1'
local gen = site .. '.' .. (redis.call('GET', KEYS[5]) or '1')
local page_gen = gen
if KEYS[6] ~= KEYS[5] then page_gen = site .. '.a' .. (redis.call('GET', KEYS[6]) or '1') end
local epoch = redis.call('GET', KEYS[2]) or '0'
local entry = redis.call('GET', 'nr:page:' .. page_gen .. ':' .. epoch .. ':' .. ARGV[1])
if not entry then
  local fragment = false
  if ARGV[6] ~= '' then
    fragment = redis.call('GET', '""" + fragments.FRAGMENT_PREFIX + """' .. ARGV[6] .. ':' .. gen .. ':' .. epoch)
  end
  local asked = '""" + ASKED_PREFIX + """' .. ARGV[1]
  if redis.call('SET', asked, 1, 'EX', ARGV[8], 'GET') then return {gen, epoch, page_gen, false, fragment, 1} end
  local counted = 0
  local ids = {}
  if ARGV[7] ~= '' then
    ids[1] = ARGV[7]
    if ARGV[2] ~= '' then counted = count_read(ARGV[7], ARGV[2], ARGV[3], ARGV[4], ARGV[5]) end
  end
  if fragment then
    for id in string.gmatch(fragment, 'data%-reads="(%d+)"') do ids[#ids + 1] = id end
  end
  return {gen, epoch, page_gen, false, fragment, pending_reads(ids, KEYS[3], KEYS[4]), counted}
end
local head = string.sub(entry, 1, (string.find(entry, '\\n', 1, true) or 1) - 1)
local read_id = string.match(head, '^(%d*)|')
if read_id and read_id ~= '' and ARGV[2] ~= '' then
  count_read(read_id, ARGV[2], ARGV[3], ARGV[4], ARGV[5])
end
local ids = {}
local list = string.match(head, '^%d*|([%d,]*)|') or ''
for id in string.gmatch(list, '%d+') do ids[#ids + 1] = id end
return {gen, epoch, page_gen, entry, pending_reads(ids, KEYS[3], KEYS[4])}
"""

# After a miss: count the read, store the page, and the pending reads of the articles on it.
# KEYS: pending reads, flushing reads, page key.
# ARGV: read id ("" = none), visitor, hot bucket key, read window s, hot bucket ttl s,
#       entry ("" = do not store), page ttl s, then the ids of the articles on the page.
# (The page first: a script that fails half-way has counted nothing, so the read can go to the database.)
_FINISH = counters.COUNT_READ_LUA + counters.PENDING_READS_LUA + """
if ARGV[6] ~= '' then redis.call('SET', KEYS[3], ARGV[6], 'EX', ARGV[7]) end
if ARGV[1] ~= '' then count_read(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]) end
return pending_reads({unpack(ARGV, 8)}, KEYS[1], KEYS[2])
"""


def enabled() -> bool:
    return bool(settings.REDIS_URL) and getattr(settings, "NEWSROOM_PAGE_CACHE", True)


@dataclass
class Lookup:
    """What one cache lookup learned: the keys a miss stores under (and the shared
    fragment it brought, by name: None if not stored yet), or the hit itself."""

    generation: str  # site.lists: the shared fragments' (and list pages')
    epoch: str
    path_hash: str
    page_generation: str = ""  # the page's own: site.lists, or site.a<article's> for an article page
    response: HttpResponse | None = None
    fragments: dict[str, bytes | None] = field(default_factory=dict)
    # A miss: whether the page is to be kept (its path was missed before, FINISH stores it);
    # else the reads pending for the named article and the fragment's (filled in after the
    # view) and the read the lookup counted (article id, hot bucket key), if any.
    keep: bool = True
    moved: dict[int, int] = field(default_factory=dict)
    counted: tuple[str, str] | None = None

    @property
    def key(self) -> str:
        return f"{PAGE_PREFIX}{self.page_generation or self.generation}:{self.epoch}:{self.path_hash}"


def path_hash(full_path: str) -> str:
    """What the cache keys a page by (and marks a missed path with): its full path, query included."""
    return hashlib.sha1(full_path.encode("utf-8")).hexdigest()


def lookup(request: HttpRequest, visitor: str = "") -> Lookup | None:
    """One round trip; None when Redis is unreachable (the page is rendered uncached)."""
    hashed = path_hash(request.get_full_path())
    fragment = fragments.shown_on(request.path_info)
    article = _ARTICLE_PATH.match(request.path_info)
    # The id as the view reads it (/articles/007/ is article 7; none past bigint: a 404).
    number = row_id(article.group(1)) if article else None
    article_id = str(number) if number is not None else ""
    bucket = counters.hot_key(time.time())
    try:
        reply = counters.lua_script(_LOOKUP)(
            keys=[GENERATION_KEY, counters.EPOCH_KEY, counters.PENDING_KEY, counters.FLUSHING_KEY, LISTS_KEY,
                  article_key(article_id) if article_id else LISTS_KEY],
            args=[hashed, visitor, bucket, counters.READ_WINDOW_SECONDS, counters.HOT_BUCKET_TTL, fragment,
                  article_id, ASKED_SECONDS],
        )
    except Exception:
        return None
    found = Lookup(generation=reply[0].decode(), epoch=reply[1].decode(), path_hash=hashed,
                   page_generation=reply[2].decode())
    if reply[3] is not None:
        found.response = _respond(reply[3], reply[4])
        return found
    if fragment:
        found.fragments[fragment] = reply[4]
    if len(reply) > 6:  # the first miss of this path: not kept
        found.keep = False
        found.moved = counters.parse_moved_reads(reply[5])
        if reply[6]:
            found.counted = (article_id, bucket)
    return found


def fills_reads(request: HttpRequest | None) -> bool:
    """Whether PageCacheMiddleware fills in this page's read counts after the view
    (``finish``, or ``settle_first_miss`` with the counts its lookup brought): the view
    then renders stored counts and asks Redis for nothing."""
    return (request is not None and getattr(request, "page_cache_lookup", None) is not None
            and getattr(request, "page_cache", None) is not None)


def _fill(content: bytes, extra: dict[int, int]) -> bytes:
    """Add ``extra`` (reads still in Redis, by article) to the read counts a page
    or fragment was rendered with: pages are kept with their stored counts, so
    only the articles with reads pending change. This runs on every hit: for one
    or two articles a search in C for each, else one pass over the counts."""
    if len(extra) > 2:
        return _fill_pass(content, extra)
    for aid, n in extra.items():
        marker = b'data-reads="%d" data-base="' % aid
        at = content.find(marker) if n else -1
        if at < 0:
            continue
        pieces, last = [], 0
        while at >= 0:
            digits = at + len(marker)
            opened = content.find(b'">', digits)
            closed = content.find(b"<", opened)
            if opened < 0 or closed < 0 or not content[digits:opened].isdigit():
                break
            pieces += [content[last : opened + 2], str(zh_count(int(content[digits:opened]) + n)).encode("utf-8")]
            last = closed
            at = content.find(marker, closed)
        pieces.append(content[last:])
        content = b"".join(pieces)
    return content


def _fill_pass(content: bytes, extra: dict[int, int]) -> bytes:
    pieces, last = [], 0
    for m in _READS.finditer(content):
        n = extra.get(int(m.group(1)))
        if n:
            pieces += [content[last : m.start(3)], str(zh_count(int(m.group(2)) + n)).encode("utf-8")]
            last = m.end(3)
    if not pieces:
        return content
    pieces.append(content[last:])
    return b"".join(pieces)


def _ids(content: bytes) -> list[bytes]:
    return list(dict.fromkeys(m.group(1) for m in _READS.finditer(content)))


def refill_reads(content: bytes) -> bytes:
    """Read counts of a stored fragment brought up to date (stored + pending in Redis)."""
    ids = [int(aid) for aid in _ids(content)]
    return _fill(content, counters.pending_reads(ids)) if ids else content


def _respond(entry: bytes, moved: bytes) -> HttpResponse:
    head, _, content = entry.partition(b"\n")
    _read_id, id_list, view, *headers = head.decode("utf-8").split("|")
    extra = counters.parse_moved_reads(moved)
    # No reads pending for any article on the page: its counts are still the ones it was stored with.
    response = HttpResponse(_fill(content, extra) if extra else content)
    for name, value in zip(_KEPT_HEADERS, headers):
        if value:
            response[name] = value
    response.page_cache_view = view
    return response


def _storable(request: HttpRequest, response: HttpResponse) -> bool:
    """Not personal: no CSRF token, no cookies set besides the anonymous visitor id."""
    return (
        response.status_code == 200
        and not request.META.get("CSRF_COOKIE_NEEDS_UPDATE")
        and all(name == VISITOR_COOKIE for name in response.cookies)
    )


def finish(request: HttpRequest, response: HttpResponse, found: Lookup, visitor: str, *,
           read_id: int | None = None, view: str = "") -> None:
    """After a miss, one round trip: count the reader's read of ``read_id`` (the
    article a hit counts a read for), keep the page unless it is personal, and
    fill in the read counts the view rendered at their stored values."""
    if response.streaming:
        return
    content = response.content
    ids = _ids(content)
    entry = b""
    if _storable(request, response):
        headers = [str(response.get(name, "")).replace("|", "").replace("\n", "") for name in _KEPT_HEADERS]
        head = "|".join([str(read_id or ""), b",".join(ids).decode(), view, *headers])
        entry = head.encode("utf-8") + b"\n" + content
    if not (read_id or entry or ids):
        return
    try:
        moved = counters.lua_script(_FINISH)(
            keys=[counters.PENDING_KEY, counters.FLUSHING_KEY, found.key],
            args=[read_id or "", visitor, counters.hot_key(time.time()), counters.READ_WINDOW_SECONDS,
                  counters.HOT_BUCKET_TTL, entry, TTL_SECONDS, *ids],
        )
        extra = counters.parse_moved_reads(moved)
    except Exception:  # the script failed (Redis went away since the lookup): nothing is kept
        # The read first (to the database if Redis is gone), then the counts, this read among them.
        stored = bool(read_id) and counters.record_read(read_id, visitor) == counters.STORED
        extra = counters.pending_reads([int(aid) for aid in ids])
        if stored:
            extra[read_id] = extra.get(read_id, 0) + 1
    _fill_response(response, content, extra)


def settle_first_miss(response: HttpResponse, found: Lookup, visitor: str, *, shown: bool) -> None:
    """After a first miss (not kept), no round trip: fill in the counts the lookup
    brought; or, if no page was shown (no such article), take back the read it counted."""
    if not shown:
        if found.counted is not None:
            article_id, bucket = found.counted
            try:
                counters.uncount_read(article_id, visitor, bucket)
            except Exception:
                log.warning("redis unavailable: a read of article %s not shown was left counted", article_id)
        return
    if found.moved and not response.streaming:
        _fill_response(response, response.content, found.moved)


def _fill_response(response: HttpResponse, content: bytes, extra: dict[int, int]) -> None:
    # No ETag to redo: these pages carry none (cached_page, newsroom.middleware.ConditionalGetMiddleware).
    if extra:
        response.content = _fill(content, extra)
        if response.has_header("Content-Length"):
            response["Content-Length"] = str(len(response.content))


def cacheable_request(request: HttpRequest) -> bool:
    """Anonymous GETs of a cacheable page shape with nothing personal to show: no
    session (a signed-in reader, a form in progress) and no flash messages pending."""
    if not enabled() or request.method != "GET":
        return False
    cookies = request.COOKIES
    if settings.SESSION_COOKIE_NAME in cookies or "messages" in cookies:
        return False
    return bool(CACHEABLE_PATH.match(request.path_info))


class PageCacheMiddleware:
    """Serves cached pages to anonymous readers before the per-user middleware
    runs, and stores what the views below render for them. A view takes part by
    being wrapped in ``cached_page`` (which sets ``request.page_cache``, a dict where
    the article view puts the ``read_id`` a hit counts a read for); it then leaves
    read counts to the middleware (``fills_reads``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not cacheable_request(request):
            return self.get_response(request)
        visitor, new_cookie = visitor_for(request)
        found = lookup(request, visitor)
        if found is not None and found.response is not None:
            metrics.PAGE_CACHE.labels("hit").inc()
            return with_visitor_cookie(request, found.response, new_cookie)  # stored with its Vary: Cookie
        metrics.PAGE_CACHE.labels("unavailable" if found is None else "miss" if found.keep else "first").inc()
        request.page_cache_lookup = found
        response = self.get_response(request)
        patch_vary_headers(response, ("Cookie",))  # signed-in readers get their own page
        if found is not None and not found.keep:
            settle_first_miss(response, found, visitor, shown=fills_reads(request) and response.status_code == 200)
        elif fills_reads(request):
            match = getattr(request, "resolver_match", None)
            finish(request, response, found, visitor, read_id=request.page_cache.get("read_id"),
                   view=match.view_name if match else "")
        return response


def cached_page(view):
    """Mark a view's anonymous pages as cacheable (PageCacheMiddleware serves and stores them)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        request.page_cache = {}
        response = view(request, *args, **kwargs)
        if fills_reads(request):
            response.page_cache_fills = True  # no ETag (newsroom.middleware.ConditionalGetMiddleware)
        return response

    return wrapper
