"""One ingest call, batched: lookups shared by its entries, the search index written
with the row, related posts computed off the ingest path (one task per call, or
in-process for `manage.py fetch`) — with the same results as entry by entry."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from articles import ingest as ingest_module
from articles import search
from articles.text.simhash import _to_signed
from articles.ingest import ingest
from articles.models import Article, RelatedArticle, SearchDoc, Tag, TaggedArticle
from articles.related import refreshed_in_process
from articles.tasks import refresh_related_many
from feeds.models import Source
from newsroom.entry import EntryData
from tests.articles.e2e import fetch, item, make_source, serve_feed

pytestmark = pytest.mark.django_db

CHIP = "<p>英伟达的Blackwell推理芯片面向数据中心，推理性能大幅提升，首批产品已经交付云厂商。</p>"
CHIP_2 = "<p>Blackwell推理芯片开始量产，英伟达表示数据中心的推理需求依然旺盛，产能持续爬坡。</p>"


def _source(slug: str = "chips") -> Source:
    return Source.objects.create(name="芯片快讯", slug=slug, url=f"https://example.com/{slug}.xml",
                                 site_url="https://example.com/", default_tags="芯片")


def _entry(n: int, title: str, body: str, **kwargs) -> EntryData:
    return EntryData(guid=f"urn:batch:{n}", link=f"https://example.com/a/{n}.html", title=title, content=body,
                     published=timezone.now() - timedelta(hours=n), **kwargs)


def test_one_related_task_per_ingest_call_and_the_task_fills_the_lists(monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(refresh_related_many, "delay", lambda ids: queued.append(ids))
    source = _source()
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest(source, [_entry(1, "英伟达发布Blackwell推理芯片", CHIP), _entry(2, "Blackwell推理芯片开始量产", CHIP_2)])
    assert result.new == 2 and not result.errors
    assert queued == [sorted(result.article_ids)]
    assert not RelatedArticle.objects.exists()  # not on the ingest path

    refresh_related_many.apply(args=queued)  # what the process-queue worker runs
    first, second = sorted(result.article_ids)
    assert RelatedArticle.objects.filter(article_id=second, related_id=first).exists()
    assert RelatedArticle.objects.filter(article_id=first, related_id=second).exists()


def test_unchanged_refetch_queues_nothing(monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(refresh_related_many, "delay", lambda ids: queued.append(ids))
    source = _source()
    entries = [_entry(1, "英伟达发布Blackwell推理芯片", CHIP)]
    with django_capture_on_commit_callbacks(execute=True):
        ingest(source, entries)
        result = ingest(source, entries)
    assert result.unchanged == 1 and len(queued) == 1


@pytest.mark.django_db(transaction=True)
def test_a_refetch_that_finds_nothing_new_reads_once_and_a_new_rule_still_reaches_it(settings):
    """The editor rules and the stored fingerprints come in one statement on PostgreSQL: an
    ingest that finds nothing new reads once and writes nothing. A spam rule made since
    changes every entry's fingerprint, so the same entries go through the pipeline again
    and the rule catches the one it matches."""
    from articles.models import SpamRule

    settings.NEWSROOM_DB_PREPARED = True
    connection.close()
    source = _source()
    entries = [_entry(1, "英伟达发布Blackwell推理芯片", CHIP),
               _entry(2, "推理芯片新品，加微信领资料", "<p>加微信领资料，加微信领资料，限时免费。</p>")]
    assert ingest(source, entries).new == 2
    with CaptureQueriesContext(connection) as queries:
        again = ingest(source, entries)
    assert again.unchanged == 2 and again.new == again.updated == 0
    assert len(queries.captured_queries) == 1, [q["sql"][:80] for q in queries.captured_queries]
    SpamRule.objects.create(pattern="加微信领资料", weight=10)
    ruled = ingest(source, entries)
    assert ruled.updated == 1  # the other went through again and came out as it was stored
    assert Article.objects.get(guid="urn:batch:2").status == Article.Status.PENDING
    assert Article.objects.get(guid="urn:batch:1").status == Article.Status.PUBLISHED


def test_broker_down_refreshes_in_process(monkeypatch, django_capture_on_commit_callbacks):
    def down(ids):
        raise ConnectionError("broker is away")

    monkeypatch.setattr(refresh_related_many, "delay", down)
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest(_source(), [_entry(1, "英伟达发布Blackwell推理芯片", CHIP), _entry(2, "Blackwell推理芯片开始量产", CHIP_2)])
    first, second = sorted(result.article_ids)
    assert RelatedArticle.objects.filter(article_id=second, related_id=first).exists()


def test_fetch_command_leaves_related_posts_without_a_worker(feed_server, monkeypatch):
    monkeypatch.setattr(refresh_related_many, "delay", lambda ids: pytest.fail("fetch must not need the queue"))
    source = make_source(serve_feed(feed_server, "/chips.xml", [
        item("英伟达发布Blackwell推理芯片", CHIP, link="https://news.example.cn/1.html", categories=["芯片"]),
        item("Blackwell推理芯片开始量产", CHIP_2, link="https://news.example.cn/2.html", categories=["芯片"], minutes=5),
    ]))
    assert fetch(source)["new"] == 2
    first, second = Article.objects.filter(source=source).order_by("id")
    assert RelatedArticle.objects.filter(article=second, related=first).exists()
    assert RelatedArticle.objects.filter(article=first, related=second).exists()


def test_refreshed_in_process_collects_across_calls_and_nests():
    source = _source()
    with refreshed_in_process():
        with refreshed_in_process():
            first = ingest(source, [_entry(1, "英伟达发布Blackwell推理芯片", CHIP)]).article_ids[0]
        assert not RelatedArticle.objects.exists()  # the outermost block does the work
        second = ingest(source, [_entry(2, "Blackwell推理芯片开始量产", CHIP_2)]).article_ids[0]
    assert RelatedArticle.objects.filter(article_id=second, related_id=first).exists()
    assert RelatedArticle.objects.filter(article_id=first, related_id=second).exists()


def test_the_search_vector_is_written_with_the_row_as_index_article_would():
    source = _source()
    result = ingest(source, [_entry(1, "英伟达发布Blackwell推理芯片", CHIP), _entry(2, "只有摘要", "", summary="摘要里的昇腾芯片")])
    def written(article_id):
        return SearchDoc.objects.filter(pk=article_id).values_list("published_at", "title", "vector").get()

    for article_id in result.article_ids:
        stored = written(article_id)
        assert stored[2]
        search.reindex(Article.objects.get(pk=article_id))
        assert written(article_id) == stored
    assert search.search_articles("昇腾").count() == 1
    assert search.search_articles("英伟达").count() == 1


def test_the_same_entry_twice_in_one_feed_is_one_article():
    source = _source()
    result = ingest(source, [
        _entry(1, "英伟达发布Blackwell推理芯片", CHIP),
        _entry(1, "英伟达发布Blackwell推理芯片（更新）", CHIP_2),
        EntryData(guid="urn:batch:other-guid", link="https://example.com/a/1.html?utm_source=rss", title="同一链接",
                  content=CHIP, published=timezone.now()),
    ])
    assert not result.errors
    assert (result.new, result.updated) == (1, 2)
    article = Article.objects.get()
    assert article.title == "同一链接"
    assert Tag.objects.get(name="芯片").articles_count == 1


def test_near_duplicates_from_other_sources_join_the_story():
    body = "".join(f"<p>{CHIP[3:-4]}第{i}段：昇腾与英伟达的推理芯片在数据中心展开竞争，价格与生态都是关键。</p>" for i in range(6))
    original = ingest(_source("a"), [_entry(1, "推理芯片竞争加剧", body)]).article_ids[0]
    repost = ingest(_source("b"), [_entry(2, "转载：推理芯片竞争加剧", "<p>某公众号 11 月 19 日消息，</p>" + body)])
    assert repost.duplicate == 1
    assert Article.objects.get(pk=repost.article_ids[0]).story_id == original


@pytest.mark.django_db(transaction=True)
def test_a_deadlock_victim_is_retried_against_the_stored_row(monkeypatch):
    source = _source()
    ingest(source, [_entry(1, "英伟达发布Blackwell推理芯片", CHIP)])
    real_after_store, failures = ingest_module._after_store, []

    class Deadlock(Exception):
        sqlstate = "40P01"

    def after_store_once_deadlocked(article, tags, *, created):
        if not failures:
            failures.append(article.pk)
            try:
                raise Deadlock()
            except Deadlock as cause:
                raise OperationalError("deadlock detected") from cause
        real_after_store(article, tags, created=created)

    monkeypatch.setattr(ingest_module, "_after_store", after_store_once_deadlocked)
    assert not connection.in_atomic_block
    result = ingest(source, [_entry(1, "英伟达发布Blackwell推理芯片", CHIP_2)])
    assert failures and not result.errors
    assert (result.updated, result.unchanged) == (1, 0)  # the rolled-back attempt's edits did not hide the change
    assert "产能持续爬坡" in Article.objects.get().body


def _stored(source: Source) -> list[tuple]:
    rows = []
    for a in Article.objects.filter(source=source).order_by("guid"):
        rows.append((a.guid, a.title, a.body, a.status, a.keywords, a.simhash, a.sim_band0,
                     sorted(a.tags.names()), SearchDoc.objects.filter(pk=a.pk).values_list("title", "vector").first()))
    return rows


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "plain-cursor"])
def test_a_new_entry_in_one_statement_stores_what_the_orm_path_stores(prepared, settings):
    """Outside a transaction a new entry is one PostgreSQL statement (row, SearchDoc,
    tags, stored counts); inside one it takes the ORM path. Same results either way,
    and with prepared statements off (DATABASE_PREPARED_STATEMENTS=0, as behind PgBouncer)."""
    from django.db import transaction

    from articles.models import SpamRule

    SpamRule.objects.create(pattern="加微信领资料", weight=10)
    def entries(site):  # each source its own links: the same canonical URL would be one article
        return [EntryData(guid=f"urn:{n}", link=f"https://{site}.example.com/a/{n}.html", title=title, content=body,
                          published=timezone.now() - timedelta(hours=n), categories=categories)
                for n, title, body, categories in ((1, "英伟达发布Blackwell推理芯片", CHIP, ["GPU", "数据中心"]),
                                                   (2, "昇腾推理芯片量产", CHIP_2, []),
                                                   (3, "加微信领资料", "<p>加微信领资料，加微信领资料，限时免费。</p>", []))]

    settings.NEWSROOM_DB_PREPARED = prepared
    connection.close()  # a fresh connection: no statement prepared by an earlier test
    one_statement, orm = _source("one"), _source("orm")
    assert not connection.in_atomic_block
    with CaptureQueriesContext(connection) as queries:
        first = ingest(one_statement, entries("one"))
    assert sum(q["sql"].startswith("WITH story AS (") for q in queries.captured_queries) == 3
    assert not any(q["sql"].startswith("INSERT INTO articles_searchdoc") for q in queries.captured_queries)
    with connection.cursor() as cursor:  # this connection keeps the statement planned, or nothing
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'WITH story AS (%%'")
        assert (cursor.fetchone()[0] > 0) is prepared
    with transaction.atomic():
        second = ingest(orm, entries("orm"))
    assert (first.new, first.spam, first.errors) == (second.new, second.spam, second.errors) == (2, 1, [])
    assert _stored(one_statement) == _stored(orm)
    # Stored counts: only published articles count, for their tags and their source.
    one_statement.refresh_from_db()
    orm.refresh_from_db()
    assert one_statement.article_count == orm.article_count == 2
    assert Tag.objects.get(name="芯片").articles_count == 4
    assert Tag.objects.get(name="GPU").articles_count == 2


@pytest.mark.django_db(transaction=True)
def test_a_row_another_worker_stored_a_moment_ago_is_not_stored_twice(monkeypatch):
    source = _source()
    ingest(source, [_entry(1, "英伟达发布Blackwell推理芯片", CHIP)])
    # This worker's lookup ran before the other worker's row was committed: it sees no row.
    monkeypatch.setattr(ingest_module._Batch, "existing", lambda self, p: None)
    result = ingest(source, [_entry(1, "英伟达发布Blackwell推理芯片（更新）", CHIP_2)])
    assert (result.new, result.unchanged, result.errors) == (0, 1, [])
    assert Article.objects.count() == 1 and SearchDoc.objects.count() == 1
    source.refresh_from_db()
    assert source.article_count == 1 and Tag.objects.get(name="芯片").articles_count == 1


@pytest.mark.django_db(transaction=True)
def test_a_new_entry_whose_one_statement_is_a_deadlock_victim_is_retried(monkeypatch):
    source = _source()
    real_insert, failures = ingest_module._insert_new, []

    class Deadlock(Exception):
        sqlstate = "40P01"

    def insert_once_deadlocked(*args, **kwargs):
        if not failures:
            failures.append(1)
            try:
                raise Deadlock()
            except Deadlock as cause:
                raise OperationalError("deadlock detected") from cause
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(ingest_module, "_insert_new", insert_once_deadlocked)
    result = ingest(source, [_entry(1, "英伟达发布Blackwell推理芯片", CHIP)])
    assert failures and (result.new, result.errors) == (1, [])
    assert Article.objects.count() == SearchDoc.objects.count() == 1
    source.refresh_from_db()
    assert source.article_count == 1 and Tag.objects.get(name="芯片").articles_count == 1


def _many(site: str) -> list[EntryData]:
    """A feed with what a store loop must get right: twelve new entries, the first one
    again later (changed), another by the same canonical URL, spam, one that can't be prepared."""
    topics = ["英伟达", "昇腾", "寒武纪", "摩尔线程", "壁仞", "沐曦", "海光", "龙芯", "飞腾", "兆芯", "天数智芯", "燧原"]
    entries = [EntryData(guid=f"urn:{site}:{n}", link=f"https://{site}.example.com/a/{n}.html", title=f"{name}推理芯片第{n}代发布",
                         content=f"<p>{name}发布第{n}代推理芯片，{CHIP[3:-4]}</p>", categories=["GPU"] if n % 3 else [],
                         published=timezone.now() - timedelta(hours=n))
               for n, name in enumerate(topics, start=1)]
    entries.insert(5, EntryData(guid=f"urn:{site}:broken", link=f"https://{site}.example.com/broken", title="坏条目",
                                content="<p>这一条在准备时出错。</p>", published=timezone.now()))
    entries.insert(7, EntryData(guid=f"urn:{site}:spam", link=f"https://{site}.example.com/spam", title="加微信领资料",
                                content="<p>加微信领资料，加微信领资料，限时免费。</p>", published=timezone.now()))
    entries += [EntryData(guid=f"urn:{site}:1", link=f"https://{site}.example.com/a/1.html", title="英伟达推理芯片第1代发布（更新）",
                          content=f"<p>更新：{CHIP_2[3:-4]}</p>", published=timezone.now() - timedelta(hours=1)),
                EntryData(guid=f"urn:{site}:same-url", link=f"https://{site}.example.com/a/2.html?utm_source=rss",
                          title="同一链接", content=CHIP, published=timezone.now())]
    return entries


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "plain"])
def test_preparing_the_next_entry_while_the_server_writes_stores_what_one_by_one_stores(prepared, settings, monkeypatch):
    """With INGEST_OVERLAP on, entry n+1 is prepared while entry n's INSERT runs on the
    server: the same rows, tags, counts and errors as waiting for each INSERT."""
    from articles.models import SpamRule
    from newsroom import db

    SpamRule.objects.create(pattern="加微信领资料", weight=10)
    settings.NEWSROOM_DB_PREPARED = prepared
    real_prepare, real_send, sent = ingest_module.prepare_entry, db.send_statement, []

    def prepare(entry, ctx):
        if entry.guid.endswith(":broken"):
            raise ValueError("准备失败")
        return real_prepare(entry, ctx)

    def send(sql, params):
        statement = real_send(sql, params)
        sent.append(statement is not None)
        return statement

    monkeypatch.setattr(ingest_module, "prepare_entry", prepare)
    monkeypatch.setattr(ingest_module, "send_statement", send)
    results = {}
    for overlap in (True, False):
        settings.NEWSROOM_INGEST_OVERLAP = overlap
        site = "ahead" if overlap else "waited"
        source = _source(site)
        results[overlap] = (source, ingest(source, _many(site)))
        assert sent and all(sent) if overlap else not sent
        sent.clear()
    (ahead, got), (waited, expected) = results[True], results[False]
    assert (got.new, got.updated, got.spam, got.unchanged) == (expected.new, expected.updated, expected.spam,
                                                               expected.unchanged) == (12, 2, 1, 0)
    assert [e.split(": ", 1)[1] for e in got.errors] == [e.split(": ", 1)[1] for e in expected.errors] == ["准备失败"]
    assert len(got.article_ids) == len(expected.article_ids) == 15

    def stored(source):  # the sites differ in links only
        return [row[1:] for row in _stored(source)]

    assert stored(ahead) == stored(waited)
    ahead.refresh_from_db()
    waited.refresh_from_db()
    assert ahead.article_count == waited.article_count == 12
    assert Tag.objects.get(name="GPU").articles_count == 2 * 8


# Twelve entries, with overlap: entry 1 is prepared, then entry n + 1 while entry n's INSERT runs.
_PREPARED_WHILE_2_IS_STORED = "urn:batch:3"


@pytest.mark.django_db(transaction=True)
def test_an_interruption_while_preparing_ahead_leaves_the_sent_entry_stored_and_the_connection_free(settings, monkeypatch):
    """A time limit or shutdown while the next entry is prepared: the INSERT that was
    running is read to the end (stored, committed), and the connection serves the next query."""
    settings.NEWSROOM_INGEST_OVERLAP = True
    real_prepare = ingest_module.prepare_entry

    class Stop(BaseException):
        pass

    def prepare(entry, ctx):
        if entry.guid == _PREPARED_WHILE_2_IS_STORED:
            raise Stop()
        return real_prepare(entry, ctx)

    monkeypatch.setattr(ingest_module, "prepare_entry", prepare)
    source = _source()
    with pytest.raises(Stop):
        ingest(source, [_entry(n, f"第{n}条推理芯片快讯", CHIP if n % 2 else CHIP_2) for n in range(1, 13)])
    assert sorted(Article.objects.values_list("guid", flat=True)) == ["urn:batch:1", "urn:batch:2"]
    assert SearchDoc.objects.count() == 2
    monkeypatch.setattr(ingest_module, "prepare_entry", real_prepare)
    again = ingest(source, [_entry(n, f"第{n}条推理芯片快讯", CHIP if n % 2 else CHIP_2) for n in range(1, 13)])
    assert (again.new, again.unchanged, again.errors) == (10, 2, [])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("overlap", [True, False], ids=["overlap", "one-by-one"])
def test_the_fetch_tasks_time_limit_stops_ingest_and_the_source_shows_a_timeout(overlap, settings, monkeypatch):
    """Celery's soft time limit is not one entry's failure: the fetch stops, what is
    stored stays, the editor sees a timeout, and the next fetch stores the rest."""
    from celery.exceptions import SoftTimeLimitExceeded

    from feeds.models import FetchLog
    from feeds.services import source_fetch

    settings.NEWSROOM_INGEST_OVERLAP = overlap
    real_prepare = ingest_module.prepare_entry

    def prepare(entry, ctx):
        if entry.guid == _PREPARED_WHILE_2_IS_STORED:
            raise SoftTimeLimitExceeded()
        return real_prepare(entry, ctx)

    items = "".join(f"<item><title>第{n}条推理芯片快讯</title><link>https://example.com/a/{n}.html</link>"
                    f"<guid>urn:batch:{n}</guid><description><![CDATA[{CHIP if n % 2 else CHIP_2}]]></description></item>"
                    for n in range(1, 13))
    feed = f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>芯片</title>{items}</channel></rss>'
    source = _source()
    monkeypatch.setattr(ingest_module, "prepare_entry", prepare)
    outcome = source_fetch(source=source, content=feed.encode(), content_type="application/rss+xml")
    assert (outcome.status, outcome.error_kind) == ("error", "timeout")
    # Stored before the limit: with overlap the entries before the one being prepared,
    # without it none (every entry is prepared before the first is stored).
    stored_first = ["urn:batch:1", "urn:batch:2"] if overlap else []
    assert sorted(Article.objects.values_list("guid", flat=True)) == stored_first
    source.refresh_from_db()
    assert source.last_error_kind == "timeout" and "超过任务时限" in source.last_error
    assert FetchLog.objects.get(source=source).error_kind == "timeout"
    monkeypatch.setattr(ingest_module, "prepare_entry", real_prepare)
    again = source_fetch(source=source, content=feed.encode(), content_type="application/rss+xml")
    assert (again.status, again.new) == ("ok", 12 - len(stored_first))
    assert Article.objects.count() == 12


@pytest.mark.django_db(transaction=True)
def test_the_lookups_every_ingest_repeats_are_prepared_and_find_what_the_orm_finds(settings):
    """Stored rows by guid / canonical URL and the unchanged-entry check run as prepared
    statements with array parameters on PostgreSQL, and a new article's story is looked up
    by its prepared INSERT; they find the same rows, with the same loaded fields, as the
    ORM path finds."""
    from django.db.models import Q

    settings.NEWSROOM_DB_PREPARED = True
    connection.close()
    body = "".join(f"<p>{CHIP[3:-4]}第{i}段：昇腾与英伟达的推理芯片在数据中心展开竞争，价格与生态都是关键。</p>" for i in range(6))
    mine, other = _source("mine"), _source("other")
    ingest(other, [_entry(1, "推理芯片竞争加剧", body), _entry(2, "昇腾推理芯片量产", CHIP_2)])
    stored = ingest(mine, [_entry(3, "英伟达发布Blackwell推理芯片", CHIP)])
    Article.objects.filter(guid="urn:batch:2").update(status=Article.Status.PENDING)  # no story root
    ctx = ingest_module._Context(mine)
    prepared = [ingest_module.prepare_entry(e, ctx) for e in (
        _entry(3, "英伟达发布Blackwell推理芯片（更新）", CHIP_2),  # mine, by guid
        EntryData(guid="urn:x", link="https://example.com/a/1.html?utm_source=x", title="同一链接", content=CHIP,
                  published=timezone.now()),  # other's row, by canonical URL
        _entry(4, "转载：推理芯片竞争加剧", "<p>某公众号消息，</p>" + body),  # other's near-duplicate
    )]
    batch = ingest_module._Batch(mine, [])
    batch.add(prepared)
    orm_rows = Article.objects.filter(Q(source=mine, guid_hash__in=[p.guid_hash for p in prepared])
                                      | Q(url_hash__in=[p.url_hash for p in prepared])).order_by("id")
    assert sorted({a.pk for a in [*batch.by_guid.values(), *batch.by_url.values()]}) == [a.pk for a in orm_rows]
    found = batch.existing(prepared[0])
    assert found.pk == stored.article_ids[0] and found.body == Article.objects.get(pk=found.pk).body
    assert batch.existing(prepared[1]).guid == "urn:batch:1"
    assert [c.pk for c in batch.story_candidates] == list(
        Article.objects.filter(Q(sim_band0__in=[ingest_module._band(prepared[2].simhash, 0)])
                               | Q(sim_band1__in=[ingest_module._band(prepared[2].simhash, 1)])
                               | Q(sim_band2__in=[ingest_module._band(prepared[2].simhash, 2)])
                               | Q(sim_band3__in=[ingest_module._band(prepared[2].simhash, 3)]))
        .exclude(source=mine).filter(status=Article.Status.PUBLISHED).order_by("id").values_list("id", flat=True))
    assert batch.story(prepared[2]).guid == "urn:batch:1"
    again = ingest(mine, [_entry(3, "英伟达发布Blackwell推理芯片", CHIP)])
    assert again.unchanged == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        statements = " ".join(row[0] for row in cursor.fetchall())
    assert "guid_hash = ANY" in statements and "WITH story AS" in statements and "bit_count(" in statements
    # The unchanged-entry check comes with the editor rules, in the same statement.
    assert "SELECT 2, 0, guid_hash, false, 0, raw_hash" in statements and "WHERE active" in statements


@pytest.mark.django_db(transaction=True)
def test_a_sent_insert_that_comes_back_a_deadlock_victim_is_retried(settings, monkeypatch):
    """The error of an INSERT sent ahead arrives only when its result is read, after the
    next entry was prepared: it still reaches the deadlock retry, and nothing is lost or doubled."""
    settings.NEWSROOM_INGEST_OVERLAP = True
    real_send, victims = ingest_module.send_statement, []

    def send(sql, params):
        if not victims:
            victims.append(sql)
            return real_send("DO $$ BEGIN RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01'; END $$", [])
        return real_send(sql, params)

    monkeypatch.setattr(ingest_module, "send_statement", send)
    source = _source()
    result = ingest(source, [_entry(n, f"第{n}条推理芯片快讯", CHIP if n % 2 else CHIP_2) for n in range(1, 5)])
    assert victims and (result.new, result.errors) == (4, [])
    assert Article.objects.count() == SearchDoc.objects.count() == 4
    source.refresh_from_db()
    assert source.article_count == 4 and Tag.objects.get(name="芯片").articles_count == 4


@pytest.mark.django_db(transaction=True)
def test_the_one_statement_finds_the_story_the_orm_path_finds():
    """A new article's statement looks its story up itself (``_STORY_SQL``). Against
    stored rows made to catch every rule — other sources only, published only, fetched
    in the window, the first STORY_CANDIDATES band matches by id, within the distance,
    a match's own story — it answers as ``_Batch.story`` does, for hashes near and far."""
    import random
    from types import SimpleNamespace

    rng = random.Random(11)
    mine, other, third = _source("mine"), _source("other"), _source("third")
    base = rng.getrandbits(64)
    old = timezone.now() - ingest_module.NEAR_DUPLICATE_WINDOW - timedelta(days=1)
    rows = []
    for n in range(300):  # more than STORY_CANDIDATES share a band with base
        flips = rng.choice([0, 1, 2, 3, 4, 5, 8, 20])
        value = base
        for bit in rng.sample(range(64), flips):
            value ^= 1 << bit
        if rng.random() < 0.3:
            value = (value & ~0xFFFF) | rng.getrandbits(16)  # band 0 differs: fewer bands shared
        value = _to_signed(value)
        rows.append(Article(
            source=rng.choice([mine, other, other, third]), guid=f"urn:story:{n}", guid_hash=f"{n:040x}",
            title=f"候选{n}", body="<p>候选</p>", simhash=value,
            **{f"sim_band{i}": ingest_module._band(value, i) for i in range(4)},
            status=rng.choice([Article.Status.PUBLISHED] * 4 + [Article.Status.PENDING, Article.Status.HIDDEN]),
            fetched_at=old if rng.random() < 0.15 else timezone.now()))
    Article.objects.bulk_create(rows)
    stored = list(Article.objects.order_by("id"))
    for article in rng.sample(stored, 20):  # some matches are reposts themselves: their story is the root's
        article.story_id = rng.choice(stored[:10]).pk
        article.save(update_fields=["story_id"])

    batch = ingest_module._Batch(mine, [])
    batch.story_candidates = batch._load_story_candidates([SimpleNamespace(simhash=_to_signed(base))])
    assert len(batch.story_candidates) > ingest_module.STORY_CANDIDATES  # the limit is in play
    answered = []
    for _ in range(300):
        probe = base
        for bit in rng.sample(range(64), rng.choice([0, 1, 2, 3, 4, 6])):
            probe ^= 1 << bit
        p = SimpleNamespace(simhash=_to_signed(probe))
        batch.story_candidates = batch._load_story_candidates([p])
        story = batch.story(p)
        expected = (story.story_id or story.id) if story else None
        since = timezone.now() - ingest_module.NEAR_DUPLICATE_WINDOW
        with connection.cursor() as cursor:
            cursor.execute(ingest_module._STORY_SQL, [*(ingest_module._band(p.simhash, i) for i in range(4)), since, mine.pk,
                                                      Article.Status.PUBLISHED, p.simhash, ingest_module.NEAR_DUPLICATE_DISTANCE])
            row = cursor.fetchone()
        assert (row[0] if row else None) == expected, p.simhash
        answered.append(expected)
    assert any(answered) and None in answered  # both kinds of answer were asked for


@pytest.mark.django_db(transaction=True)
def test_a_repost_stored_in_one_statement_joins_the_story_and_leaves_the_tag_lists():
    body = "".join(f"<p>{CHIP[3:-4]}第{i}段：昇腾与英伟达的推理芯片在数据中心展开竞争，价格与生态都是关键。</p>" for i in range(6))
    assert not connection.in_atomic_block
    original = ingest(_source("a"), [_entry(1, "推理芯片竞争加剧", body)]).article_ids[0]
    repost = ingest(_source("b"), [_entry(2, "转载：推理芯片竞争加剧", "<p>某公众号 11 月 19 日消息，</p>" + body),
                                   _entry(3, "另一条：昇腾推理芯片量产", CHIP_2)])
    assert (repost.new, repost.duplicate) == (2, 1)
    copy, alone = Article.objects.filter(pk__in=repost.article_ids).order_by("guid")
    assert (copy.story_id, alone.story_id) == (original, None)
    assert original in repost.changed_pages  # the story's pages list the repost
    chips = Tag.objects.get(name="芯片")
    listed = dict(TaggedArticle.objects.filter(tag=chips).values_list("content_object_id", "listed"))
    assert listed == {original: True, copy.pk: False, alone.pk: True}  # a repost is listed under its story only
    assert chips.articles_count == 3


@pytest.mark.django_db(transaction=True)
def test_stored_vectors_are_merged_into_the_search_index_by_the_maintenance_queue(monkeypatch):
    """Ingest leaves the search index's pending list to a maintenance task, queued once
    for all the fetches of MERGE_AFTER_SECONDS; until it runs, search finds the articles
    in the list, and after it, in the index."""
    from django.core.cache import cache

    from articles.tasks import merge_search_index

    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [search.SEARCH_INDEX])
        assert "gin_pending_list_limit=16384" in cursor.fetchone()[0]  # migration 0012
    search.merge_pending()
    queued = []
    monkeypatch.setattr(merge_search_index, "apply_async", lambda **options: queued.append(options))
    cache.delete("search-merge-queued")
    a, b = _source("a"), _source("b")
    ingest(a, [_entry(1, "英伟达发布Blackwell推理芯片", CHIP)])
    ingest(b, [_entry(2, "昇腾推理芯片量产", CHIP_2)])
    ingest(a, [_entry(1, "英伟达发布Blackwell推理芯片", CHIP)])  # nothing new: nothing to merge
    assert [o["countdown"] for o in queued] == [search.MERGE_AFTER_SECONDS]
    assert search.search_articles("推理芯片").count() == 2  # read from the pending list
    assert merge_search_index.run() > 0 and search.merge_pending() == 0
    assert search.search_articles("推理芯片").count() == 2 and search.search_articles("昇腾").count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_entry_without_guid_or_link_is_found_again_by_the_guid_made_for_it():
    """The rows an ingest may update are loaded by the raw entries' keys; an entry with
    neither guid nor link gets a guid made from its title, and is looked up by it when it comes."""
    source = _source()
    published = timezone.now() - timedelta(hours=1)

    def bare(body):
        return [EntryData(guid="", link="", title="没有链接的快讯", content=body, published=published),
                _entry(2, "昇腾推理芯片量产", CHIP_2)]

    first = ingest(source, bare(CHIP))
    again = ingest(source, bare(CHIP))
    changed = ingest(source, bare(CHIP_2))
    assert (first.new, again.unchanged, changed.updated, changed.unchanged) == (2, 2, 1, 1)
    assert Article.objects.filter(source=source).count() == 2
    assert "产能持续爬坡" in Article.objects.get(title="没有链接的快讯").body


@pytest.mark.django_db(transaction=True)
def test_a_merge_that_cannot_be_queued_loses_nothing(monkeypatch, caplog):
    """Redis away when ingest queues the index merge: the articles are stored and found,
    a warning says so, and the list is merged later (by the next merge, a vacuum, or the
    INSERT that overfills it)."""
    from django.core.cache import cache

    def unreachable(*args, **kwargs):
        raise ConnectionError("redis is away")

    monkeypatch.setattr(cache, "add", unreachable)
    with caplog.at_level("WARNING", logger="articles.search"):
        result = ingest(_source(), [_entry(1, "英伟达发布Blackwell推理芯片", CHIP), _entry(2, "昇腾推理芯片量产", CHIP_2)])
    assert (result.new, result.errors) == (2, [])
    assert "could not queue the search index merge" in caplog.text
    assert search.search_articles("推理芯片").count() == 2
    search.merge_pending()
    assert search.search_articles("推理芯片").count() == 2


def test_the_orm_path_asks_for_each_tag_name_once(monkeypatch):
    """Inside a transaction (the ORM path) the entries' tag names are looked up together
    before storing; a name no tag answers to is then created, not looked up again."""
    from articles import tags as tags_module

    asked = []
    real = tags_module.tags_resolve_many

    def counting(names, **kwargs):
        names = list(names)
        asked.extend(names)
        return real(names, **kwargs)

    monkeypatch.setattr(ingest_module, "tags_resolve_many", counting)
    assert connection.in_atomic_block
    result = ingest(_source(), [_entry(n, f"第{n}条推理芯片快讯", CHIP, categories=["新标签甲", "GPU"]) for n in range(1, 4)])
    assert (result.new, result.errors) == (3, [])
    assert sorted(asked) == sorted(set(asked)) and {"新标签甲", "GPU"} <= set(asked)
    assert Tag.objects.filter(name="新标签甲").count() == 1
