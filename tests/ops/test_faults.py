"""Faults done for real: Redis and PostgreSQL restarted while gunicorn serves
pages and a fetch loop ingests a growing feed; then 60 s of load."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest
from django.db import connection

from articles import counters
from articles.models import Article, Tag
from feeds.models import Source
from feeds.services import source_create, source_fetch
from tests.ops.conftest import get, pg_restart, redis_restart, services_ensure_up, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

RECOVERY_SECONDS = 30


class GrowingFeed:
    """An RSS feed on the test FeedServer that gains one entry per publish()."""

    def __init__(self, server, path: str) -> None:
        self.server, self.path, self.count = server, path, 0
        self.url = server.url(path)
        self.publish(3)

    def publish(self, n: int = 1) -> None:
        self.count += n
        items = "".join(
            f"<item><title>华为发布昇腾新品 第{i}篇</title><link>https://news.example.com/{self.path.strip('/')}/{i}</link>"
            f"<guid>{self.path}-{i}</guid><category>芯片</category>"
            f"<description>&lt;p&gt;第{i}篇：昇腾芯片面向大模型推理，性能提升显著，生态持续扩容。&lt;/p&gt;</description></item>"
            for i in range(self.count)
        )
        self.server.add(self.path, f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                                   f"<title>测试源</title><link>https://news.example.com/</link>{items}</channel></rss>",
                        content_type="application/rss+xml; charset=utf-8")


class FetchLoop:
    """Publishes and fetches every `interval` seconds; database errors are survived, not hidden."""

    def __init__(self, feed: GrowingFeed, source_id: int, interval: float = 0.5) -> None:
        self.feed, self.source_id, self.interval = feed, source_id, interval
        self.outcomes: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            self.feed.publish()
            try:
                outcome = source_fetch(source=Source.objects.get(pk=self.source_id))
                self.outcomes.append(outcome.status if outcome.status != "error" else f"error:{outcome.error_kind}")
            except Exception as exc:  # PostgreSQL is down: recording the error needs it too
                self.outcomes.append(f"raised:{type(exc).__name__}")
                connection.close()
            self.stop.wait(self.interval)
        connection.close()

    def __enter__(self) -> "FetchLoop":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(60)


class PageLoop:
    """Clients requesting pages from gunicorn; every answer (or failure) is kept with its time."""

    def __init__(self, server, paths: list[str], clients: int = 4) -> None:
        self.server, self.paths, self.clients = server, paths, clients
        self.answers: list[tuple[float, str, int | str]] = []
        self.stop = threading.Event()
        self.pool = ThreadPoolExecutor(clients)

    def client(self, offset: int) -> None:
        i = offset
        while not self.stop.is_set():
            path = self.paths[i % len(self.paths)]
            i += 1
            try:
                status = get(self.server.url(path), timeout=15)[0]
            except Exception as exc:
                status = type(exc).__name__
            self.answers.append((time.monotonic(), path, status))

    def __enter__(self) -> "PageLoop":
        for n in range(self.clients):
            self.pool.submit(self.client, n)
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.pool.shutdown(wait=True)

    def answered_since(self, t: float) -> bool:
        recent = [s for when, _, s in self.answers if when > t]
        return len(recent) >= 3 and all(s == 200 for s in recent[-3:])


def _site(feed_server, name: str):
    feed = GrowingFeed(feed_server, f"/{name}.xml")
    source = source_create(url=feed.url, tags=["芯片"])
    assert source_fetch(source=source).new == 3
    article = Article.objects.filter(source=source).order_by("id").first()
    tag = Tag.objects.get(name="芯片")
    paths = ["/", f"/articles/{article.pk}/", f"/tags/{quote(tag.slug)}/", f"/sources/{quote(source.slug)}/", "/hot/",
             "/feeds/latest.xml", "/search/?q=" + quote("昇腾"), "/healthz"]
    return feed, source, paths


def _reads(server, article_id: int, n: int) -> None:
    # No cookie: every request is a new visitor, so every one counts.
    for _ in range(n):
        assert get(server.url(f"/articles/{article_id}/"))[0] == 200


def test_site_recovers_from_redis_and_postgres_restarts(gunicorn_server, feed_server):
    feed, source, paths = _site(feed_server, "faults")
    counted = Article.objects.filter(source=source).order_by("-id").first()  # read by us only
    paths = [p for p in paths if p != f"/articles/{counted.pk}/"]
    _reads(gunicorn_server, counted.pk, 5)
    assert counters.flush_reads() == 5
    _reads(gunicorn_server, counted.pk, 2)  # pending in Redis: at most one flush interval of reads

    try:
        with PageLoop(gunicorn_server, paths) as pages, FetchLoop(feed, source.pk) as fetches:
            time.sleep(2)
            redis_down = time.monotonic()
            redis_restart()
            assert wait_for(lambda: pages.answered_since(redis_down), RECOVERY_SECONDS), pages.answers[-10:]
            _reads(gunicorn_server, counted.pk, 3)  # counted again once Redis is back
            pg_down = time.monotonic()
            pg_restart()
            assert wait_for(lambda: pages.answered_since(pg_down), RECOVERY_SECONDS), pages.answers[-10:]
            time.sleep(2)
            fetch_outcomes = list(fetches.outcomes)
            assert wait_for(lambda: fetches.outcomes[len(fetch_outcomes):].count("ok") >= 2, RECOVERY_SECONDS), \
                fetches.outcomes[-10:]
    finally:
        services_ensure_up()
        connection.close()

    # Every page kept answering 200 outside the outages.
    assert pages.answers and pages.answers[-1][2] == 200
    assert [s for _, _, s in pages.answers[:8]] == [200] * 8
    # No article lost, none duplicated: every entry the feed ever published is stored once.
    feed.publish()
    assert source_fetch(source=Source.objects.get(pk=source.pk)).status == "ok"
    stored = Article.objects.filter(source=source)
    assert stored.count() == feed.count
    assert stored.values("guid").distinct().count() == feed.count
    # Counters: what was flushed survived; what was pending is at most one flush interval of reads;
    # reads after the restart are counted and flushed again.
    counters.flush_reads()
    counted.refresh_from_db()
    assert 5 + 3 <= counted.read_count <= 5 + 2 + 3


def test_sixty_seconds_of_pages_and_fetching_without_errors(gunicorn_server, feed_server):
    feed, source, paths = _site(feed_server, "load")
    with PageLoop(gunicorn_server, paths, clients=6) as pages, FetchLoop(feed, source.pk, interval=1.0) as fetches:
        time.sleep(60)
    statuses = [s for _, _, s in pages.answers]
    errors = [(p, s) for _, p, s in pages.answers if s != 200]
    assert len(statuses) > 100
    assert not errors, errors[:10]
    assert fetches.outcomes and set(fetches.outcomes) == {"ok"}, fetches.outcomes
    assert source_fetch(source=Source.objects.get(pk=source.pk)).status in ("ok", "not_modified")
    assert Article.objects.filter(source=source).count() == feed.count
    # /metrics adds up both gunicorn workers (multi-process mode): every request was counted.
    text = get(gunicorn_server.url("/metrics"))[1].decode()
    served = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                 if line.startswith("newsroom_request_seconds_count{"))
    assert served >= len(statuses)
