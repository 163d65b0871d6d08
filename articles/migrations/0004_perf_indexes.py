"""Indexes for every list ordering, checked with EXPLAIN on the 100k-article
bench corpus (bench/run.py prints the plans with --explain).

- home / tag / source lists order by (-pinned, -published_at, -id) over
  published, non-repost articles: partial indexes in exactly that order, so the
  first page is an index scan that stops after 20 rows (and the paginator's
  COUNT(*) is an index-only scan of a smaller index).
- tag pages and related-post candidates walk a tag's articles newest first:
  (tag_id, content_object_id) on the through table.
- 相关推荐 on the article page: a related list by score.
- /tags/ and the popular-tags block: (-articles_count, name).

Hand-written AddIndex operations; the same indexes belong in the models' Meta.
"""
from django.db import migrations, models
from django.db.models import Q

LISTED = Q(status="published", story__isnull=True)


class Migration(migrations.Migration):
    dependencies = [
        ("articles", "0003_comment"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="article",
            index=models.Index(fields=["-pinned", "-published_at", "-id"], condition=LISTED, name="article_listed_pub"),
        ),
        migrations.AddIndex(
            model_name="article",
            index=models.Index(
                fields=["source", "-pinned", "-published_at", "-id"], condition=LISTED, name="article_source_listed"
            ),
        ),
        migrations.AddIndex(
            model_name="taggedarticle",
            index=models.Index(fields=["tag", "-content_object"], name="taggedarticle_tag_article"),
        ),
        migrations.AddIndex(
            model_name="relatedarticle",
            index=models.Index(fields=["article", "-score"], name="related_article_score"),
        ),
        migrations.AddIndex(
            model_name="tag",
            index=models.Index(fields=["-articles_count", "name"], name="tag_popular"),
        ),
    ]
