"""Leave the bench corpus as the measures found it: a bench that stores articles
(ingestion, refresh) deletes them afterwards, puts the stored counts of their tags
back and vacuums, so the next run's pages, plans and samples (the "popular" tag
is picked by its count) see the seeded corpus, not counts of rows long gone or
indexes full of dead entries."""
from __future__ import annotations

from django.db import connection

VACUUMED = ("articles_article", "articles_taggedarticle", "articles_searchdoc", "articles_relatedarticle",
            "articles_tag", "feeds_source", "feeds_fetchlog")


def forget_sources(source_ids: list[int]) -> None:
    """Delete these sources with their articles (and what hangs on them), recount the tags
    those articles carried (articles.tags.tag_recount) and VACUUM ANALYZE."""
    from articles.models import Article, RelatedArticle, Tag, TaggedArticle
    from articles.tags import tag_recount
    from feeds.models import Source

    ids = Article.objects.filter(source__in=source_ids)
    tag_ids = list(TaggedArticle.objects.filter(content_object__in=ids).values_list("tag_id", flat=True).distinct())
    RelatedArticle.objects.filter(related__in=ids).delete()
    TaggedArticle.objects.filter(content_object__in=ids).delete()
    ids.delete()
    Source.objects.filter(pk__in=source_ids).delete()
    for tag in Tag.objects.filter(pk__in=tag_ids):
        tag_recount(tag=tag)
    with connection.cursor() as cursor:
        for table in VACUUMED:
            cursor.execute(f"VACUUM ANALYZE {table}")
