"""Fetching a source: conditional GET → parse → full text → ingest → schedule.

Every failure ends as an error recorded on the source (kind + message), a
backoff, a FetchLog row and a metrics count — never an exception out of
`source_fetch`, never a source that silently leaves the schedule.
"""
from __future__ import annotations

import logging
import random
import re
import time
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from urllib.parse import urlsplit

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, close_old_connections, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from django.utils.text import slugify

from articles.ingest import ingest
from articles.selectors import known_links
from feeds.extract import extract_article, extract_listing, visible_text_length
from feeds.http import FetchError, FetchResponse, fetch_url
from feeds.models import FetchLog, Source
from feeds.parse import ParseError, parse_feed
from newsroom import metrics
from newsroom.db import statement_cursor
from newsroom.entry import EntryData, xml_safe

log = logging.getLogger(__name__)

MIN_INTERVAL = 5 * 60
MAX_INTERVAL = 24 * 3600
DEFAULT_INTERVAL = 30 * 60
MAX_BACKOFF = 24 * 3600
MAX_ITEM_PAGES = 20
# Item / full-text pages of one fetch share this budget (seconds), so one source
# with slow article pages stays inside the task's time limit; the rest waits for next time.
PAGES_BUDGET = 60.0
FULLTEXT_MIN_CHARS = 300
# An item page with less visible text than this (and no media) is an expired / deleted page.
EMPTY_PAGE_CHARS = 20
# Publishing-rate estimate: entries dated within this window, at most this far back.
RATE_WINDOW_DAYS = 30
RATE_MIN_SPAN_DAYS = 1 / 24


class SelectorError(Exception):
    """An HTML listing source's CSS selectors are invalid or match nothing."""

    kind = "bad_selector"


@dataclass
class FetchOutcome:
    source: int
    status: str  # ok / not_modified / error
    error: str = ""
    error_kind: str = ""
    new: int = 0
    updated: int = 0
    duplicate: int = 0
    spam: int = 0
    health: str = ""
    warnings: int = 0

    def as_json(self) -> dict:
        return asdict(self)


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _unique_slug(name: str, url: str) -> str:
    base = slugify(name, allow_unicode=True)[:150] or slugify(_host(url), allow_unicode=True) or "source"
    slug, n = base, 1
    while Source.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def source_create(*, url: str, kind: str = Source.Kind.RSS, name: str = "", tags: list[str] | None = None,
                  site_url: str = "", selectors: dict | None = None) -> Source:
    url, site_url = url.strip(), site_url.strip()
    name, tags = xml_safe(name), [xml_safe(t) for t in tags or []]
    name = name or _host(url) or url
    source = Source(
        url=url,
        kind=kind,
        name=name[:200],
        slug=_unique_slug(name, url),
        site_url=site_url,
        default_tags=",".join(tags or []),
        selectors=selectors or {},
        next_fetch_at=timezone.now(),
    )
    source.full_clean(exclude=["slug"])
    source.save()
    return source


# --------------------------------------------------------------------------
# Pages: full text and HTML listing items
# --------------------------------------------------------------------------
_MEDIA = re.compile(r"<(?:img|iframe|video|audio|mpvoice|qqmusic)\b", re.I)


def _is_empty_page(entry: EntryData) -> bool:
    """Expired / deleted / placeholder pages must not become empty articles."""
    if visible_text_length(entry.content) >= EMPTY_PAGE_CHARS:
        return False
    return not (entry.title and _MEDIA.search(entry.content or ""))


def _fill_full_text(source: Source, entries: list[EntryData]) -> None:
    """Feeds that carry only a summary: fetch the page and extract the body (new entries only).

    Site rules (WeChat) then the generic extractor, via extract_article; the feed
    summary stays when the page fails or yields less text.
    """
    if not (settings.NEWSROOM_FULLTEXT and source.fetch_full_text):
        return
    known = known_links(source.pk, [e.link for e in entries if e.link])
    started = time.monotonic()
    fetched = 0
    for entry in entries:
        if not entry.link or entry.link in known or urlsplit(entry.link).scheme not in ("http", "https"):
            continue
        if visible_text_length(entry.content or entry.summary) >= FULLTEXT_MIN_CHARS:
            continue
        if fetched >= MAX_ITEM_PAGES or time.monotonic() - started > PAGES_BUDGET:
            log.info("full text budget spent source=%s; the rest keeps its summary", source.pk)
            break
        fetched += 1
        try:
            page = fetch_url(entry.link, referer=source.site_url or None)
            extracted = extract_article(page.content, url=page.url, content_type=page.content_type)
        except Exception as exc:  # keep the feed summary; the page is best effort
            log.info("full text failed source=%s url=%s: %s", source.pk, entry.link, exc)
            continue
        if visible_text_length(extracted.content) > visible_text_length(entry.content or entry.summary):
            entry.content = extracted.content  # the feed summary stays as the summary
            entry.base_url = page.url
        if not entry.author and extracted.author:
            entry.author = extracted.author
        if not entry.origin_account and extracted.origin_account:
            entry.origin_account = extracted.origin_account


def _check_selectors(selectors: dict) -> None:
    import soupsieve

    if not isinstance(selectors, dict) or not selectors.get("item"):
        raise SelectorError("HTML 列表源需要 item 选择器 / an HTML listing source needs an 'item' CSS selector")
    for key in ("item", "title", "date", "body"):
        value = selectors.get(key)
        if not value:
            continue
        if not isinstance(value, str):
            raise SelectorError(f"selector {key!r} must be a string / 选择器必须是字符串")
        try:
            soupsieve.compile(value)
        except Exception as exc:
            raise SelectorError(f"invalid CSS selector {key}={value!r}: {exc} / 选择器无效") from exc


def _html_listing_entries(source: Source, content: bytes, url: str, content_type: str) -> tuple[list[EntryData], list[str]]:
    _check_selectors(source.selectors)
    try:
        items = extract_listing(content, url=url, selectors=source.selectors)
    except ValueError as exc:
        raise SelectorError(str(exc)) from exc
    if not items:
        raise SelectorError(f"item selector {source.selectors.get('item')!r} matched no links / 选择器没有匹配到文章链接")
    known = known_links(source.pk, [i.url for i in items])
    entries: list[EntryData] = []
    warnings: list[str] = []
    started = time.monotonic()
    for item in [i for i in items if i.url not in known][:MAX_ITEM_PAGES]:
        if time.monotonic() - started > PAGES_BUDGET:
            warnings.append("item page budget spent; the rest waits for the next fetch")
            break
        try:
            page = fetch_url(item.url, referer=url)
            entry = extract_article(page.content, url=page.url, content_type=page.content_type,
                                    selectors=source.selectors)
        except FetchError as exc:
            warnings.append(f"{item.url}: {exc}")
            log.info("listing item failed source=%s url=%s: %s", source.pk, item.url, exc)
            continue
        except Exception as exc:
            warnings.append(f"{item.url}: {type(exc).__name__}: {exc}")
            log.warning("listing item extraction failed source=%s url=%s", source.pk, item.url, exc_info=True)
            continue
        entry.title = entry.title or item.title
        if _is_empty_page(entry):
            warnings.append(f"{item.url}: empty or expired page / 页面无正文")
            continue
        entry.guid = item.url
        entry.link = entry.link or item.url
        entry.published = entry.published or item.published
        entries.append(entry)
    return entries, warnings


# --------------------------------------------------------------------------
# Scheduling
# --------------------------------------------------------------------------
def rate_from_entries(entries: list[EntryData], now: datetime) -> float | None:
    """Entries/day from the publish times the feed itself carries, or None when it carries none.

    Counts entries dated within the last RATE_WINDOW_DAYS over the span they
    cover up to now, so a feed whose newest post is weeks old reads as slow and
    a first fetch already knows the cadence.
    """
    stamps = []
    for entry in entries:
        when = entry.published or entry.updated
        if when is not None:
            stamps.append(min(when, now))
    if len(stamps) < 2 or len(set(stamps)) < 2:
        return None  # one date, or the build date stamped on every entry: says nothing
    window_start = now - timedelta(days=RATE_WINDOW_DAYS)
    recent = [s for s in stamps if s >= window_start]
    if not recent:
        return 0.0
    span_days = max((now - max(min(stamps), window_start)).total_seconds() / 86400, RATE_MIN_SPAN_DAYS)
    return round(len(recent) / span_days, 3)


def _observe_rate(source: Source, new: int, now: datetime, entries: list[EntryData] | None = None) -> float:
    """Entries/day: the feed's own timestamps when it has them, else smoothed new-entry counts."""
    from_stamps = rate_from_entries(entries or [], now)
    if from_stamps is not None:
        return from_stamps
    if not source.last_success_at:
        return float(new)
    days = max((now - source.last_success_at).total_seconds() / 86400, 1 / 1440)
    observed = new / days
    return round(0.7 * source.entries_per_day + 0.3 * observed, 3)


def _jitter(interval: float, low: float, high: float) -> int:
    """±10 % so sources spread out, staying within [low, high]."""
    interval = min(max(interval, low / 0.9), high / 1.1)
    return int(interval * random.uniform(0.9, 1.1))


def next_interval(source: Source, *, max_age: int | None = None, retry_after: int | None = None) -> int:
    """Adaptive: about two fetches per expected new entry, within [5 min, 1 day],
    never sooner than the server's max-age / Retry-After; with jitter."""
    if source.entries_per_day > 0:
        interval = 86400 / source.entries_per_day / 2
    elif source.last_success_at:
        interval = MAX_INTERVAL  # nothing published lately: once a day is enough
    else:
        interval = DEFAULT_INTERVAL
    server = max(max_age or 0, retry_after or 0)
    if server:
        interval = max(interval, min(server, MAX_INTERVAL))
    return _jitter(interval, MIN_INTERVAL, MAX_INTERVAL)


def backoff_interval(errors: int, retry_after: int | None = None) -> int:
    """Exponential from 5 min, capped at a day: a failing source is retried, never dropped."""
    interval = min(MIN_INTERVAL * (2 ** min(max(errors - 1, 0), 20)), MAX_BACKOFF)
    if retry_after:
        interval = max(interval, min(retry_after, MAX_BACKOFF))
    return _jitter(interval, MIN_INTERVAL, MAX_BACKOFF)


# --------------------------------------------------------------------------
# One fetch
# --------------------------------------------------------------------------
def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _record_error(source: Source, kind: str, message: str, *, retry_after: int | None, now, started: float,
                  http_status: int | None = None) -> FetchOutcome:
    source.consecutive_errors += 1
    source.error_count += 1
    source.last_error = message[:2000]
    source.last_error_kind = kind
    source.last_error_at = now
    source.last_status = "error"
    source.last_fetched_at = now
    source.leased_until = None
    source.next_fetch_at = now + timedelta(seconds=backoff_interval(source.consecutive_errors, retry_after))
    if source.consecutive_errors >= Source.FAILING_AFTER and source.flagged_at is None:
        source.flagged_at = now
        log.warning("source %s flagged for editors after %s consecutive errors (last: %s)",
                    source.pk, source.consecutive_errors, kind)
    _save_with_log(source, _ERROR_FIELDS, FetchLog(
        source=source, started_at=now, status="error", error_kind=kind, error=message[:2000],
        http_status=http_status, duration_ms=_elapsed_ms(started)))
    metrics.FETCH_OUTCOMES.labels("error", kind).inc()
    metrics.FETCH_LATENCY.labels("error").observe(time.monotonic() - started)
    return FetchOutcome(source=source.pk, status="error", error=message, error_kind=kind, health=source.health)


_ERROR_FIELDS = ["consecutive_errors", "error_count", "last_error", "last_error_kind", "last_error_at", "last_status",
                 "last_fetched_at", "leased_until", "next_fetch_at", "flagged_at"]


def _save_with_log(source: Source, fields: list[str], entry: FetchLog) -> None:
    """``source.save(update_fields=fields)``, then ``entry.save()`` (the fetch's log row).

    On PostgreSQL, one prepared statement does both: every fetch writes them, also one
    that finds nothing new, and the ORM's two saves cost such a fetch a seventh of its
    time. The log row is written only along with the source's: a source deleted
    meanwhile raises, as ``save(update_fields=…)`` does, and leaves no row."""
    if connection.vendor != "postgresql":
        source.save(update_fields=fields)
        entry.save()
        return
    db = connections[DEFAULT_DB_ALIAS]
    params = [f.get_db_prep_save(getattr(source, f.attname), db) for f in map(Source._meta.get_field, fields)]
    params.append(source.pk)
    params += [f.get_db_prep_save(f.pre_save(entry, True), db) for f in _log_fields()]
    with statement_cursor() as cursor:
        cursor.execute(_save_with_log_sql(tuple(fields)), params)
        if cursor.rowcount != 1:
            raise DatabaseError(f"source {source.pk} is gone: its fetch was not recorded")


@lru_cache(maxsize=1)
def _log_fields() -> list:
    """FetchLog's columns as Model.save inserts them (every fetch writes one row)."""
    return [f for f in FetchLog._meta.local_concrete_fields if not f.primary_key]


@lru_cache(maxsize=8)
def _save_with_log_sql(fields: tuple[str, ...]) -> str:
    """UPDATE the source's ``fields``; INSERT the log row once per row updated (so, once)."""
    qn = connection.ops.quote_name
    meta = Source._meta
    sets = ", ".join(f"{qn(meta.get_field(name).column)} = %s" for name in fields)
    log = _log_fields()
    return (f"WITH saved AS (UPDATE {qn(meta.db_table)} SET {sets} WHERE {qn(meta.pk.column)} = %s RETURNING 1) "
            f"INSERT INTO {qn(FetchLog._meta.db_table)} ({', '.join(qn(f.column) for f in log)}) "
            f"SELECT {', '.join(['%s'] * len(log))} FROM saved")


_SUCCESS_FIELDS = ["consecutive_errors", "flagged_at", "last_status", "last_fetched_at", "last_success_at",
                   "leased_until", "server_min_interval", "next_fetch_at"]


def _mark_success(source: Source, status: str, response: FetchResponse | None, *, now) -> list[str]:
    """A fetch that worked (new content or 304): health reset, lease released, next
    fetch scheduled. Returns the fields it set."""
    source.consecutive_errors = 0
    source.flagged_at = None
    source.last_status = status
    source.last_fetched_at = source.last_success_at = now
    source.leased_until = None
    source.server_min_interval = _server_interval(response)
    source.next_fetch_at = now + timedelta(seconds=next_interval(
        source, max_age=response.max_age if response else None, retry_after=response.retry_after if response else None))
    return list(_SUCCESS_FIELDS)


def _record_not_modified(source: Source, response: FetchResponse, *, now, started: float) -> FetchOutcome:
    _save_with_log(source, _mark_success(source, "not_modified", response, now=now), FetchLog(
        source=source, started_at=now, status="not_modified", http_status=304, duration_ms=_elapsed_ms(started)))
    metrics.FETCH_OUTCOMES.labels("not_modified", "").inc()
    metrics.FETCH_LATENCY.labels("not_modified").observe(time.monotonic() - started)
    return FetchOutcome(source=source.pk, status="not_modified", health=source.health)


def _server_interval(response: FetchResponse | None) -> int | None:
    if response is None:
        return None
    value = max(response.max_age or 0, response.retry_after or 0)
    return min(value, 2**31 - 1) if value else None


def source_fetch(*, source: Source, content: bytes | None = None, content_type: str = "") -> FetchOutcome:
    """Fetch and ingest one source. `content` lets demo snapshots be ingested offline."""
    started = time.monotonic()
    now = timezone.now()
    response: FetchResponse | None = None
    try:
        if content is None:
            response = fetch_url(source.url, etag=source.etag, last_modified=source.last_modified)
            if response.status == 304:
                return _record_not_modified(source, response, now=now, started=started)
            content, content_type, final_url = response.content, response.content_type, response.url
            etag, last_modified = response.etag, response.last_modified
        else:
            final_url, etag, last_modified = source.url, source.etag, source.last_modified

        warnings: list[str] = []
        filled: dict[str, str] = {}  # fields of the source the feed filled in: their value as read
        if source.kind == Source.Kind.HTML:
            entries, warnings = _html_listing_entries(source, content, final_url, content_type)
        else:
            parsed = parse_feed(content, url=final_url, content_type=content_type,
                                encoding_override=source.encoding_override)
            entries = parsed.entries
            warnings = parsed.warnings
            if not source.site_url and parsed.link:
                filled["site_url"] = source.site_url
                source.site_url = parsed.link[:2000]
            if source.name == _host(source.url) and parsed.title:
                filled["name"] = source.name
                source.name = parsed.title[:200]
            _fill_full_text(source, entries)
        result = ingest(source, entries)
    except FetchError as exc:
        return _record_error(source, exc.kind, str(exc), retry_after=exc.retry_after, now=now, started=started,
                             http_status=exc.http_status)
    except (ParseError, SelectorError) as exc:
        return _record_error(source, exc.kind, str(exc), retry_after=None, now=now, started=started,
                             http_status=response.status if response else None)
    except SoftTimeLimitExceeded:
        log.warning("fetch of source=%s stopped at the task's time limit", source.pk)
        return _record_error(source, "timeout", ("task time limit reached: stored entries are kept, the rest come with the next fetch"
                              " / 超过任务时限：已存的条目保留，其余在下次抓取时继续"),
                             retry_after=None, now=now, started=started)
    except Exception as exc:  # a bug or an unexpected input: still an error row, never a crash
        log.exception("fetch failed source=%s", source.pk)
        return _record_error(source, "internal", f"{type(exc).__name__}: {exc}", retry_after=None, now=now,
                             started=started)

    source.etag = (etag or "")[:500]
    source.last_modified = (last_modified or "")[:100]
    source.entries_per_day = _observe_rate(source, result.new, now, entries)
    for name, was in filled.items():
        # Only where nobody set it since it was read (an editor, in the admin, meanwhile).
        Source.objects.filter(pk=source.pk, **{name: was}).update(**{name: getattr(source, name)})
    fields = ["etag", "last_modified", "entries_per_day"]
    if result.errors:
        source.last_error = "; ".join(result.errors)[:2000]
        source.last_error_kind = "entry"
        source.last_error_at = now
        fields += ["last_error", "last_error_kind", "last_error_at"]
    # Last: the next interval reads the rate observed above.
    fields += _mark_success(source, "ok", response, now=now)
    _save_with_log(source, fields, FetchLog(
        source=source, started_at=now, status="ok", new=result.new, updated=result.updated,
        http_status=response.status if response else None, duration_ms=_elapsed_ms(started),
        error="; ".join(warnings + result.errors)[:2000]))
    metrics.FETCH_OUTCOMES.labels("ok", "").inc()
    metrics.FETCH_LATENCY.labels("ok").observe(time.monotonic() - started)
    return FetchOutcome(source=source.pk, status="ok", new=result.new, updated=result.updated,
                        duplicate=result.duplicate, spam=result.spam, health=source.health,
                        warnings=len(warnings) + len(result.errors))


def source_fetch_by_id(source_id: int) -> FetchOutcome | None:
    source = Source.objects.filter(pk=source_id).first()
    if source is None:
        return None
    return source_fetch(source=source)


def _fetch_guarded(source: Source) -> FetchOutcome:
    """source_fetch already records every fetch failure; this catches what recording itself
    raised (e.g. the database went away) so one source never takes a whole batch down."""
    try:
        return source_fetch(source=source)
    except Exception as exc:
        log.exception("fetch of source=%s failed outside the recorder", source.pk)
        metrics.FETCH_OUTCOMES.labels("error", "internal").inc()
        return FetchOutcome(source=source.pk, status="error", error=f"{type(exc).__name__}: {exc}",
                            error_kind="internal")


def sources_fetch_many(source_ids: list[int], *, concurrency: int | None = None,
                       per_host: int | None = None) -> list[FetchOutcome]:
    """Fetch many sources concurrently (threads: the work is network-bound).

    Politeness: at most `per_host` (NEWSROOM_PER_HOST_CONCURRENCY) fetches of one
    host in flight at once. Work is handed to the pool only when its host has a
    free slot, so a thousand sources on one host never starve the other hosts of
    threads. Outcomes come back in the order of `source_ids`.

    The sources are read in one query at the start (a query per fetch cost a fetch that
    finds nothing new a seventh of its time); what a fetch writes back is its own fields,
    so an editor's change made meanwhile is kept, and applies from the next fetch.
    """
    concurrency = max(1, concurrency or _setting("NEWSROOM_FETCH_CONCURRENCY", 32))
    per_host = max(1, per_host or _setting("NEWSROOM_PER_HOST_CONCURRENCY", 4))
    sources = Source.objects.in_bulk(source_ids)
    ids = list(dict.fromkeys(sid for sid in source_ids if sid in sources))

    if len(ids) <= 1 or concurrency <= 1:
        return [_fetch_guarded(sources[sid]) for sid in ids]

    def run_in_thread(sid: int) -> FetchOutcome:
        close_old_connections()  # one a fetch left broken or too old is replaced, as between requests
        opened.add(connections[DEFAULT_DB_ALIAS])  # this thread's own, kept for its next fetch
        return _fetch_guarded(sources[sid])

    queues: dict[str, deque[int]] = {}
    for sid in ids:
        queues.setdefault(_host(sources[sid].url), deque()).append(sid)
    active: Counter[str] = Counter()
    in_flight: dict[Future, tuple[int, str]] = {}
    results: dict[int, FetchOutcome] = {}
    workers = min(concurrency, len(ids))

    # Left last to first: the pool waits for its threads, then their connections are closed.
    with (_threads_connections() as opened,
          ThreadPoolExecutor(max_workers=workers, thread_name_prefix="newsroom-fetch") as pool):
        def hand_out() -> None:
            for host in list(queues):
                queue = queues[host]
                while queue and active[host] < per_host and len(in_flight) < workers:
                    sid = queue.popleft()
                    in_flight[pool.submit(run_in_thread, sid)] = (sid, host)
                    active[host] += 1
                if not queue:
                    del queues[host]
                if len(in_flight) >= workers:
                    return

        hand_out()
        while in_flight:
            done, _pending = wait(list(in_flight), return_when=FIRST_COMPLETED)
            for future in done:
                sid, host = in_flight.pop(future)
                active[host] -= 1
                try:
                    results[sid] = future.result()
                except Exception as exc:  # run_in_thread already guards; belt and braces
                    results[sid] = FetchOutcome(source=sid, status="error", error=str(exc), error_kind="internal")
            hand_out()
    return [results[sid] for sid in ids]


@contextmanager
def _threads_connections():
    """A set for pool threads to add their database connections to, each kept from one
    fetch to the next (a new connection per fetch cost PostgreSQL a backend each time, and
    its prepared statements); all closed at the end, also when the batch is interrupted.
    Django ties a connection to the thread that opened it: sharing is allowed for the
    close, as its test server does, once those threads are done."""
    opened: set[BaseDatabaseWrapper] = set()
    try:
        yield opened
    finally:
        for wrapper in opened:
            wrapper.inc_thread_sharing()
            try:
                wrapper.close()
            except Exception:  # the server already dropped it: nothing left to close
                log.warning("closing a fetch thread's database connection failed", exc_info=True)
            finally:
                wrapper.dec_thread_sharing()


def sources_lease_due(*, limit: int | None = None, now=None) -> list[int]:
    """Pick due sources and lease them; returns their ids.

    Row locks (SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL) plus a re-check of
    the lease inside the locking query mean two schedulers never pick the same
    source. At most NEWSROOM_PER_HOST_PER_TICK sources of one host per tick. A
    lease expires after NEWSROOM_FETCH_LEASE_SECONDS, so a source whose worker
    died is picked again: it never leaves the schedule.
    """
    now = now or timezone.now()
    limit = limit or _setting("NEWSROOM_SCHEDULE_BATCH", 200)
    per_tick = _setting("NEWSROOM_PER_HOST_PER_TICK", 10)
    lease = _setting("NEWSROOM_FETCH_LEASE_SECONDS", 600)

    # Choose candidates without locks (scan enough to get past one crowded host)...
    candidates: list[int] = []
    per_host: Counter[str] = Counter()
    for sid, url in Source.objects.due(now).order_by("next_fetch_at", "pk").values_list("id", "url")[: limit * 10]:
        host = _host(url)
        if per_host[host] >= per_tick:
            continue
        per_host[host] += 1
        candidates.append(sid)
        if len(candidates) >= limit:
            break
    # ...then lock and lease only those still due and not locked by another scheduler.
    with transaction.atomic():
        picked = list(
            Source.objects.due(now).filter(pk__in=candidates)
            .select_for_update(skip_locked=True)
            .order_by("next_fetch_at", "pk")
            .values_list("id", flat=True)
        )
        Source.objects.filter(pk__in=picked).update(leased_until=now + timedelta(seconds=lease))
    oldest = Source.objects.due(now).order_by("next_fetch_at").values_list("next_fetch_at", flat=True).first()
    metrics.SCHEDULER_LAG.set((now - oldest).total_seconds() if oldest else 0)
    return picked


# --------------------------------------------------------------------------
# Single pages
# --------------------------------------------------------------------------
def _page_source(url: str) -> Source:
    """Single imported pages hang off an inactive per-host source (never scheduled)."""
    host = _host(url) or "page"
    page_url = f"{urlsplit(url).scheme or 'https'}://{host}/#imported"
    source = Source.objects.filter(url=page_url).first()
    if source is None:
        source, _created = Source.objects.get_or_create(
            url=page_url,
            defaults={"kind": Source.Kind.HTML, "name": f"{host}（单篇导入）", "slug": _unique_slug(host, page_url),
                      "site_url": f"https://{host}/", "active": False},
        )
    return source


def article_import(*, url: str, tags: list[str] | None = None) -> int:
    """Import one page as an article; returns its id (the existing one if already imported).

    Title, publish time, author / WeChat account and body come from the page
    (site rules, then the generic extractor); its own keywords become tag
    suggestions. Raises FetchError, or ValueError for an empty / expired page.
    """
    from articles.selectors import article_id_for_url

    page = fetch_url(url)
    entry = extract_article(page.content, url=page.url, content_type=page.content_type)
    if _is_empty_page(entry):
        raise ValueError("页面没有正文（已删除或过期？）/ the page has no article body (expired or deleted?)")
    entry.guid = entry.guid or page.url
    entry.link = entry.link or page.url
    if tags:
        entry.categories = list(tags) + [c for c in entry.categories if c not in tags]
    source = _page_source(page.url)
    result = ingest(source, [entry])
    if result.article_ids:
        return result.article_ids[0]
    for candidate in (entry.original_url, entry.link, page.url, url):
        existing = article_id_for_url(candidate)
        if existing:
            return existing
    raise ValueError("; ".join(result.errors) or "页面没有可导入的正文 / nothing to import")


@dataclass
class OpmlImport:
    created: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)


def sources_import_opml(*, data: bytes) -> OpmlImport:
    """Create a source per OPML outline not already known (folders become default
    tags). Raises ValueError when the file is not OPML at all."""
    from feeds.opml import parse_opml

    try:
        outlines = parse_opml(data)
    except Exception as exc:
        raise ValueError(f"无法读取 OPML：{exc}") from exc
    report = OpmlImport()
    for o in outlines:
        if Source.objects.filter(url=o.url).exists():
            report.skipped += 1
            continue
        try:
            source_create(url=o.url, name=o.title, tags=o.tags, site_url=o.site_url)
            report.created += 1
        except ValidationError as exc:
            report.skipped += 1
            report.problems.append(f"{xml_safe(o.url)}: {'; '.join(exc.messages)}")
    return report
