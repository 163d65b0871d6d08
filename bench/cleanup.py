"""Leave the bench corpus as the measures found it: a bench that stores articles
(ingestion, refresh) deletes them afterwards, puts the stored counts of their tags
back and vacuums, so the next run's pages, plans and samples (the "popular" tag
is picked by its count) see the seeded corpus, not counts of rows long gone or
indexes full of dead entries."""
from __future__ import annotations

from django.db import connection

RECOUNT_SQL = """
UPDATE articles_tag t SET articles_count = (
  SELECT count(*) FROM articles_taggedarticle ta JOIN articles_article a ON a.id = ta.content_object_id
   WHERE ta.tag_id = t.id AND a.status = 'published')
 WHERE t.id = ANY(%s)
"""
VACUUMED = ("articles_article", "articles_taggedarticle", "articles_searchdoc", "articles_relatedarticle",
            "articles_tag", "feeds_source", "feeds_fetchlog")


def forget_sources(source_ids: list[int]) -> None:
    """Delete these sources with their articles (and what hangs on them), recount the tags
    those articles carried (as articles.tags.tag_recount counts) and VACUUM ANALYZE."""
    from articles.models import Article, RelatedArticle, TaggedArticle
    from feeds.models import Source

    ids = Article.objects.filter(source__in=source_ids)
    tag_ids = list(TaggedArticle.objects.filter(content_object__in=ids).values_list("tag_id", flat=True).distinct())
    RelatedArticle.objects.filter(related__in=ids).delete()
    TaggedArticle.objects.filter(content_object__in=ids).delete()
    ids.delete()
    Source.objects.filter(pk__in=source_ids).delete()
    with connection.cursor() as cursor:
        cursor.execute(RECOUNT_SQL, [tag_ids])
        for table in VACUUMED:
            cursor.execute(f"VACUUM ANALYZE {table}")
