"""The article page's one-query loader (PostgreSQL) shows what the ORM would."""
from __future__ import annotations

import pytest

from articles import related, selectors
from articles.models import Article, RelatedArticle
from tests.readers.conftest import make_source, store

BODY = "英伟达今天发布新一代推理芯片，面向数据中心，推理性能提升三倍，功耗下降一半，首批客户包括多家云服务商。"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "plain-cursor"])
def test_one_query_page_matches_the_orm(prepared, settings, django_assert_num_queries):
    settings.NEWSROOM_DB_PREPARED = prepared  # off: DATABASE_PREPARED_STATEMENTS=0, as behind PgBouncer
    chips, other = make_source(tags="芯片"), make_source("显卡之家", "gpus", tags="显卡")
    root = store(chips, "英伟达发布新一代推理芯片", BODY)
    repost = store(other, "转载：英伟达发布新一代推理芯片", BODY)
    for title in ("英伟达推理芯片出货", "英伟达数据中心业务增长", "推理芯片市场竞争加剧"):
        store(chips, title, f"{title}。英伟达推理芯片的消息，数据中心客户关注推理性能。")
    related.refresh_for(root.pk)
    assert RelatedArticle.objects.filter(article=root).exists()
    assert Article.objects.get(pk=repost.pk).story_id == root.pk

    with django_assert_num_queries(1):
        page = selectors.article_page(root.pk)
    orm = Article.objects.select_related("source").get(pk=root.pk)
    assert page.article.title == orm.title and page.article.body == orm.body
    assert page.article.source.name == chips.name and page.article.source.slug == chips.slug
    assert page.article.published_at == orm.published_at and page.article.read_count == orm.read_count
    assert sorted(t.name for t in page.tags) == sorted(orm.tags.values_list("name", flat=True))
    assert [(r.related_id, r.score, r.shared_words) for r in page.related] == [
        (r.related_id, r.score, r.shared_words) for r in selectors.related_for(orm)]
    assert [r.related.title for r in page.related] == [r.related.title for r in selectors.related_for(orm)]
    assert [(o.pk, o.title, o.source.name) for o in page.also_reported] == [
        (o.pk, o.title, o.source.name) for o in selectors.also_reported(orm)] == [(repost.pk, repost.title, other.name)]
    # From the repost's side the original is the other report.
    assert [o.pk for o in selectors.article_page(repost.pk).also_reported] == [root.pk]
    assert selectors.article_page(10**9) is None
