"""List pages (home, a source) read a page's ids off the list's index before its
cards (selectors.paged): the same pages, in the same order, as OFFSET over the cards."""
from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from articles import selectors
from articles.models import Article
from tests.conftest import page_text
from tests.readers.conftest import make_source, store

pytestmark = pytest.mark.django_db


def test_pages_equal_offset_over_the_cards(client, source):
    rng = random.Random(3)
    other = make_source("另一个源", "other")
    articles = [store(rng.choice([source, other]), f"列表文章{i}", f"列表正文{i}。", hours_ago=rng.uniform(0, 200))
                for i in range(45)]
    Article.objects.filter(pk__in=[a.pk for a in articles[:3]]).update(status=Article.Status.HIDDEN)
    Article.objects.filter(pk=articles[3].pk).update(pinned=True)
    Article.objects.filter(pk=articles[4].pk).update(story_id=articles[5].pk)  # a repost: folded
    same = timezone.now() - timedelta(hours=5)
    Article.objects.filter(pk__in=[a.pk for a in articles[10:16]]).update(published_at=same)  # ties: id decides
    for base, pages in ((None, selectors.home_articles()), (Article.objects.filter(source=source),
                                                           selectors.source_articles(source))):
        reference = list(selectors.article_list(base).values_list("id", flat=True))
        # The prepared statement the page runs, and the ORM's window (feeds, SQLite): both as OFFSET.
        got = [a.pk for start in range(0, len(reference) + 20, 20) for a in pages[start : start + 20]]
        by_orm = [a.pk for start in range(0, len(reference) + 20, 20) for a in pages.window(start, start + 20)]
        assert got == by_orm == reference
    home = list(selectors.article_list().values_list("id", flat=True))
    assert selectors.home_articles().count() == len(home)
    assert home[0] == articles[3].pk and articles[4].pk not in home and articles[0].pk not in home
    text = page_text(client.get("/?page=2").content)
    assert Article.objects.get(pk=home[20]).title in text and Article.objects.get(pk=home[19]).title not in text


def test_a_page_s_ids_come_from_an_index_only_scan(source):
    sql, params = selectors.home_articles().statement(200, 220)
    with connection.cursor() as cursor:
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(r[0] for r in cursor.fetchall())
    assert "Index Only Scan using article_listed_pub" in plan


@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "plain-cursor"])
def test_the_prepared_page_loads_what_the_orm_loads(source, settings, prepared):
    """Home, source and tag pages read through a prepared statement on PostgreSQL: the
    same cards, fields and sources as the ORM's article_list, with and without
    server-side prepared statements (PgBouncer mode)."""
    from articles.models import Tag

    settings.NEWSROOM_DB_PREPARED = prepared
    other = make_source("另一个源", "other")
    for i in range(30):
        store(source if i % 3 else other, f"卡片文章{i}", f"卡片正文{i}。", hours_ago=i, categories=["卡片"])
    tag = Tag.objects.get(name="卡片")
    fields = [f.attname for f in Article._meta.concrete_fields if f.attname not in ("body", "keywords")]

    def shown(cards):
        return [([getattr(a, f) for f in fields], a.source.name, a.source.slug, a.source.article_count) for a in cards]

    for pages in (selectors.home_articles(), selectors.source_articles(source), selectors.tag_articles(tag)):
        for start in (0, 7, 20, 40):
            assert shown(pages[start : start + 7]) == shown(pages.window(start, start + 7))
    assert len(selectors.home_articles()[0:20]) == 20 and selectors.home_articles()[40:60] == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%feeds_source s ON%"])
        assert (cursor.fetchone()[0] > 0) == prepared
