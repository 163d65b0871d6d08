"""A tag page reads its tag's timeline (TaggedArticle's copy of each article's list
position, kept by PostgreSQL triggers, migration 0010). Whatever changes an article
(ingest, moderation, story promotion, pinning, an edit, a bulk update, taggit's add),
the tag page lists exactly what the plain join lists, in the same order."""
from __future__ import annotations

import random
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.db import connection
from django.utils import timezone

from articles import selectors
from articles.cache import bump_generation
from articles.ingest import story_promote
from articles.models import Article, Tag, TaggedArticle
from tests.readers.conftest import make_source, store

pytestmark = pytest.mark.django_db


def by_join(tag: Tag) -> list[int]:
    """The reference: article_list over the join, as the tag page read it before the timeline."""
    return list(selectors.article_list(Article.objects.filter(tags=tag)).values_list("id", flat=True))


def by_timeline(tag: Tag, size: int = 7) -> list[int]:
    timeline = selectors.tag_articles(tag)
    out, start = [], 0
    while True:
        page = [a.pk for a in timeline[start : start + size]]
        out += page
        if len(page) < size:
            return out
        start += size


def listed_titles(client, tag: Tag, page: int = 1) -> list[str]:
    html = client.get(f"/tags/{quote(tag.slug)}/?page={page}").content.decode()
    return [a.title for a in Article.objects.filter(pk__in=by_join(tag)) if a.title in html]


def test_ingested_articles_are_on_their_tag_page_newest_first(client, source):
    for i in range(30):
        store(source, f"英伟达推理芯片第{i}篇报道", f"英伟达发布推理芯片第{i}代，性能提升。", hours_ago=30 - i,
              categories=["推理芯片"])
    tag = Tag.objects.get(name="推理芯片")
    expected = by_join(tag)
    assert len(expected) == 30 and by_timeline(tag) == expected
    rows = TaggedArticle.objects.filter(tag=tag)
    assert all(r.listed and r.published_at == r.content_object.published_at for r in rows)
    response = client.get(f"/tags/{quote(tag.slug)}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "英伟达推理芯片第29篇报道" in html and "英伟达推理芯片第0篇报道" not in html
    assert html.index("第29篇") < html.index("第28篇")
    assert "英伟达推理芯片第0篇报道" in client.get(f"/tags/{quote(tag.slug)}/?page=2").content.decode()


def test_moderation_pinning_and_edits_move_articles_on_the_tag_page(client, source):
    tag = Tag.objects.create(name="大模型", slug="da-mo-xing")
    articles = [store(source, f"大模型新闻{i}", f"大模型第{i}条。", hours_ago=10 - i) for i in range(5)]
    for a in articles:
        a.tags.add(tag)  # taggit's add(): the insert trigger copies the position
    assert by_timeline(tag) == by_join(tag) == [a.pk for a in reversed(articles)]

    Article.objects.filter(pk=articles[4].pk).update(status=Article.Status.HIDDEN)  # a bulk update
    hidden = articles[3]
    hidden.status = Article.Status.SPAM
    hidden.save()  # a model save
    assert by_timeline(tag) == by_join(tag) == [articles[2].pk, articles[1].pk, articles[0].pk]
    assert "大模型新闻4" not in client.get(f"/tags/{tag.slug}/").content.decode()

    Article.objects.filter(pk=articles[0].pk).update(pinned=True)
    Article.objects.filter(pk=articles[1].pk).update(published_at=timezone.now() + timedelta(minutes=5))
    Article.objects.filter(pk=articles[4].pk).update(status=Article.Status.PUBLISHED)
    assert by_timeline(tag) == by_join(tag) == [articles[0].pk, articles[1].pk, articles[4].pk, articles[2].pk]
    bump_generation()  # what the admin's actions do after such edits: cached pages go
    html = client.get(f"/tags/{tag.slug}/").content.decode()
    assert html.index("大模型新闻0") < html.index("大模型新闻1") < html.index("大模型新闻4")


def test_reposts_fold_and_a_promoted_repost_takes_the_place(source):
    other = make_source("转载号", "reposts")
    body = "<p>" + "华为发布昇腾芯片，面向大模型训练与推理，单卡算力大幅提升，生态伙伴同步发布适配方案。" * 6 + "</p>"
    first = store(source, "华为发布昇腾新芯片", body, hours_ago=5, categories=["昇腾"])
    repost = store(other, "华为昇腾新芯片发布（转）", body, hours_ago=4, categories=["昇腾"])
    tag = Tag.objects.get(name="昇腾")
    assert repost.story_id == first.pk  # folded under the first report
    assert by_timeline(tag) == by_join(tag) == [first.pk]

    Article.objects.filter(pk=first.pk).update(status=Article.Status.HIDDEN)
    first.refresh_from_db()
    story_promote(first)
    assert by_timeline(tag) == by_join(tag) == [repost.pk]


def test_the_timeline_stays_equal_to_the_join_under_random_changes(source):
    rng = random.Random(7)
    tags = [Tag.objects.create(name=f"标签{i}", slug=f"tag-{i}") for i in range(4)]
    articles = [store(source, f"随机文章{i}", f"随机正文{i}。", hours_ago=rng.uniform(0, 100)) for i in range(40)]
    for a in articles:
        a.tags.add(*rng.sample(tags, rng.randint(1, 3)))
    statuses = [s for s, _ in Article.Status.choices]
    for _ in range(200):
        a = rng.choice(articles)
        op = rng.randrange(6)
        if op == 0:
            Article.objects.filter(pk=a.pk).update(status=rng.choice(statuses))
        elif op == 1:
            Article.objects.filter(pk=a.pk).update(pinned=rng.random() < 0.2)
        elif op == 2:
            Article.objects.filter(pk=a.pk).update(published_at=timezone.now() - timedelta(hours=rng.uniform(0, 100)))
        elif op == 3:
            root = rng.choice(articles)
            Article.objects.filter(pk=a.pk).update(story_id=None if root.pk == a.pk or rng.random() < 0.5 else root.pk)
        elif op == 4:
            a.tags.add(rng.choice(tags))
        else:
            a.tags.remove(rng.choice(tags))
    for tag in tags:
        assert by_timeline(tag) == by_join(tag)
    # Equal ranks (same time, both pinned) still come out in one order: the id breaks the tie.
    same = timezone.now()
    Article.objects.filter(pk__in=[a.pk for a in articles]).update(published_at=same, pinned=False,
                                                                   status=Article.Status.PUBLISHED, story_id=None)
    for tag in tags:
        assert by_timeline(tag) == by_join(tag)


def test_a_tag_page_reads_the_timeline_index(source):
    tag = Tag.objects.create(name="芯片", slug="xin-pian")
    sql, params = (TaggedArticle.objects.filter(tag=tag, listed=True)
                   .order_by("-pinned", "-published_at", "-content_object_id")
                   .values_list("content_object_id", flat=True)[80:100].query.sql_with_params())
    with connection.cursor() as cursor:
        # An empty test table would be scanned whole; ask whether the index *can* serve the page in order.
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute("EXPLAIN " + sql, params)
        found = "\n".join(r[0] for r in cursor.fetchall())
    assert "taggedarticle_timeline" in found and "Sort" not in found
