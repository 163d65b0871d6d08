"""Scheduling: adaptive intervals, backoff, flags for editors, per-host politeness, row locking."""
from __future__ import annotations

import io
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core.management import call_command
from django.db import connection
from django.db.backends.signals import connection_created
from django.utils import timezone as dj_timezone

from articles.models import Article
from feeds.models import FetchLog, Source
from feeds.services import (
    MAX_BACKOFF,
    MAX_INTERVAL,
    MIN_INTERVAL,
    backoff_interval,
    next_interval,
    rate_from_entries,
    source_create,
    source_fetch,
    sources_fetch_many,
    sources_lease_due,
)
from newsroom.entry import EntryData


def rss(items: list[tuple[str, datetime | None]], title: str = "定时测试") -> str:
    body = "".join(
        f"<item><title>{t}</title><link>http://example.com/{quote(title)}/{i}</link><guid>g-{title}-{i}</guid>"
        + (f"<pubDate>{format_datetime(d, usegmt=True)}</pubDate>" if d else "")
        + f"<description>{t} 的摘要</description></item>"
        for i, (t, d) in enumerate(items)
    )
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>{body}</channel></rss>'


def fetch_json(*args: str) -> list[dict]:
    out = io.StringIO()
    call_command("fetch", *args, "--json", stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


# --------------------------------------------------------------------------
# Adaptive interval
# --------------------------------------------------------------------------
def test_rate_from_publish_timestamps() -> None:
    now = datetime(2026, 5, 6, 12, 0, tzinfo=timezone.utc)
    every_two_hours = [EntryData(guid=str(i), link="", title="", published=now - timedelta(hours=2 * i)) for i in range(12)]
    assert rate_from_entries(every_two_hours, now) == pytest.approx(12 / (22 / 24), rel=0.01)
    daily = [EntryData(guid=str(i), link="", title="", published=now - timedelta(days=i)) for i in range(10)]
    assert rate_from_entries(daily, now) == pytest.approx(10 / 9, rel=0.01)
    dormant = [EntryData(guid=str(i), link="", title="", published=now - timedelta(days=400 + i)) for i in range(5)]
    assert rate_from_entries(dormant, now) == 0.0
    # No dates, one date, or the same build date on every entry: no estimate.
    assert rate_from_entries([EntryData(guid="a", link="", title="")] * 3, now) is None
    same = [EntryData(guid=str(i), link="", title="", published=now) for i in range(5)]
    assert rate_from_entries(same, now) is None
    # A date in the future counts as now rather than stretching the span.
    future = daily + [EntryData(guid="f", link="", title="", published=now + timedelta(days=30))]
    assert rate_from_entries(future, now) == pytest.approx(11 / 9, rel=0.01)


@pytest.mark.django_db
def test_next_interval_bounds_server_hints_and_jitter() -> None:
    source = Source(entries_per_day=1000, last_success_at=dj_timezone.now())
    busy = [next_interval(source) for _ in range(50)]
    assert all(MIN_INTERVAL <= i <= MIN_INTERVAL * 1.25 for i in busy)
    source.entries_per_day = 0.01
    quiet = [next_interval(source) for _ in range(50)]
    assert all(MAX_INTERVAL * 0.8 <= i <= MAX_INTERVAL for i in quiet)
    assert len(set(quiet)) > 1  # jitter spreads sources even at the cap
    source.entries_per_day = 48  # about every 30 min → fetch every ~15 min
    assert 13 * 60 <= next_interval(source) <= 17 * 60
    assert next_interval(source, max_age=7200) >= 7200 * 0.9  # the server's max-age wins
    assert next_interval(source, retry_after=3 * 86400) <= MAX_INTERVAL  # never beyond a day


def test_backoff_is_exponential_and_capped() -> None:
    lows = [backoff_interval(n) for n in range(1, 8)]
    for n, value in enumerate(lows, start=1):
        expected = min(MIN_INTERVAL * 2 ** (n - 1), MAX_BACKOFF)
        assert max(expected * 0.85, MIN_INTERVAL) <= value <= expected * 1.25
    assert all(backoff_interval(n) <= MAX_BACKOFF for n in (20, 100, 10_000))
    assert backoff_interval(1, retry_after=3600) >= 3600 * 0.9


@pytest.mark.django_db
def test_first_fetch_learns_cadence_from_timestamps_and_honours_max_age(feed_server) -> None:
    now = datetime.now(timezone.utc)
    hourly = [(f"每小时快讯 {i}", now - timedelta(hours=i)) for i in range(24)]
    url = feed_server.add("/hourly.xml", rss(hourly, "快讯"), headers={"Cache-Control": "max-age=60"})
    source = source_create(url=url)
    outcome = source_fetch(source=source)
    assert outcome.status == "ok" and outcome.new == 24
    source.refresh_from_db()
    assert 20 <= source.entries_per_day <= 30  # known on the very first fetch
    wait = (source.next_fetch_at - source.last_fetched_at).total_seconds()
    assert MIN_INTERVAL * 0.9 <= wait <= 60 * 60  # busy feed: well under the default
    assert source.server_min_interval == 60

    weekly = [(f"周报 {i}", now - timedelta(days=7 * i)) for i in range(4)]
    url = feed_server.add("/weekly.xml", rss(weekly, "周报"), headers={"Cache-Control": "public, max-age=43200"})
    slow = source_create(url=url)
    source_fetch(source=slow)
    slow.refresh_from_db()
    assert slow.entries_per_day < 0.5
    wait = (slow.next_fetch_at - slow.last_fetched_at).total_seconds()
    assert 43200 * 0.9 <= wait <= MAX_INTERVAL


# --------------------------------------------------------------------------
# Errors: backoff, never silent, flagged for editors
# --------------------------------------------------------------------------
@pytest.mark.django_db
def test_repeated_failures_back_off_flag_the_source_and_keep_it_scheduled(feed_server) -> None:
    url = feed_server.add("/flaky.xml", "oops", status=503, headers={"Retry-After": "900"})
    source = source_create(url=url)
    waits = []
    for attempt in range(1, Source.FAILING_AFTER + 2):
        [line] = fetch_json("--source", str(source.pk))
        source.refresh_from_db()
        waits.append((source.next_fetch_at - source.last_fetched_at).total_seconds())
        assert line["status"] == "error" and line["error_kind"] == "http_status" and "503" in line["error"]
        assert source.consecutive_errors == attempt and source.active
        expected_health = "failing" if attempt >= Source.FAILING_AFTER else "warning"
        assert line["health"] == expected_health == source.health
        assert (source.flagged_at is not None) == (attempt >= Source.FAILING_AFTER)
    assert waits[0] >= 900 * 0.9  # Retry-After respected
    # Errors 1 and 2 both wait for Retry-After (900 s ± jitter); from the third the backoff
    # (300 s · 2^(n-1)) is longer and keeps growing, capped at a day.
    assert all(w >= 900 * 0.9 for w in waits)
    assert waits[-1] > waits[2] > waits[0] * 0.9 and waits[-1] <= MAX_BACKOFF
    assert FetchLog.objects.filter(source=source, status="error", error_kind="http_status").count() == len(waits)
    # Still on the schedule: due again once its backoff passes.
    later = source.next_fetch_at + timedelta(seconds=1)
    assert source.pk in sources_lease_due(now=later)

    # The server recovers: one success clears the flag.
    feed_server.add("/flaky.xml", rss([("恢复了", datetime.now(timezone.utc))]))
    [line] = fetch_json("--source", str(source.pk))
    source.refresh_from_db()
    assert line["status"] == "ok" and line["health"] == "ok"
    assert source.flagged_at is None and source.consecutive_errors == 0


@pytest.mark.django_db
def test_admin_shows_health_and_filters_failing_sources(admin_client) -> None:
    now = dj_timezone.now()
    Source.objects.create(name="好源", slug="good", url="http://a.example.com/f", last_fetched_at=now)
    Source.objects.create(name="坏源", slug="bad", url="http://b.example.com/f", last_fetched_at=now,
                          consecutive_errors=7, last_error_kind="timeout", last_error="请求超时", flagged_at=now)
    page = admin_client.get("/admin/feeds/source/").content.decode()
    assert "持续失败" in page and "正常" in page and "timeout" in page
    failing = admin_client.get("/admin/feeds/source/?health=failing").content.decode()
    assert "坏源" in failing and "好源" not in failing


# --------------------------------------------------------------------------
# Politeness
# --------------------------------------------------------------------------
class CountingServer:
    """Serves a tiny feed and records the peak number of requests in flight."""

    def __init__(self, host: str, delay: float = 0.3) -> None:
        self.in_flight = 0
        self.peak = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                with server.lock:
                    server.in_flight += 1
                    server.peak = max(server.peak, server.in_flight)
                try:
                    # Hold each request until a second one to this host is in flight (or 10 s pass),
                    # so the peak does not depend on how fast a loaded machine starts threads.
                    waited = time.monotonic()
                    while server.in_flight < 2 and time.monotonic() - waited < 10:
                        time.sleep(0.01)
                    time.sleep(delay)
                    body = rss([(f"条目 {self.path}", None)], title=self.path).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/rss+xml")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    with server.lock:
                        server.in_flight -= 1

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.host, self.port = host, self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.django_db(transaction=True)
def test_per_host_concurrency_is_bounded_in_the_pool(settings) -> None:
    settings.NEWSROOM_PER_HOST_CONCURRENCY = 2
    busy, other = CountingServer("127.0.0.1"), CountingServer("127.0.0.2")
    try:
        ids = [source_create(url=busy.url(f"/busy/{n}.xml")).pk for n in range(10)]
        ids += [source_create(url=other.url(f"/other/{n}.xml")).pk for n in range(2)]
        outcomes = sources_fetch_many(ids, concurrency=16)
    finally:
        busy.close()
        other.close()
    assert [o.source for o in outcomes] == ids  # order kept
    assert all(o.status == "ok" and o.new == 1 for o in outcomes), [o.error for o in outcomes if o.error]
    assert busy.peak == 2  # never more than the per-host budget...
    assert other.peak == 2  # ...and the busy host did not hold the other host's threads


@pytest.mark.django_db(transaction=True)
def test_pool_threads_keep_one_connection_each_and_close_them_all(settings) -> None:
    """A pool thread's database connection serves all its fetches (a new one per fetch cost
    PostgreSQL a backend each time); when the pool is done, none is left open."""
    settings.NEWSROOM_PER_HOST_CONCURRENCY = 3
    server = CountingServer("127.0.0.1")
    opened = []
    backends = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"

    def count(sender, connection, **kwargs) -> None:
        opened.append(threading.get_ident())

    try:
        ids = [source_create(url=server.url(f"/pool/{n}.xml")).pk for n in range(12)]
        with connection.cursor() as cursor:
            cursor.execute(backends)
            before = cursor.fetchone()[0]
        connection_created.connect(count)
        try:
            outcomes = sources_fetch_many(ids, concurrency=3)
        finally:
            connection_created.disconnect(count)
    finally:
        server.close()
    assert all(o.status == "ok" and o.new == 1 for o in outcomes), [o.error for o in outcomes if o.error]
    assert 1 <= len(opened) <= 3 and len(set(opened)) == len(opened)  # one per thread, not one per fetch
    with connection.cursor() as cursor:
        cursor.execute(backends)
        assert cursor.fetchone()[0] == before  # the threads' connections are closed
    assert Article.objects.filter(source_id__in=ids).count() == 12


@pytest.mark.django_db(transaction=True)
def test_an_interrupted_batch_still_closes_its_threads_connections(settings, monkeypatch) -> None:
    """The batch stops half-way (a task's time limit, a signal): what was fetched is kept,
    and the threads' connections are closed all the same."""
    import feeds.services as services

    settings.NEWSROOM_PER_HOST_CONCURRENCY = 3
    server = CountingServer("127.0.0.1")
    backends = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    real_wait = services.wait
    waits = []

    def wait_then_stop(*args, **kwargs):
        waits.append(1)
        if len(waits) == 3:
            raise SoftTimeLimitExceeded()
        return real_wait(*args, **kwargs)

    try:
        ids = [source_create(url=server.url(f"/stop/{n}.xml")).pk for n in range(12)]
        with connection.cursor() as cursor:
            cursor.execute(backends)
            before = cursor.fetchone()[0]
        monkeypatch.setattr(services, "wait", wait_then_stop)
        with pytest.raises(SoftTimeLimitExceeded):
            sources_fetch_many(ids, concurrency=3)
    finally:
        server.close()
    with connection.cursor() as cursor:
        cursor.execute(backends)
        assert cursor.fetchone()[0] == before  # no thread's connection left open
    stored = Article.objects.filter(source_id__in=ids).count()
    assert 3 <= stored < 12  # the fetches already handed out finished and were kept


@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "client-side"])
@pytest.mark.django_db
def test_each_outcome_writes_its_source_and_log_row_together(prepared, settings, hostile) -> None:
    """The source's update and its fetch-log row are one statement on PostgreSQL: for a
    feed, a 304 and an error, in both statement modes (values of every type, NULLs too)."""
    settings.NEWSROOM_DB_PREPARED = prepared  # read by each statement_cursor()
    source = source_create(url=hostile.url("/conditional"))
    failing = source_create(url=hostile.url("/status/500"))

    first = source_fetch(source=Source.objects.get(pk=source.pk))
    again = source_fetch(source=Source.objects.get(pk=source.pk))
    broken = source_fetch(source=Source.objects.get(pk=failing.pk))

    assert (first.status, again.status, broken.status) == ("ok", "not_modified", "error")
    source.refresh_from_db()
    failing.refresh_from_db()
    assert source.etag and source.last_status == "not_modified" and source.next_fetch_at > source.last_fetched_at
    assert failing.consecutive_errors == 1 and failing.last_error_kind and failing.last_status == "error"
    logs = list(FetchLog.objects.filter(source__in=[source, failing]).order_by("id")
                .values_list("source_id", "status", "http_status", "error_kind"))
    assert logs == [(source.pk, "ok", 200, ""), (source.pk, "not_modified", 304, ""),
                    (failing.pk, "error", 500, failing.last_error_kind)]


@pytest.mark.django_db(transaction=True)
def test_an_editors_change_during_a_batch_is_kept(settings, monkeypatch) -> None:
    """A batch reads its sources once, at its start; a fetch writes back only what it
    found (validators, schedule, health, a name the feed gave a source named after its
    host). An editor who renames a source while the batch runs keeps the new name."""
    import feeds.services as services

    settings.NEWSROOM_PER_HOST_CONCURRENCY = 2
    server = CountingServer("127.0.0.1", delay=0.05)
    real_fetch = services.fetch_url
    renamed = "编辑改过的名字"

    def editor_renames_first(url: str, **kwargs):
        if url.endswith("/edit/0.xml"):
            Source.objects.filter(url=url).update(name=renamed)  # the editor, in the admin, meanwhile
        if url.endswith("/edit/4.xml"):
            Source.objects.filter(url=url).delete()  # …and deletes another one
        return real_fetch(url, **kwargs)

    try:
        ids = [source_create(url=server.url(f"/edit/{n}.xml")).pk for n in range(5)]
        assert Source.objects.get(pk=ids[0]).name == "127.0.0.1"  # named after its host until fetched
        monkeypatch.setattr(services, "fetch_url", editor_renames_first)
        outcomes = sources_fetch_many(ids, concurrency=2)
    finally:
        server.close()
    *kept, deleted = ids
    *fetched, gone = outcomes
    assert all(o.status == "ok" and o.new == 1 for o in fetched), [o.error for o in fetched if o.error]
    assert gone.source == deleted and gone.status == "error" and "gone" in gone.error  # told, and nothing raised
    assert not FetchLog.objects.filter(source_id=deleted).exists() and not Article.objects.filter(source_id=deleted).exists()
    assert FetchLog.objects.filter(source_id__in=kept, status="ok", new=1, http_status=200).count() == 4
    ids = kept
    names = dict(Source.objects.filter(pk__in=ids).values_list("pk", "name"))
    assert names[ids[0]] == renamed  # not the name read at the batch's start, nor the feed's title
    assert [names[i] for i in ids[1:]] == [f"/edit/{n}.xml" for n in range(1, 4)]  # the feed's title
    assert all(s.last_status == "ok" and s.next_fetch_at > s.last_fetched_at for s in Source.objects.filter(pk__in=ids))


@pytest.mark.django_db
def test_lease_due_caps_sources_per_host_per_tick_and_leases_expire(settings) -> None:
    settings.NEWSROOM_PER_HOST_PER_TICK = 3
    settings.NEWSROOM_FETCH_LEASE_SECONDS = 60
    now = dj_timezone.now()
    crowded = [Source.objects.create(name=f"c{n}", slug=f"c{n}", url=f"http://crowded.example.com/{n}",
                                     next_fetch_at=now - timedelta(minutes=60 - n)).pk for n in range(20)]
    lone = Source.objects.create(name="lone", slug="lone", url="http://lone.example.com/f", next_fetch_at=now).pk
    Source.objects.create(name="off", slug="off", url="http://off.example.com/f", next_fetch_at=now, active=False)

    first = sources_lease_due(now=now)
    assert first == crowded[:3] + [lone]  # oldest due first, 3 per host, inactive never
    second = sources_lease_due(now=now)
    assert second == crowded[3:6]  # leased ones are not picked again
    # A worker that dies never reports back: after the lease the source is picked again.
    assert sources_lease_due(now=now + timedelta(seconds=61)) == first


@pytest.mark.django_db(transaction=True)
def test_two_schedulers_never_pick_the_same_source(settings) -> None:
    settings.NEWSROOM_PER_HOST_PER_TICK = 1000
    now = dj_timezone.now()
    Source.objects.bulk_create(
        Source(name=f"s{n}", slug=f"s{n}", url=f"http://h{n % 7}.example.com/{n}", next_fetch_at=now - timedelta(seconds=n))
        for n in range(400)
    )
    all_ids = set(Source.objects.values_list("pk", flat=True))
    for _round in range(5):
        Source.objects.update(leased_until=None)
        barrier = threading.Barrier(2)
        picks: dict[str, list[int]] = {}
        errors: list[BaseException] = []

        def scheduler(name: str) -> None:
            try:
                barrier.wait()
                picks[name] = sources_lease_due(limit=300)
            except BaseException as exc:  # surfaced below
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=scheduler, args=(name,)) for name in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        a, b = set(picks["a"]), set(picks["b"])
        assert len(a) == len(picks["a"]) and len(b) == len(picks["b"])
        assert not a & b, f"both schedulers picked {sorted(a & b)[:10]}"
        assert a | b <= all_ids and len(a | b) >= 300
        assert Source.objects.filter(pk__in=a | b, leased_until__isnull=True).count() == 0
