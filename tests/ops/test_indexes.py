"""The list pages' orderings and the lookups ingest repeats are served by indexes."""
from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

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


def _index_defs() -> list[tuple[str, str, list[str], bool, str]]:
    """(table, index, key columns with their operator classes, partial or unique?, access method) of our tables."""
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT t.relname, i.relname, array(SELECT pg_get_indexdef(x.indexrelid, k, true) || ' ' ||
                       coalesce((SELECT opcname FROM pg_opclass WHERE oid = x.indclass[k - 1]), '')
                       FROM generate_series(1, x.indnkeyatts) AS k ORDER BY k),
                   x.indpred IS NOT NULL OR x.indisunique, am.amname
              FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
              JOIN pg_am am ON am.oid = i.relam JOIN pg_namespace n ON n.oid = t.relnamespace
             WHERE n.nspname = 'public' AND (t.relname LIKE 'articles\\_%%' OR t.relname LIKE 'feeds\\_%%')""")
        return cursor.fetchall()


def test_no_index_only_repeats_the_start_of_another():
    """Every index costs each new row a write (ingest's one statement inserts an article
    and its tag rows): a plain btree whose keys another btree leads with, in the same
    order and operator classes, serves no query the longer one can't."""
    defs = _index_defs()
    redundant = [
        (table, name, other)
        for table, name, keys, special, am in defs if am == "btree" and not special
        for t2, other, keys2, partial2, am2 in defs
        if t2 == table and other != name and am2 == "btree" and len(keys2) > len(keys)
        and keys2[: len(keys)] == keys
    ]
    assert not redundant


def test_url_lookups_use_the_url_hash_index():
    """Stored articles are looked up by canonical URL hash: ingest's lookup (prepared, so
    planned for any array), the links a source already has, an article by URL. The index
    is partial (no URL: no hash, no entry), so each says ``url_hash <> ''`` too."""
    hashes = ["a" * 40, "b" * 40]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute("PREPARE by_url(text[]) AS SELECT id FROM articles_article "
                       "WHERE (url_hash = ANY($1) AND url_hash <> '') ORDER BY id")
        cursor.execute("EXPLAIN EXECUTE by_url(%s)", [hashes])
        generic = "\n".join(r[0] for r in cursor.fetchall())
        cursor.execute("DEALLOCATE by_url")
    assert "article_url_hash_unique" in generic
    assert "article_url_hash_unique" in plan(Article.objects.filter(url_hash__in=hashes).exclude(url_hash=""))
    assert "article_url_hash_unique" in plan(Article.objects.filter(url_hash=hashes[0]).exclude(url_hash=""))


def test_one_article_per_url_and_any_number_without_one():
    source = Source.objects.create(name="s", slug="s", url="https://example.com/s.xml")
    common = {"source": source, "title": "t", "published_at": "2026-01-01T00:00:00Z"}
    Article.objects.create(guid="a", guid_hash="a", url_hash="", **common)
    Article.objects.create(guid="b", guid_hash="b", url_hash="", **common)
    Article.objects.create(guid="c", guid_hash="c", url_hash="c" * 40, **common)
    with pytest.raises(DatabaseError), transaction.atomic():
        Article.objects.create(guid="d", guid_hash="d", url_hash="c" * 40, **common)


def _server_has_lz4() -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE lz4_probe (v text COMPRESSION lz4)")
            transaction.set_rollback(True)
        return True
    except DatabaseError:
        return False


def test_long_text_is_stored_with_lz4_where_the_server_has_it():
    """Bodies and vectors are compressed with lz4 (0009): an article's body as ingest
    stores it really is, and a server without lz4 still migrates (pglz)."""
    source = Source.objects.create(name="s", slug="s", url="https://example.com/s.xml")
    article = Article.objects.create(source=source, guid="g", guid_hash="g", title="长文",
                                     body="<p>" + "英伟达发布新一代推理芯片，性能提升显著。" * 400 + "</p>")
    with connection.cursor() as cursor:
        cursor.execute("""SELECT c.relname, a.attname, a.attcompression FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                           WHERE (c.relname, a.attname) IN (('articles_article', 'body'), ('articles_article', 'summary'),
                                                            ('articles_searchdoc', 'vector'))""")
        methods = {(t, c): m for t, c, m in cursor.fetchall()}
        cursor.execute("SELECT pg_column_compression(body) FROM articles_article WHERE id = %s", [article.pk])
        stored = cursor.fetchone()[0]
    expected = "l" if _server_has_lz4() else ""
    assert set(methods.values()) == {expected} and len(methods) == 3
    assert stored == ("lz4" if expected else "pglz")
