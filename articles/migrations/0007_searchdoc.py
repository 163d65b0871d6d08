"""The search vector moves from the wide article row to a narrow table of its own
(articles.models.SearchDoc): matching a common word visits thousands of rows,
and those visits are cheap only when the rows are small."""
import django.contrib.postgres.search
import django.db.models.deletion
from django.db import migrations, models


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "INSERT INTO articles_searchdoc (article_id, published_at, title, vector) "
        "SELECT id, published_at, title, search_vector FROM articles_article WHERE search_vector IS NOT NULL"
    )
    schema_editor.execute("CREATE INDEX IF NOT EXISTS searchdoc_vector_gin ON articles_searchdoc USING gin (vector)")
    schema_editor.execute("DROP INDEX IF EXISTS article_search_gin")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "UPDATE articles_article a SET search_vector = d.vector FROM articles_searchdoc d WHERE d.article_id = a.id"
    )
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS article_search_gin ON articles_article USING gin (search_vector)"
    )


class Migration(migrations.Migration):
    dependencies = [("articles", "0006_keywords_raw_hash")]

    operations = [
        migrations.CreateModel(
            name="SearchDoc",
            fields=[
                ("article", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True,
                                                 related_name="search_doc", serialize=False, to="articles.article")),
                ("published_at", models.DateTimeField()),
                ("title", models.CharField(blank=True, max_length=500)),
                ("vector", django.contrib.postgres.search.SearchVectorField()),
            ],
            options={"verbose_name": "搜索索引", "verbose_name_plural": "搜索索引"},
        ),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField(model_name="article", name="search_vector"),
        migrations.AddIndex(
            model_name="article",
            index=models.Index(condition=models.Q(("status", "published"), _negated=True), fields=["id"],
                               name="article_unpublished"),
        ),
    ]
