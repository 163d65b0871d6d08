"""Anonymous pages come from the Redis page cache; read counts still move on them."""
from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import timezone

from articles import counters
from articles.ingest import ingest
from newsroom.entry import EntryData
from tests.conftest import page_text
from tests.readers.conftest import store


def _counting_redis_calls(monkeypatch) -> list:
    """Round trips to Redis, whichever way they are sent (a command, a pipeline, a script
    on the page cache's own connection): every one goes out through send_packed_command."""
    from redis.connection import AbstractConnection

    calls = []
    real = AbstractConnection.send_packed_command

    def counting(self, command, *args, **kwargs):
        first = command[0] if isinstance(command, list) else command
        calls.append(bytes(first)[:60])
        return real(self, command, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    return calls


@pytest.mark.django_db
def test_cached_article_page_costs_no_queries_and_counts_still_move(source, django_assert_num_queries):
    article = store(source, "英伟达发布推理平台", "英伟达今天发布了新的推理平台，面向数据中心。")
    url = f"/articles/{article.pk}/"
    first = Client().get(url)  # the page's first reader: rendered, not kept
    assert first.status_code == 200 and "阅读 1" in page_text(first.content)
    second = Client().get(url)  # asked for again: rendered and kept
    assert "阅读 2" in page_text(second.content)

    # A third reader gets the cached page: no database work at all, and their read counts.
    with django_assert_num_queries(0):
        third = Client().get(url)
    assert "阅读 3" in page_text(third.content)
    assert "英伟达发布推理平台" in page_text(third.content)

    # The same reader reloading: served from cache, count unchanged.
    reader = Client()
    reader.get(url)
    assert "阅读 4" in page_text(reader.get(url).content)

    # The list page shows the live count too, also when served from the cache.
    Client().get("/")
    Client().get("/")
    with django_assert_num_queries(0):
        assert "阅读 4" in page_text(Client().get("/").content)

    # Flushing moves the counts to PostgreSQL; pages neither lose nor double them.
    assert counters.flush_reads() == 4
    assert "阅读 4" in page_text(Client().get("/").content)
    assert "阅读 5" in page_text(Client().get(url).content)


@pytest.mark.django_db(transaction=True)  # the cache is invalidated when the ingest commits
def test_an_updated_article_is_not_served_stale(source):
    article = store(source, "旧标题：芯片发布会", "芯片发布会的正文内容，介绍了新一代产品。")
    url = f"/articles/{article.pk}/"
    assert "旧标题" in page_text(Client().get(url).content)
    ingest(source, [EntryData(guid=article.guid, link=article.url, title="新标题：芯片发布会",
                              content="<p>芯片发布会的正文内容，介绍了新一代产品。</p>", published=timezone.now())])
    text = page_text(Client().get(url).content)
    assert "新标题" in text and "旧标题" not in text
    assert "新标题" in page_text(Client().get("/").content)


@pytest.mark.django_db
def test_logged_in_readers_get_their_own_page(source, django_user_model):
    article = store(source, "开源大模型发布", "一个新的开源大模型今天发布。")
    Client().get(f"/articles/{article.pk}/")
    user = django_user_model.objects.create_user("me", password="pw-me-12345")
    client = Client()
    client.force_login(user)
    html = client.get(f"/articles/{article.pk}/").content.decode()
    assert "csrfmiddlewaretoken" in html and "me" in page_text(html)


@pytest.mark.django_db
def test_a_cache_hit_is_one_redis_round_trip_with_the_site_headers(source, monkeypatch):
    article = store(source, "寒武纪发布新芯片", "寒武纪今天发布了新一代云端推理芯片。")
    url = f"/articles/{article.pk}/"
    Client().get(url)
    Client().get(url)  # asked for again: rendered and kept

    calls = _counting_redis_calls(monkeypatch)
    hit = Client().get(url)
    assert hit.status_code == 200 and "寒武纪发布新芯片" in page_text(hit.content)
    assert len(calls) == 1, calls  # the lookup script: page, read count and pending counts at once
    assert "阅读 3" in page_text(hit.content)
    # Served before the per-reader middleware, yet with every header the site sends.
    assert hit["Content-Security-Policy"] and hit["X-Frame-Options"] == "DENY"
    assert "Cookie" in hit["Vary"] and hit["Content-Type"].startswith("text/html")
    assert hit.cookies["nr_vid"].value  # a new visitor gets their id on a cached page too


@pytest.mark.django_db
def test_a_reader_with_a_session_never_gets_the_shared_page(source, django_user_model):
    article = store(source, "昇腾生态大会召开", "昇腾生态大会今天召开，发布多款产品。")
    Client().get(f"/articles/{article.pk}/")
    staff = django_user_model.objects.create_user("editor", password="pw-editor-123", is_staff=True)
    client = Client()
    client.force_login(staff)
    html = client.get(f"/articles/{article.pk}/").content.decode()
    assert "editor" in page_text(html) and "管理" in page_text(html)


@pytest.mark.django_db
def test_with_redis_unreachable_pages_render_and_reads_go_to_the_database(source, monkeypatch):
    import redis

    article = store(source, "摩尔线程发布新显卡", "摩尔线程今天发布了新一代显卡。")
    url = f"/articles/{article.pk}/"
    Client().get(url)  # read while Redis works: one read pending

    def down(*args, **kwargs):
        raise redis.ConnectionError("Redis is restarting")

    monkeypatch.setattr(counters, "lua_script", lambda source: down)
    monkeypatch.setattr(type(counters.redis_client()), "execute_command", down)
    page = Client().get(url)
    assert page.status_code == 200 and "摩尔线程发布新显卡" in page_text(page.content)
    # The second read is written to the database and shows at once, beside the first
    # one still pending in Redis: two readers, two reads, neither lost nor doubled.
    assert re.search(rf'data-reads="{article.pk}" data-base="1">2<', page.content.decode())
    article.refresh_from_db()
    assert article.read_count == 1




@pytest.mark.django_db
def test_a_first_miss_is_one_redis_round_trip_and_a_second_keeps_the_page(source, monkeypatch,
                                                                          django_assert_num_queries):
    read = store(source, "寒武纪发布新芯片", "寒武纪今天发布了新一代云端推理芯片。")
    fresh = store(source, "昇腾发布新芯片", "昇腾今天发布了新一代推理芯片。")
    for _ in range(3):  # three readers: the scripts loaded, the 热点推荐 sidebar rendered and kept
        Client().get(f"/articles/{read.pk}/")

    def sidebar(html: str) -> str:
        return page_text(re.search(r'<ol class="hotlist">(.*?)</ol>', html, re.S).group(1))

    calls = _counting_redis_calls(monkeypatch)
    page = Client().get(f"/articles/{fresh.pk}/")
    # Nobody asked for this page before: the lookup alone counts the read and brings the
    # sidebar with the pending reads of its articles and of this one. The page is not kept.
    assert len(calls) == 1, calls
    html = page.content.decode()
    assert page.status_code == 200 and "昇腾发布新芯片" in page_text(html) and "阅读 1" in page_text(html)
    assert "寒武纪发布新芯片 阅读 3" in sidebar(html)  # live, not as kept
    assert page["Content-Length"] == str(len(page.content))  # counts filled in after the page was rendered

    calls.clear()
    page = Client().get(f"/articles/{fresh.pk}/")
    # Asked for again: the lookup, then one script: the read, the page, the pending counts.
    assert len(calls) == 2, calls
    html = page.content.decode()
    assert "阅读 2" in page_text(html) and "寒武纪发布新芯片 阅读 3" in sidebar(html)
    assert page["Content-Length"] == str(len(page.content))
    monkeypatch.undo()
    # Stored as rendered: the next reader gets it from the cache, with their read.
    with django_assert_num_queries(0):
        assert "阅读 3" in page_text(Client().get(f"/articles/{fresh.pk}/").content)


@pytest.mark.django_db
def test_a_first_miss_shows_the_other_articles_counts_as_stored_and_a_kept_page_live(source):
    """On a first miss only the lookup's counts are live (this article's, the sidebar's);
    related posts show their stored counts, at most one counter flush behind."""
    from articles.models import RelatedArticle

    a = store(source, "燧原发布推理卡", "燧原科技今天发布了新一代推理加速卡。")
    b = store(source, "燧原推理卡上市", "燧原科技新一代推理加速卡今天上市。")
    RelatedArticle.objects.create(article=a, related=b, score=0.9, shared_words=["燧原"])
    # Two reads of b pending in Redis (not in the hot buckets: b stays out of the sidebar).
    counters.redis_client().hincrby(counters.PENDING_KEY, str(b.pk), 2)

    def related_reads(response) -> tuple[str, str]:
        box = re.search(r'<ul class="relatedlist">(.*?)</ul>', response.content.decode(), re.S).group(1)
        return re.search(rf'data-reads="{b.pk}" data-base="(\d+)">([^<]*)<', box).groups()

    assert related_reads(Client().get(f"/articles/{a.pk}/")) == ("0", "0")  # first miss: as stored
    assert related_reads(Client().get(f"/articles/{a.pk}/")) == ("0", "2")  # kept: live
    assert related_reads(Client().get(f"/articles/{a.pk}/")) == ("0", "2")  # a hit: live
    assert counters.flush_reads() == 5  # b's two, a's three
    assert related_reads(Client().get(f"/articles/{a.pk}/")) == ("2", "2")  # a new epoch, asked before: kept


@pytest.mark.django_db
def test_a_first_miss_of_an_article_that_is_not_shown_takes_its_read_back(source):
    from articles.models import Article

    hidden = store(source, "待审核的文章", "这篇文章还在审核中。")
    Article.objects.filter(pk=hidden.pk).update(status=Article.Status.PENDING)
    client = counters.redis_client()
    before = {k: client.hgetall(k) for k in (counters.PENDING_KEY,)}
    assert Client().get(f"/articles/{hidden.pk}/").status_code == 404
    assert Client().get("/articles/987654321/").status_code == 404
    assert {k: client.hgetall(k) for k in (counters.PENDING_KEY,)} == before
    hot = client.zrange(counters.hot_key(__import__("time").time()), 0, -1)
    assert str(hidden.pk).encode() not in hot and b"987654321" not in hot
    assert counters.flush_reads() == 0


@pytest.mark.parametrize("extra", [{1: 2}, {1: 2, 2: 0}, {1: 2, 123: 7, 99: 4, 2: 0}, {12: 1, 1: 1, 123: 1, 2: 1}])
def test_filling_pending_reads_changes_exactly_the_counts_of_articles_with_reads_pending(extra):
    import re

    from articles.pagecache import _fill
    from articles.templating import reads, zh_count

    class A:
        def __init__(self, pk, read_count):
            self.pk, self.read_count = pk, read_count

    page = ("<p>" + str(reads(A(1, 9_999))) + "</p><ul>" + "".join(f"<li>{reads(A(pk, n))}</li>" for pk, n in
            ((12, 5), (1, 9_999), (123, 0), (2, 41_000))) + "</ul>").encode()

    def every_count(match):  # the straightforward fill: every count on the page re-rendered
        aid, base = int(match.group(1)), int(match.group(2))
        return b'data-reads="%d" data-base="%d">%s<' % (aid, base, zh_count(base + extra.get(aid, 0)).encode())

    expected = re.sub(rb'data-reads="(\d+)" data-base="(\d+)">[^<]*<', every_count, page)
    assert _fill(page, extra) == expected
    assert expected.count(('data-base="9999">%s<' % zh_count(9_999 + extra[1])).encode()) == 2


@pytest.mark.django_db
def test_a_miss_whose_second_script_fails_still_counts_and_shows_the_read(source, monkeypatch):
    from articles import pagecache

    article = store(source, "壁仞发布新芯片", "壁仞今天发布了新一代通用GPU芯片。")
    Client().get(f"/articles/{article.pk}/")  # the first reader: the next miss keeps the page
    real = counters.lua_script

    def finish_fails(source_text):
        if source_text == pagecache._FINISH:
            def broken(*args, **kwargs):
                raise ConnectionError("Redis went away after the lookup")
            return broken
        return real(source_text)

    monkeypatch.setattr(counters, "lua_script", finish_fails)
    page = Client().get(f"/articles/{article.pk}/")
    assert page.status_code == 200 and "阅读 2" in page_text(page.content)  # this reader's read, counted and shown
    monkeypatch.undo()
    assert "阅读 3" in page_text(Client().get(f"/articles/{article.pk}/").content)  # counted once: not kept, not lost


@pytest.mark.django_db(transaction=True)  # what ingest bumps, it bumps when it commits
def test_new_articles_re_render_the_lists_but_not_other_article_pages(source, django_assert_num_queries):
    from tests.readers.conftest import make_source

    kept = store(source, "壁仞科技发布新芯片", "壁仞科技今天发布了新一代通用GPU芯片，面向数据中心训练。")
    url = f"/articles/{kept.pk}/"
    for _ in range(2):  # kept from the second reader on
        Client().get(url)
        Client().get("/")
    other = make_source("另一个源", "other-news")
    store(other, "地平线发布新一代智驾芯片", "地平线今天发布了新一代智能驾驶芯片，算力大幅提升。")

    # The article page does not show the newcomer: it is still served from the cache.
    with django_assert_num_queries(0):
        hit = Client().get(url)
    assert "壁仞科技发布新芯片" in page_text(hit.content)
    # The lists do: rendered again, with it.
    assert "地平线发布新一代智驾芯片" in page_text(Client().get("/").content)
    assert "地平线发布新一代智驾芯片" in page_text(Client().get("/sources/other-news/").content)


@pytest.mark.django_db(transaction=True)
def test_a_repost_joining_a_story_re_renders_the_storys_pages(source):
    from tests.readers.conftest import make_source

    body = ("<p>" + "摩尔线程发布新一代全功能GPU，面向AI训练与图形渲染，单卡性能较上代提升三倍，"
            "生态伙伴同步发布适配方案。" * 6 + "</p>")
    first = store(source, "摩尔线程发布新一代全功能GPU", body, hours_ago=3)
    url = f"/articles/{first.pk}/"
    assert "同一事件的其他报道" not in page_text(Client().get(url).content)
    repost = store(make_source("转载号", "reposts"), "摩尔线程新GPU发布（转载）", body, hours_ago=2)
    assert repost.story_id == first.pk
    text = page_text(Client().get(url).content)
    assert "同一事件的其他报道" in text and "摩尔线程新GPU发布（转载）" in text


@pytest.mark.django_db(transaction=True)
def test_related_posts_computed_after_the_page_was_cached_show_on_it(source):
    from articles import related

    tags = ["大模型"]
    first = store(source, "智谱发布新一代大模型", "智谱今天发布新一代大模型，推理能力提升。", categories=tags)
    url = f"/articles/{first.pk}/"
    Client().get(url)
    assert "暂无相关文章" in page_text(Client().get(url).content)  # kept
    with related.refreshed_in_process():  # no worker in this test: refresh here, as manage.py fetch does
        second = store(source, "智谱大模型开放接口", "智谱宣布新一代大模型开放接口，推理能力提升。", categories=tags)
        # A new article elsewhere: this page is still the cached one, until its related list changes.
        assert "暂无相关文章" in page_text(Client().get(url).content)
    assert second.pk in set(first.related_links.values_list("related_id", flat=True))
    text = page_text(Client().get(url).content)
    assert "暂无相关文章" not in text and "开放接口" in text.split("相关推荐")[1].split("热点推荐")[0]


@pytest.mark.django_db(transaction=True)
def test_a_bookmark_re_renders_its_article_and_the_lists_only(source, django_user_model):
    a = store(source, "燧原发布推理卡", "燧原科技今天发布了新一代推理加速卡。")
    b = store(source, "天数智芯发布新品", "天数智芯今天发布了新一代训练芯片。")
    for _ in range(2):
        Client().get(f"/articles/{b.pk}/")
        Client().get("/")
    reader = Client()
    reader.force_login(django_user_model.objects.create_user("duzhe2", password="pw-duzhe-12345"))
    reader.post(f"/articles/{a.pk}/bookmark/", {"action": "add"})
    assert "收藏 1" in page_text(Client().get(f"/articles/{a.pk}/").content)
    assert "收藏 1" in page_text(Client().get("/").content)
    from articles.pagecache import lookup
    from django.test import RequestFactory

    assert lookup(RequestFactory().get(f"/articles/{b.pk}/")).response is not None  # b's page stayed cached


@pytest.mark.django_db(transaction=True)
def test_a_follow_re_renders_the_tag_page_not_the_article_pages(source, django_user_model):
    from articles.models import Tag
    from articles.pagecache import lookup
    from django.test import RequestFactory

    a = store(source, "紫光展锐发布新芯片", "紫光展锐今天发布了新一代手机芯片。", categories=["手机芯片"])
    tag = Tag.objects.get(name="手机芯片")
    assert "关注 0" in page_text(Client().get(f"/tags/{tag.slug}/").content)
    Client().get(f"/tags/{tag.slug}/")
    Client().get(f"/articles/{a.pk}/")
    Client().get(f"/articles/{a.pk}/")
    reader = Client()
    reader.force_login(django_user_model.objects.create_user("duzhe3", password="pw-duzhe-12345"))
    reader.post(f"/tags/{tag.slug}/follow/", {"action": "follow"})
    assert "关注 1" in page_text(Client().get(f"/tags/{tag.slug}/").content)
    assert lookup(RequestFactory().get(f"/articles/{a.pk}/")).response is not None


@pytest.mark.django_db
def test_an_article_path_counts_the_article_it_shows(source):
    article = store(source, "沐曦发布新GPU", "沐曦今天发布了新一代通用GPU。")
    padded = f"/articles/00{article.pk}/"
    assert "阅读 1" in page_text(Client().get(padded).content)
    assert "阅读 2" in page_text(Client().get(f"/articles/{article.pk}/").content)
    # Paths the view reads as no article (past bigint's 19 digits, zeros or not) count nothing.
    assert Client().get(f"/articles/{'0' * 30}{article.pk}/").status_code == 404
    assert Client().get("/articles/99999999999999999999999/").status_code == 404
    assert Client().get(f"/articles/{'9' * 5000}/").status_code == 404  # past int()'s digit limit
    assert counters.flush_reads() == 2
    article.refresh_from_db()
    assert article.read_count == 2


@pytest.mark.django_db
def test_pages_the_cache_fills_carry_no_etag_feeds_keep_theirs(source, django_user_model):
    article = store(source, "天数智芯发布新品", "天数智芯今天发布了新一代训练芯片。")
    url = f"/articles/{article.pk}/"
    # First miss, miss that keeps the page, hit: counts filled in after the page is made, no ETag.
    assert [Client().get(url).has_header("ETag") for _ in range(3)] == [False, False, False]
    feed = Client().get("/feeds/latest.xml")
    assert feed.status_code == 200 and feed["ETag"]
    assert Client().get("/feeds/latest.xml", HTTP_IF_NONE_MATCH=feed["ETag"]).status_code == 304
    reader = Client()
    reader.force_login(django_user_model.objects.create_user("etag-reader", password="pw-etag-12345"))
    assert reader.get(url)["ETag"]  # a signed-in reader's own page, rendered whole: Django's ETag


@pytest.mark.django_db
def test_a_script_survives_redis_forgetting_it_and_a_broken_connection(source):
    """The page cache's scripts run on the thread's own connection (counters._Script): Redis
    restarted forgets the scripts and drops the connection; the next page still works."""
    article = store(source, "摩尔线程发布新显卡", "摩尔线程今天发布了新一代显卡。")
    url = f"/articles/{article.pk}/"
    assert "阅读 1" in page_text(Client().get(url).content)
    client = counters.redis_client()
    client.script_flush()
    assert "阅读 2" in page_text(Client().get(url).content)  # loaded again
    own = counters._own_connection(client)
    own.send_command("CLIENT", "ID")
    client.client_kill_filter(_id=own.read_response())  # as a restart would drop it
    assert "阅读 3" in page_text(Client().get(url).content)  # reconnected
