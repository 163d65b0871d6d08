"""Chinese search on PostgreSQL: recall equals a LIKE scan for brand names,
two-character words, English/Chinese mixes and phrases; ranking, highlighting,
filters, pagination and the search feed."""
from __future__ import annotations

import re
from datetime import timedelta
from functools import reduce
from operator import and_

import pytest
from django.db.models import Q
from django.utils import timezone

from articles.models import Article
from articles.search import parse_query, search_articles
from tests.conftest import card_ids, card_times, page_text
from tests.readers.conftest import make_source, store

pytestmark = pytest.mark.django_db

# Titles and bodies chosen where the segmenter's word boundaries do not line up
# with what a reader searches for (研究生|命, 和尚|未, 推理芯片 as one word, RTX5090).
CORPUS = [
    ("英伟达发布Blackwell Ultra推理芯片", "英伟达今天发布了新一代推理芯片，面向大模型推理。"),
    ("研究生命起源的新方法", "科学家用新方法研究生命起源，论文发表在期刊上。"),
    ("华为昇腾910B芯片性能提升30%", "昇腾910B在大模型训练中的性能提升明显。"),
    ("NVIDIA推理服务器出货量创新高", "服务器厂商表示，NVIDIA平台的推理需求旺盛。"),
    ("高性能推理芯片市场格局", "推理芯片市场由多家厂商竞争。"),
    ("已上市的和尚未上市的芯片公司", "统计覆盖已上市的和尚未上市的芯片公司。"),
    ("模型推理速度提升三倍", "通过量化，模型推理速度提升三倍。"),
    ("AMD发布MI300X加速卡", "MI300X对标英伟达H100，显存容量更大。"),
    ("苹果发布新款手机", "新款手机采用自研处理器，续航更长。"),
    ("Blackwell架构解析", "NVIDIA Blackwell GPU采用台积电4NP工艺。"),
    ("国产AI芯片进展", "国产芯片近年来进展很快。" * 40 + "最后提到了昇腾生态。"),
    ("两家公司英伟，达成合作", "双方宣布达成合作，英伟。达成协议细节未公布。"),
    ("DeepSeek-R1推理成本下降", "DeepSeek-R1让推理成本大幅下降。"),
    ("RTX5090显卡评测", "RTX5090在游戏中表现出色。"),
    ("大模型推理性能提升明显", "新版本的推理性能提升明显。"),
    ("手机影像性能不错，提升有限", "这款手机性能不错，但续航提升有限。"),
]

# One segment each: the result set must equal LIKE exactly.
SINGLE = ["英伟达", "昇腾", "Blackwell", "blackwell", "推理", "芯片", "生命", "尚未", "性能", "提升",
          "RTX", "5090", "RTX5090", "DeepSeek", "R1", "达成", "上市", "MI300X", "NVIDIA", "伟达"]
# Mixes: AND of the LIKE of each part.
MIXES = {
    "NVIDIA 推理": ["nvidia", "推理"],
    "NVIDIA推理": ["nvidia", "推理"],
    "英伟达 Blackwell": ["英伟达", "blackwell"],
    "昇腾 芯片": ["昇腾", "芯片"],
    "DeepSeek-R1 推理": ["deepseek-r1", "推理"],
}
# Quoted phrases: exactly LIKE of the whole phrase.
PHRASES = {'"性能提升"': "性能提升", "“推理芯片”": "推理芯片", '"英伟达发布"': "英伟达发布"}


@pytest.fixture
def corpus():
    source = make_source()
    return [store(source, title, body, hours_ago=i + 1) for i, (title, body) in enumerate(CORPUS)]


def like(*parts: str) -> set[int]:
    """What a LIKE scan over the published articles finds (every part, any case)."""
    conditions = [Q(title__icontains=p) | Q(body__icontains=p) for p in parts]
    return set(Article.objects.published().filter(reduce(and_, conditions)).values_list("id", flat=True))


def found(q: str) -> set[int]:
    return set(search_articles(q).ids)


def test_corpus_went_through_the_pipeline_and_is_indexed(corpus):
    assert Article.objects.published().count() == len(CORPUS)
    assert not Article.objects.filter(search_doc__isnull=True).exists()


@pytest.mark.parametrize("q", SINGLE)
def test_single_words_match_like(corpus, q):
    expected = like(q)
    assert expected, f"the corpus should contain {q}"
    assert found(q) == expected


@pytest.mark.parametrize("q", list(MIXES))
def test_english_chinese_mixes_match_like(corpus, q):
    expected = like(*MIXES[q])
    assert expected
    assert found(q) == expected


@pytest.mark.parametrize("q", list(PHRASES))
def test_quoted_phrases_match_like(corpus, q):
    expected = like(PHRASES[q])
    assert expected
    assert found(q) == expected


def test_unquoted_compound_finds_at_least_the_phrase(corpus):
    # 性能提升 unquoted is 性能 AND 提升: everything LIKE finds, plus articles with both words apart.
    loose = found("性能提升")
    assert like("性能提升") < loose
    assert loose == like("性能", "提升")


def test_punctuation_breaks_a_word(corpus):
    # "英伟，达成" contains 英伟 and 达成 but not 英伟达.
    titles = set(Article.objects.filter(pk__in=found("英伟达")).values_list("title", flat=True))
    assert "两家公司英伟，达成合作" not in titles


def test_title_hits_rank_above_body_hits(corpus):
    ranked = [a.title for a in search_articles("英伟达")]
    assert "英伟达" in ranked[0]
    assert ranked[-1] == "AMD发布MI300X加速卡"  # only its body mentions 英伟达


def test_nothing_to_search_finds_nothing(corpus):
    assert found("") == set()
    assert found("，。！") == set()
    assert found("量子纠缠") == set()
    assert parse_query("'; DROP TABLE x; --").terms  # quotes are data, never SQL or tsquery syntax
    assert found("'; DROP TABLE x; --") == set()
    assert found("a\\b'c") == set()


def test_pending_articles_are_not_found(corpus):
    Article.objects.filter(title__startswith="RTX5090").update(status=Article.Status.PENDING)
    assert found("5090") == set()


def test_search_page_highlights_and_links(client, corpus):
    html = client.get("/search/", {"q": "NVIDIA 推理"}).content.decode()
    assert "共 1 条结果" in html
    assert "<b>NVIDIA</b><b>推理</b>服务器" in html
    assert re.search(r"<b>推理</b>需求旺盛", html)  # the body snippet, highlighted
    assert 'href="/search/feed.xml?q=NVIDIA+%E6%8E%A8%E7%90%86"' in html
    assert '<meta name="robots" content="noindex,follow">' in html
    # Brand names highlighted wherever they are: the body-only hit shows a snippet with the match.
    html = client.get("/search/", {"q": "昇腾"}).content.decode()
    assert re.search(r"…[^<]*最后提到了<b>昇腾</b>生态。</p>", html)


def test_highlighting_escapes_markup(client, source):
    from articles.search import reindex

    a = Article.objects.create(source=source, guid="x", guid_hash="x" * 40, title='<i>英伟达</i> & "AMD"',
                               body="<p>英伟达 &lt;script&gt;alert(1)&lt;/script&gt;</p>")
    reindex(a)
    html = client.get("/search/", {"q": "英伟达"}).content.decode()
    assert "&lt;i&gt;<b>英伟达</b>&lt;/i&gt; &amp; &quot;AMD&quot;" in html
    assert "<b>英伟达</b> &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert" not in html


def test_filters_by_tag_source_and_date(client, corpus):
    other = make_source("显卡之家", "gpus", tags="显卡")
    old = store(other, "英伟达显卡旧闻", "英伟达显卡的旧消息。", hours_ago=24 * 40)
    new = store(other, "英伟达显卡新闻", "英伟达显卡的新消息。", hours_ago=2)
    all_hits = found("英伟达")
    assert {old.pk, new.pk} <= all_hits

    def page_ids(**params):
        response = client.get("/search/", {"q": "英伟达", **params})
        assert response.status_code == 200
        return set(card_ids(response.content))

    assert page_ids(source="gpus") == {old.pk, new.pk}
    assert page_ids(tag=new.tags.get(name="显卡").slug) == {old.pk, new.pk}
    since = (timezone.localdate() - timedelta(days=7)).isoformat()
    assert old.pk not in page_ids(since=since) and new.pk in page_ids(since=since)
    until = (timezone.localdate() - timedelta(days=30)).isoformat()
    assert page_ids(until=until) == {old.pk}
    assert page_ids(since="不是日期") == all_hits  # a bad filter is ignored, not an error
    newest = card_times(client.get("/search/", {"q": "英伟达", "sort": "new"}).content)
    assert len(newest) > 1 and newest == sorted(newest, reverse=True)


def test_pagination_keeps_the_query_and_filters(client, source):
    now = timezone.now()
    for i in range(23):
        a = Article.objects.create(source=source, guid=f"p{i}", guid_hash=f"{i:040d}", title=f"昇腾芯片第{i}期",
                                   body="<p>昇腾生态</p>", published_at=now - timedelta(minutes=i))
        from articles.search import reindex

        reindex(a)
    first = client.get("/search/", {"q": "昇腾", "source": source.slug})
    html = first.content.decode()
    assert "第 1 / 2 页" in html
    assert f'href="/search/?q=%E6%98%87%E8%85%BE&amp;source={source.slug}&amp;page=2"' in html
    second = client.get("/search/", {"q": "昇腾", "source": source.slug, "page": 2})
    assert len(card_ids(second.content)) == 3
    assert f'href="/search/?q=%E6%98%87%E8%85%BE&amp;source={source.slug}"' in second.content.decode()  # page 1: no page param
    assert client.get("/search/", {"q": "昇腾", "page": 9}).status_code == 404
    assert client.get("/search/", {"q": "昇腾", "page": "x"}).status_code == 404


def test_search_feed(client, corpus):
    response = client.get("/search/feed.xml", {"q": "英伟达"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "<rss" in body and "搜索「英伟达」" in body
    titles = re.findall(r"<item><title>(.*?)</title>", body)
    assert set(titles) == set(Article.objects.filter(pk__in=like("英伟达")).values_list("title", flat=True))
    assert titles[0] == "英伟达发布Blackwell Ultra推理芯片"  # newest first
    assert "<item>" not in client.get("/search/feed.xml", {"q": ""}).content.decode()
    filtered = client.get("/search/feed.xml", {"q": "英伟达", "source": "nope"}).content.decode()
    assert "<item>" not in filtered


def test_a_common_word_lists_the_newest_matches_and_says_so(client, corpus, monkeypatch):
    from articles import search, views

    everything = like("英伟达")
    monkeypatch.setattr(search, "RANK_WINDOW", 1)
    monkeypatch.setattr(views, "RANK_WINDOW", 1)
    hits = search.search_articles("英伟达", newest_first=True).ids
    newest = list(Article.objects.filter(pk__in=everything).order_by("-published_at", "-id").values_list("id", flat=True))
    assert hits == newest[:1] and len(everything) > 1
    text = page_text(client.get("/search/", {"q": "英伟达"}).content)
    assert "最新 1 条结果（更早的请按日期筛选）" in text


def test_result_cards_and_list_tags_come_from_prepared_statements_as_the_orm_builds_them(settings):
    """A page of search results (the cards with their source) and every list's tags are
    read with statements prepared once per connection: the same objects, fields and
    order as the ORM queries they replace."""
    from django.db import connection

    from articles import selectors
    from articles.models import TaggedArticle
    from articles.search import _CARD_FIELDS, _cards

    settings.NEWSROOM_DB_PREPARED = True
    source = make_source(tags="芯片")
    stored = [store(source, title, body, categories=["GPU", "数据中心"][: i % 3]) for i, (title, body) in enumerate(CORPUS[:6])]
    ids = [a.pk for a in reversed(stored)]
    orm = {a.pk: a for a in Article.objects.filter(pk__in=ids).select_related("source").only(*_CARD_FIELDS)}
    fields = [f.rstrip("_") for f in _CARD_FIELDS if "__" not in f]
    for card in _cards(ids):
        expected = orm[card.pk]
        assert [getattr(card, f) for f in fields] == [getattr(expected, f) for f in fields]
        assert (card.source.pk, card.source.name, card.source.slug) == (source.pk, source.name, source.slug)
        assert card.get_deferred_fields() == expected.get_deferred_fields()
    assert selectors._tag_rows(ids) == list(
        TaggedArticle.objects.filter(content_object_id__in=ids).order_by("id")
        .values_list("content_object_id", "tag_id", "tag__name", "tag__slug"))
    hits = search_articles("芯片")
    assert [a.pk for a in hits[:20]] == hits.ids[:20] and all(a.tags.all() for a in hits[:20])
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        statements = " ".join(row[0] for row in cursor.fetchall())
    assert "ta.content_object_id = ANY" in statements and "a.id = ANY" in statements


@pytest.mark.parametrize("prepared", [
    True, False,
    # Outside a transaction, as on the site: the window statement and its SET LOCAL go in one pipeline.
    pytest.param(True, marks=pytest.mark.django_db(transaction=True), id="prepared-autocommit"),
], ids=["prepared", "client-side", "prepared-autocommit"])
def test_a_word_cut_whole_or_not_is_found_newest_first_and_near_misses_are_not(source, settings, monkeypatch, prepared):
    """A phrase term (智能体) is matched by the rows that hold it as a word, and by the rows
    whose grams only say it might be there once their positions are checked. A row with
    both grams apart (智能手机的功能体验) is not a match, however new."""
    from articles import search

    settings.NEWSROOM_DB_PREPARED = prepared
    mentions = [store(source, f"第{i}篇：智能体新进展", "正文再次提到智能体。", hours_ago=i + 1) for i in range(6)]
    for article in mentions[1::2]:  # indexed as a bulk load would: grams, none of the tokenizer's words
        search.index_article(article, title_tokens=[], body_tokens=[])
    near = [store(source, f"智能手机的功能体验{i}", "智能手机的功能体验。", hours_ago=h) for i, h in enumerate((0.1, 2.5, 30))]
    sql, params = search.window_sql(parse_query("智能体"))
    assert "UNION ALL" in sql and "'智能体'" in params[0]  # split: the words, then the checked grams
    from django.db import connection

    with connection.cursor() as cursor:  # both kinds are there: three rows hold the word, three only grams
        cursor.execute("SELECT count(*) FROM articles_searchdoc WHERE vector @@ %s::tsquery", [params[0]])
        assert cursor.fetchone()[0] == 3
    assert like("智能体") == {a.pk for a in mentions} and not like("智能体") & {a.pk for a in near}
    assert found("智能体") == like("智能体")
    newest = [a.pk for a in mentions]
    assert search.search_articles("智能体", newest_first=True).ids == newest
    monkeypatch.setattr(search, "RANK_WINDOW", 3)  # the window: the 3 newest matches of either kind
    assert search.search_articles("智能体", newest_first=True).ids == newest[:3]
    assert search.search_articles('"智能体新进展"', newest_first=True).ids == newest[:3]  # no word: all checked
    assert set(search.search_articles("智能体 正文").ids) == set(newest[:3])
    # Narrowed by the filters (their SQL inside both halves): the same rows, the near misses still out.
    narrowed = search.filtered_search(search.SearchParams(q="智能体", source=source.slug, sort="new"))
    assert narrowed.ids == newest[:3]
    since = (timezone.localdate() - timedelta(days=1)).isoformat()
    assert search.filtered_search(search.SearchParams.from_query_dict({"q": "智能体", "since": since})).ids[:3] == \
        newest[:3]


def test_a_name_the_segmenter_does_not_know_is_searched_as_typed(source):
    """美光 is not in the segmenter's dictionary (美|光): as one term it matches where
    LIKE '%美光%' does; it is neither dropped beside a known word nor two one-character
    prefixes that match half the corpus."""
    stored = [store(source, "美光发布折叠屏内存方案", "美光为折叠屏手机提供内存。"),
              store(source, "折叠屏手机销量上升", "美国市场光线传感器需求增长。"),
              store(source, "美光财报超预期", "美光本季度营收增长。")]
    assert parse_query("美光折叠屏").terms == parse_query("美光 折叠屏").terms == ["美光", "折叠屏"]
    assert parse_query("华为的手机").terms == ["华为", "手机"]  # a particle still stands alone, and goes
    assert found("美光折叠屏") == found("美光 折叠屏") == like("美光", "折叠屏") == {stored[0].pk}
    assert found("美光") == like("美光") == {stored[0].pk, stored[2].pk}
