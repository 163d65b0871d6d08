"""Idempotent end to end: fetches that run twice, or die half-way, lose and duplicate nothing."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count

from articles.models import Article
from feeds.models import Source
from feeds.services import source_create
from feeds.tasks import fetch_source
from tests.conftest import app_env

REPO = Path(__file__).resolve().parents[2]


def _feed(title: str, n: int, item) -> str:
    """An RSS feed of ``n`` items, the newest first: ``item(i, pubDate)`` writes each."""
    now = datetime.now(timezone.utc)
    items = "".join(item(i, format_datetime(now - timedelta(minutes=i), usegmt=True)) for i in range(n))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
            f"<language>zh-cn</language>{items}</channel></rss>")


def big_feed(n: int) -> str:
    return _feed("可靠性测试源", n, lambda i, when: (
        f"<item><title>第 {i} 条：国产芯片厂商发布新品，性能提升 {i % 50} 倍</title>"
        f"<link>http://news.example.com/a/{i}.html</link><guid>urn:reliability:{i}</guid><pubDate>{when}</pubDate>"
        f"<description><![CDATA[<p>第 {i} 篇报道。处理器、显卡、大模型与开源社区的新闻，编号 {i}。</p>"
        f"<p>这是为可靠性测试准备的正文段落，包含足够的中文文本以便分词、去重与打标签，序号 {i * 7}。</p>]]>"
        f"</description></item>"))


def assert_each_entry_once(source: Source, n: int) -> None:
    rows = Article.objects.filter(source=source)
    assert rows.count() == n
    assert rows.values("guid").distinct().count() == n
    assert not rows.values("guid").annotate(c=Count("id")).filter(c__gt=1).exists()
    assert set(rows.values_list("guid", flat=True)) == {f"urn:reliability:{i}" for i in range(n)}


@pytest.mark.django_db(transaction=True)
def test_the_same_fetch_running_twice_at_once_duplicates_nothing(feed_server) -> None:
    n = 60
    source = source_create(url=feed_server.add("/twice.xml", big_feed(n)))
    results: list[dict | None] = []

    def run() -> None:
        try:
            results.append(fetch_source.run(source.pk))  # the task body, as a redelivered copy would run it
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 3 and all(r and r["status"] == "ok" for r in results), results
    assert sum(r["new"] for r in results) == n  # each entry counted new exactly once
    assert_each_entry_once(source, n)
    source.refresh_from_db()
    assert source.leased_until is None


def _start_worker(env: dict, schedule: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "newsroom", "worker", "-B", "-Q", "fetch,process,maintenance",
         "--pool", "threads", "-c", "2", "--loglevel", "INFO", "--without-mingle", "--without-gossip",
         "-s", str(schedule)],
        cwd=REPO, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: SIGKILL reaches the embedded beat too
    )


def _kill(worker: subprocess.Popen) -> None:
    try:
        os.killpg(worker.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    worker.wait(10)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_ingest_three_times_loses_and_duplicates_nothing(feed_server, tmp_path) -> None:
    n = 250  # enough entries that ingest takes seconds: we kill while it is half-way
    source = source_create(url=feed_server.add("/big.xml", big_feed(n)))
    # The killed worker never acks or reports back: the broker redelivers its message and the
    # scheduler re-picks the source once the lease expires. Both paths run here.
    env = app_env(NEWSROOM_SCHEDULE_SECONDS="1", NEWSROOM_FETCH_LEASE_SECONDS="3",
                  NEWSROOM_BROKER_VISIBILITY_TIMEOUT="5", NEWSROOM_VAR_DIR=str(tmp_path / "var"))
    log = tmp_path / "worker.log"
    killed_at: list[int] = []
    worker: subprocess.Popen | None = None
    try:
        for attempt in range(3):
            worker = _start_worker(env, tmp_path / f"beat-{attempt}", log)
            before = killed_at[-1] if killed_at else 0
            deadline = time.monotonic() + 120
            count = before
            try:
                while time.monotonic() < deadline and worker.poll() is None:
                    count = Article.objects.filter(source=source).count()
                    if count > before:
                        break  # this worker is storing entries right now
                    time.sleep(0.05)
            finally:
                _kill(worker)
            killed_at.append(Article.objects.filter(source=source).count())
            assert before < count < n, f"attempt {attempt}: not killed mid-ingest ({before} → {count})\n{log.read_text()[-3000:]}"
        assert killed_at[-1] < n

        # A fresh worker finishes the job.
        worker = _start_worker(env, tmp_path / "beat-final", log)
        finished = False
        try:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and worker.poll() is None:
                source.refresh_from_db()
                # "not_modified": a second copy of the job (the broker's redelivery, the scheduler's
                # re-pick) fetched right after the one that finished, with the validators only a
                # whole successful fetch stores. Polled every 0.5 s, the "ok" between them can be missed.
                if (Article.objects.filter(source=source).count() >= n
                        and source.last_status in ("ok", "not_modified")):
                    finished = True
                    break
                time.sleep(0.5)
        finally:
            worker.terminate()
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                _kill(worker)
    finally:
        for leftover in (w for w in [worker] if w is not None and w.poll() is None):
            _kill(leftover)  # never leave a worker (or its beat) behind
    output = log.read_text(errors="replace")
    source.refresh_from_db()
    assert finished, output[-4000:]
    # A re-fetch the scheduler handed out before the worker stopped may finish during its warm
    # shutdown: the feed is unchanged by then, so that last fetch is a 304.
    assert source.last_status in ("ok", "not_modified"), output[-4000:]
    assert_each_entry_once(source, n)
    assert source.leased_until is None
    assert output.count("feeds.tasks.fetch_source") >= 4


def shared_links_feed(source_no: int, n: int) -> str:
    """A feed whose entries are other sites' reposts of the same articles: guids of its own,
    links (after tracking parameters go) to the same pages as every other such feed."""
    return _feed(f"镜像源 {source_no}", n, lambda i, when: (
        f"<item><title>转载 {source_no}：第 {i} 条国产芯片新闻</title>"
        f"<link>http://news.example.com/a/{i}.html?utm_source=feed{source_no}</link><guid>urn:mirror{source_no}:{i}</guid>"
        f"<pubDate>{when}</pubDate>"
        f"<description><![CDATA[<p>镜像站 {source_no} 转载的第 {i} 篇报道，处理器与显卡的新闻，编号 {i}。</p>]]></description>"
        f"</item>"))


def _fetch_at_once(source_ids: list[int]) -> list[dict]:
    """The fetch task of each source, in threads released together (the fetch worker runs
    many at once); every outcome must be ok."""
    results: list[dict | None] = []
    start = threading.Barrier(len(source_ids))

    def run(source_id: int) -> None:
        try:
            start.wait(10)
            results.append(fetch_source.run(source_id))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(sid,)) for sid in source_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == len(source_ids) and all(r and r["status"] == "ok" for r in results), results
    return results


@pytest.mark.django_db(transaction=True)
def test_sources_fetched_at_once_store_a_shared_url_once(feed_server) -> None:
    """The fetch worker runs many fetches at once: feeds that carry the same article URL
    (reposts, mirrors) must still store it once, the others counted as duplicates — as
    when they are fetched one after another."""
    n, copies = 30, 4
    sources = [source_create(url=feed_server.add(f"/mirror-{k}.xml", shared_links_feed(k, n))) for k in range(copies)]
    Source.objects.update(fetch_full_text=False)
    results = _fetch_at_once([s.pk for s in sources])
    rows = Article.objects.exclude(url_hash="")
    assert not rows.values("url_hash").annotate(c=Count("id")).filter(c__gt=1).exists()
    assert rows.count() == n
    assert sum(r["new"] for r in results) == n
    assert sum(r["duplicate"] for r in results) == n * (copies - 1)


@pytest.mark.django_db(transaction=True)
def test_reposts_fetched_at_once_end_as_one_story(feed_server) -> None:
    """Copies of one announcement from sources fetched at the same moment may each miss
    the others at ingest; once the process queue's related refresh has run for what the
    fetches stored, they are one story (one root, the oldest), as if fetched in turn."""
    from articles.tasks import refresh_related_many
    from tests.articles.fixtures.reposts import REPOST_ITHOME, REPOST_PORTAL, REPOST_WECHAT

    def body(text: str) -> str:
        return "".join(f"<p>{line}</p>" for line in text.splitlines() if line.strip())

    copies = [REPOST_ITHOME, REPOST_WECHAT, REPOST_PORTAL, REPOST_ITHOME]
    sources = [source_create(url=feed_server.add(f"/copy-{k}.xml", _feed(f"转载源 {k}", 1, lambda i, when, k=k, text=text: (
        f"<item><title>英伟达新推理平台（转载 {k}）</title><link>https://copy{k}.example.cn/a</link>"
        f"<guid>urn:copy{k}</guid><pubDate>{when}</pubDate><description><![CDATA[{body(text)}]]></description></item>"))))
        for k, text in enumerate(copies)]
    Source.objects.update(fetch_full_text=False)
    _fetch_at_once([s.pk for s in sources])
    refresh_related_many.run(sorted(Article.objects.values_list("id", flat=True)))  # what the process worker runs
    rows = list(Article.objects.order_by("id").values_list("id", "story_id"))
    assert len(rows) == len(copies)
    root = rows[0][0]
    assert rows[0][1] is None and all(story == root for _, story in rows[1:]), rows
