"""The list pages' orderings and the lookups ingest repeats are served by indexes."""
from __future__ import annotations

import pytest
from django.db import connection

from articles import selectors
from articles.models import Article, Tag
from feeds.models import Source

pytestmark = pytest.mark.django_db


def plan(qs) -> str:
    sql, params = qs.values("id")[:20].query.sql_with_params()
    with connection.cursor() as cursor:
        # Tiny test tables would be scanned whole; ask whether the index *can* serve the query.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(r[0] for r in cursor.fetchall())


def test_list_orderings_have_indexes():
    source = Source.objects.create(name="s", slug="s", url="https://example.com/s.xml")
    Tag.objects.create(name="t", slug="t")
    home = plan(selectors.article_list())
    assert "article_listed_pub" in home and "Sort" not in home
    by_source = plan(selectors.article_list(Article.objects.filter(source=source)))
    assert "article_source_listed" in by_source and "Sort" not in by_source
    tags = plan(Tag.objects.order_by("-articles_count", "name"))
    assert "tag_popular" in tags


def test_tag_names_are_looked_up_case_insensitively_by_index():
    """Every ingest resolves its entries' tag names (tags._lookup_many, tag_resolve) by
    case-insensitive name: an index lookup, not a scan of every tag."""
    from django.db.models import Q

    Tag.objects.create(name="GPU", slug="gpu")
    sql, params = Tag.objects.filter(Q(name__iexact="gpu") | Q(name__iexact="数据中心")).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        names = "\n".join(r[0] for r in cursor.fetchall())
    assert "tag_name_upper" in names
