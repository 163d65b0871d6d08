"""相关推荐: computed when an article is stored, refreshed as related articles arrive,
cards highlight the shared words and show time and reads."""
from __future__ import annotations

import re

import pytest

from articles.models import RelatedArticle
from articles.related import refreshed_in_process
from tests.readers.conftest import make_source, store
from tests.conftest import page_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(django_capture_on_commit_callbacks):
    """store() with the work the pipeline defers run before it returns: its after-commit
    callbacks and the related-posts refresh it schedules (a worker's job in production)."""
    def _store(*args, **kwargs):
        with refreshed_in_process(), django_capture_on_commit_callbacks(execute=True):
            return store(*args, **kwargs)
    return _store


def test_related_by_shared_tags_and_keywords_with_highlights(client, stored):
    source = make_source(tags="芯片")
    first = stored(source, "英伟达发布Blackwell推理芯片", "英伟达的Blackwell推理芯片面向数据中心，推理性能大幅提升。", hours_ago=5)
    second = stored(source, "Blackwell推理芯片开始量产", "Blackwell推理芯片已经量产，英伟达表示推理需求旺盛。", hours_ago=3)
    unrelated = stored(make_source("手机快讯", "phones", tags="手机"), "新款手机续航评测", "这款手机续航表现不错。", hours_ago=2)

    links = {link.related_id: link for link in RelatedArticle.objects.filter(article=second)}
    assert first.pk in links and unrelated.pk not in links
    assert {"Blackwell", "推理"} <= set(links[first.pk].shared_words)
    # The older article learned about the newcomer without being re-stored.
    assert RelatedArticle.objects.filter(article=first, related=second).exists()

    html = client.get(f"/articles/{second.pk}/").content.decode()
    card = re.search(r'<ul class="relatedlist">(.*?)</ul>', html, re.S).group(1)
    assert f'href="/articles/{first.pk}/"' in card
    assert "<b>英伟达</b>发布<b>Blackwell</b><b>推理芯片</b>" in card
    assert "5小时前 · 阅读 0" in page_text(card)


def test_a_stronger_newcomer_replaces_the_weakest_link(stored):
    source = make_source(tags="芯片")
    hub = stored(source, "昇腾芯片生态大会召开", "昇腾芯片生态大会召开，昇腾伙伴发布方案。", hours_ago=30)
    weak = []
    for i in range(6):
        weak.append(stored(source, f"行业简讯第{i}期", f"第{i}期行业简讯，涉及多个话题。", hours_ago=20 - i))
    assert RelatedArticle.objects.filter(article=hub).count() == 6
    strong = stored(source, "昇腾芯片生态伙伴增至百家", "昇腾芯片生态伙伴增至百家，昇腾大会发布新方案。", hours_ago=1)
    related_ids = set(RelatedArticle.objects.filter(article=hub).values_list("related_id", flat=True))
    assert strong.pk in related_ids and len(related_ids) == 6
    assert not set(w.pk for w in weak) <= related_ids


def test_reads_show_on_related_cards(client, stored):
    source = make_source(tags="芯片")
    a = stored(source, "昇腾芯片出货", "昇腾芯片出货量增长。", hours_ago=2)
    b = stored(source, "昇腾芯片新品", "昇腾芯片发布新品。", hours_ago=1)
    from django.test import Client

    for _ in range(3):
        Client().get(f"/articles/{a.pk}/")
    html = client.get(f"/articles/{b.pk}/").content.decode()
    card = re.search(r'<ul class="relatedlist">(.*?)</ul>', html, re.S).group(1)
    assert "阅读 3" in page_text(card)


@pytest.mark.django_db
@pytest.mark.parametrize("analyzed", [True, False])
def test_words_common_across_a_large_site_do_not_pick_keyword_candidates(monkeypatch, analyzed):
    """At scale, a keyword found in most articles (发布, 公司) would match half the
    site and make the candidate query slow; PostgreSQL's own statistics say which
    (gathered first if the table was never analyzed, as after a bulk load)."""
    from django.db import connection

    from articles import related

    monkeypatch.setattr(related, "COMMON_WORDS_FROM", 0)
    monkeypatch.setattr(related, "_common", (float("-inf"), frozenset()))
    source = make_source()
    for i in range(30):
        store(source, f"英伟达发布第{i}款推理芯片", f"英伟达今天发布推理芯片，型号{i}，面向数据中心。")
    rare = store(source, "寒武纪思元芯片量产", "寒武纪思元芯片今天宣布量产，面向云端推理。")
    with connection.cursor() as cursor:
        if analyzed:
            cursor.execute("ANALYZE articles_searchdoc")
        else:  # what a table autovacuum has not reached yet looks like (rolled back with the test)
            cursor.execute("UPDATE pg_class SET reltuples = -1 WHERE oid = 'articles_searchdoc'::regclass")
    common = related.common_words()
    assert {"英伟达", "推理"} <= common and "寒武纪" not in common
    assert related._keyword_candidates(rare, ["英伟达", "推理", "芯片"]) == []  # only common words: no scan


def test_reposts_take_no_candidate_places(stored, monkeypatch):
    """Related posts are published originals: a busy tag's newest rows that are reposts
    (folded under their story) do not use up the places an older original needs."""
    from articles import related
    from articles.models import Article

    monkeypatch.setattr(related, "CANDIDATES", 2)  # six (article, tag) rows are read
    source = make_source(tags="芯片")
    original = stored(source, "龙芯发布新一代桌面处理器", "龙芯桌面处理器的性能提升明显。", hours_ago=40)
    root = stored(source, "某厂商召开秋季新品发布会", "秋季新品发布会的内容一览。", hours_ago=35)
    reposts = [stored(source, f"转载稿件第{i}篇", f"第{i}篇转载的内容。", hours_ago=30 - i) for i in range(8)]
    Article.objects.filter(pk__in=[r.pk for r in reposts]).update(story=root)  # folded under root's story
    target = stored(source, "行业周报", "本周要闻汇总。", hours_ago=1)

    ids = [pk for pk, *_ in related.compute_related(target)]
    assert original.pk in ids and root.pk in ids
    assert not set(ids) & {r.pk for r in reposts}


def test_keywords_with_a_hyphen_or_a_dot_find_their_articles():
    """Keyword candidates match the words as the vectors store them: deepseek-r1 and qwen2.5
    are lexemes of their own, not phrases PostgreSQL's parser would make of them (which
    never match, and have every row read back)."""
    from articles import related

    source = make_source()
    older = store(source, "DeepSeek-R1与Qwen2.5对比评测", "DeepSeek-R1和Qwen2.5在推理任务上的表现对比。", hours_ago=5)
    store(source, "新款手机续航评测", "这款手机续航表现不错。", hours_ago=4)
    newer = store(source, "DeepSeek-R1与Qwen2.5部署指南", "如何部署DeepSeek-R1和Qwen2.5。", hours_ago=1)
    assert related._keyword_candidates(newer, ["deepseek-r1", "qwen2.5"]) == [older.pk]
