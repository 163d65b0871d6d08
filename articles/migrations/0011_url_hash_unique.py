"""One article per canonical URL (``url_hash``), enforced by the database.

Ingest looks a URL up before it stores an entry, but two feeds fetched at once
(the fetch worker's threads) could both miss the other's row and both store the
page. Rows that already share a URL keep the oldest as the URL's article (the
one ingest's lookup has always answered with); the others stay as they are,
without a URL hash, so that the unique index can be built."""
from django.db import migrations, models

FORGET_LATER_DUPLICATES = """
UPDATE articles_article SET url_hash = ''
 WHERE url_hash <> ''
   AND id NOT IN (SELECT min(id) FROM articles_article WHERE url_hash <> '' GROUP BY url_hash)
"""


class Migration(migrations.Migration):

    dependencies = [
        ('articles', '0010_tag_timeline'),
        ('feeds', '0002_source_health_and_server_interval'),
    ]

    operations = [
        migrations.RunSQL(FORGET_LATER_DUPLICATES, migrations.RunSQL.noop),
        migrations.AddConstraint(
            model_name='article',
            constraint=models.UniqueConstraint(condition=models.Q(('url_hash', ''), _negated=True), fields=('url_hash',), name='article_url_hash_unique'),
        ),
        migrations.RemoveIndex(
            model_name='article',
            name='article_url_hash',
        ),
    ]
