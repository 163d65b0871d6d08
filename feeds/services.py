"""Fetching a source: conditional GET → parse → full text → ingest → schedule.

Every failure ends as an error recorded on the source (kind + message), a
backoff, and a FetchLog row — never an exception out of `source_fetch`.
"""
from __future__ import annotations

import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from articles.ingest import ingest
from articles.selectors import known_links
from feeds.extract import better_body, extract_article, extract_listing
from feeds.http import FetchError, fetch_url
from feeds.models import FetchLog, Source
from feeds.parse import ParseError, parse_feed
from newsroom import metrics
from newsroom.entry import EntryData

log = logging.getLogger(__name__)

MIN_INTERVAL = 5 * 60
MAX_INTERVAL = 24 * 3600
DEFAULT_INTERVAL = 30 * 60
MAX_BACKOFF = 24 * 3600
LEASE_SECONDS = 10 * 60
MAX_ITEM_PAGES = 20
FULLTEXT_MIN_CHARS = 300
PER_HOST_PER_TICK = 4


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


def _unique_slug(name: str, url: str) -> str:
    base = slugify(name, allow_unicode=True)[:150] or slugify(urlsplit(url).hostname or "", allow_unicode=True) or "source"
    slug, n = base, 1
    while Source.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def source_create(*, url: str, kind: str = Source.Kind.RSS, name: str = "", tags: list[str] | None = None,
                  site_url: str = "", selectors: dict | None = None) -> Source:
    host = urlsplit(url).hostname or url
    name = name or host
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


def _visible_len(html: str) -> int:
    from articles.text.sanitize import html_to_text

    return len(html_to_text(html or ""))


def _fill_full_text(source: Source, entries: list[EntryData]) -> None:
    """Feeds that carry only a summary: fetch the page and extract the body (new entries only)."""
    if not (settings.NEWSROOM_FULLTEXT and source.fetch_full_text):
        return
    known = known_links(source.pk, [e.link for e in entries if e.link])
    for entry in entries:
        if not entry.link or entry.link in known:
            continue
        if _visible_len(entry.content or entry.summary) >= FULLTEXT_MIN_CHARS:
            continue
        try:
            page = fetch_url(entry.link)
            extracted = extract_article(page.content, url=page.url, content_type=page.content_type)
        except Exception as exc:  # keep the feed summary; the page is best effort
            log.info("full text failed source=%s url=%s: %s", source.pk, entry.link, exc)
            continue
        entry.content = better_body(entry.content or entry.summary, extracted.content)
        entry.base_url = page.url if entry.content == extracted.content else entry.base_url
        if not entry.author and extracted.author:
            entry.author = extracted.author


def _html_listing_entries(source: Source, content: bytes, url: str, content_type: str) -> list[EntryData]:
    items = extract_listing(content, url=url, selectors=source.selectors)
    known = known_links(source.pk, [i.url for i in items])
    entries = []
    for item in items[:MAX_ITEM_PAGES]:
        if item.url in known:
            continue
        try:
            page = fetch_url(item.url)
            entry = extract_article(page.content, url=page.url, content_type=page.content_type, selectors=source.selectors)
        except FetchError as exc:
            log.info("listing item failed source=%s url=%s: %s", source.pk, item.url, exc)
            continue
        entry.guid = item.url
        entry.link = entry.link or item.url
        entry.title = entry.title or item.title
        entry.published = entry.published or item.published
        entries.append(entry)
    return entries


def next_interval(source: Source, *, max_age: int | None = None) -> int:
    """Adaptive: about two fetches per expected new entry, within [5 min, 1 day],
    never sooner than the server's max-age; ±10 % jitter so sources spread out."""
    if source.entries_per_day > 0:
        interval = 86400 / source.entries_per_day / 2
    else:
        interval = DEFAULT_INTERVAL * 2
    if max_age:
        interval = max(interval, max_age)
    interval = min(max(interval, MIN_INTERVAL), MAX_INTERVAL)
    return int(interval * random.uniform(0.9, 1.1))


def backoff_interval(errors: int, retry_after: int | None = None) -> int:
    interval = min(MIN_INTERVAL * (2 ** max(errors - 1, 0)), MAX_BACKOFF)
    if retry_after:
        interval = max(interval, min(retry_after, MAX_BACKOFF))
    return int(interval * random.uniform(0.9, 1.1))


def _observe_rate(source: Source, new: int, now) -> float:
    """Exponentially smoothed entries/day from what each successful fetch found."""
    if not source.last_success_at:
        return float(new)
    days = max((now - source.last_success_at).total_seconds() / 86400, 1 / 1440)
    observed = new / days
    return round(0.7 * source.entries_per_day + 0.3 * observed, 3)


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
    source.save(update_fields=[
        "consecutive_errors", "error_count", "last_error", "last_error_kind", "last_error_at", "last_status",
        "last_fetched_at", "leased_until", "next_fetch_at",
    ])
    FetchLog.objects.create(source=source, started_at=now, status="error", error_kind=kind, error=message[:2000],
                            http_status=http_status, duration_ms=int((time.monotonic() - started) * 1000))
    metrics.FETCH_OUTCOMES.labels("error", kind).inc()
    return FetchOutcome(source=source.pk, status="error", error=message, error_kind=kind, health=source.health)


def source_fetch(*, source: Source, content: bytes | None = None, content_type: str = "") -> FetchOutcome:
    """Fetch and ingest one source. `content` lets demo snapshots be ingested offline."""
    started = time.monotonic()
    now = timezone.now()
    max_age = None
    try:
        if content is None:
            response = fetch_url(source.url, etag=source.etag, last_modified=source.last_modified)
            max_age = response.max_age
            if response.status == 304:
                source.consecutive_errors = 0
                source.last_status = "not_modified"
                source.last_fetched_at = source.last_success_at = now
                source.leased_until = None
                source.next_fetch_at = now + timedelta(seconds=next_interval(source, max_age=max_age))
                source.save(update_fields=["consecutive_errors", "last_status", "last_fetched_at",
                                           "last_success_at", "leased_until", "next_fetch_at"])
                FetchLog.objects.create(source=source, started_at=now, status="not_modified", http_status=304,
                                        duration_ms=int((time.monotonic() - started) * 1000))
                metrics.FETCH_OUTCOMES.labels("not_modified", "").inc()
                return FetchOutcome(source=source.pk, status="not_modified", health=source.health)
            content, content_type, final_url = response.content, response.content_type, response.url
            etag, last_modified = response.etag, response.last_modified
        else:
            final_url, etag, last_modified = source.url, source.etag, source.last_modified

        warnings: list[str] = []
        if source.kind == Source.Kind.HTML:
            entries = _html_listing_entries(source, content, final_url, content_type)
        else:
            parsed = parse_feed(content, url=final_url, content_type=content_type,
                                encoding_override=source.encoding_override)
            entries = parsed.entries
            warnings = parsed.warnings
            if not source.site_url and parsed.link:
                source.site_url = parsed.link[:2000]
            if source.name == (urlsplit(source.url).hostname or "") and parsed.title:
                source.name = parsed.title[:200]
            _fill_full_text(source, entries)
        result = ingest(source, entries)
    except FetchError as exc:
        return _record_error(source, exc.kind, str(exc), retry_after=exc.retry_after, now=now, started=started,
                             http_status=exc.http_status)
    except ParseError as exc:
        return _record_error(source, exc.kind, str(exc), retry_after=None, now=now, started=started)
    except Exception as exc:  # a bug or an unexpected input: still an error row, never a crash
        log.exception("fetch failed source=%s", source.pk)
        return _record_error(source, "internal", f"{type(exc).__name__}: {exc}", retry_after=None, now=now,
                             started=started)

    source.etag = (etag or "")[:500]
    source.last_modified = (last_modified or "")[:100]
    source.entries_per_day = _observe_rate(source, result.new, now)
    source.consecutive_errors = 0
    source.last_status = "ok"
    source.last_fetched_at = source.last_success_at = now
    source.leased_until = None
    if result.errors:
        source.last_error = "; ".join(result.errors)[:2000]
        source.last_error_kind = "entry"
        source.last_error_at = now
    source.next_fetch_at = now + timedelta(seconds=next_interval(source, max_age=max_age))
    source.save()
    FetchLog.objects.create(source=source, started_at=now, status="ok", new=result.new, updated=result.updated,
                            http_status=200, duration_ms=int((time.monotonic() - started) * 1000))
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


def sources_fetch_many(source_ids: list[int], *, concurrency: int | None = None) -> list[FetchOutcome]:
    """Fetch many sources concurrently (threads: the work is network-bound)."""
    concurrency = concurrency or settings.NEWSROOM_FETCH_CONCURRENCY

    if len(source_ids) <= 1 or concurrency <= 1:
        return [o for o in map(source_fetch_by_id, source_ids) if o]

    def run_in_thread(sid: int) -> FetchOutcome | None:
        try:
            return source_fetch_by_id(sid)
        finally:
            connection.close()  # each pool thread has its own connection; don't leak it

    with ThreadPoolExecutor(max_workers=min(concurrency, len(source_ids))) as pool:
        return [o for o in pool.map(run_in_thread, source_ids) if o]


def sources_lease_due(*, limit: int = 200, now=None) -> list[int]:
    """Pick due sources and lease them. SKIP LOCKED on PostgreSQL: two schedulers
    never pick the same source. At most PER_HOST_PER_TICK per host per tick."""
    now = now or timezone.now()
    picked: list[int] = []
    per_host: dict[str, int] = {}
    with transaction.atomic():
        rows = list(
            Source.objects.due(now)
            .select_for_update(skip_locked=True)
            .order_by("next_fetch_at")
            .values_list("id", "url")[: limit * 3]
        )
        for sid, url in rows:
            host = (urlsplit(url).hostname or "").lower()
            if per_host.get(host, 0) >= PER_HOST_PER_TICK:
                continue
            per_host[host] = per_host.get(host, 0) + 1
            picked.append(sid)
            if len(picked) >= limit:
                break
        Source.objects.filter(pk__in=picked).update(leased_until=now + timedelta(seconds=LEASE_SECONDS))
    oldest = Source.objects.due(now).order_by("next_fetch_at").values_list("next_fetch_at", flat=True).first()
    metrics.SCHEDULER_LAG.set((now - oldest).total_seconds() if oldest else 0)
    return picked


def _page_source(url: str) -> Source:
    """Single imported pages hang off an inactive per-host source (never scheduled)."""
    host = (urlsplit(url).hostname or "page").lower()
    page_url = f"{urlsplit(url).scheme or 'https'}://{host}/#imported"
    source = Source.objects.filter(url=page_url).first()
    if source is None:
        source = Source.objects.create(url=page_url, kind=Source.Kind.HTML, name=f"{host}（单篇导入）",
                                       slug=_unique_slug(host, page_url), site_url=f"https://{host}/", active=False)
    return source


def article_import(*, url: str, tags: list[str] | None = None) -> int:
    """Import one page as an article; returns its id (the existing one if already imported)."""
    from articles.selectors import article_id_for_url

    page = fetch_url(url)
    entry = extract_article(page.content, url=page.url, content_type=page.content_type)
    entry.guid = entry.guid or page.url
    entry.link = entry.link or page.url
    if tags:
        entry.categories = list(tags) + list(entry.categories)
    source = _page_source(page.url)
    result = ingest(source, [entry])
    if result.article_ids:
        return result.article_ids[0]
    existing = article_id_for_url(entry.original_url or entry.link) or article_id_for_url(url)
    if existing:
        return existing
    raise RuntimeError("; ".join(result.errors) or "页面没有可导入的正文")
