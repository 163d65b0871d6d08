"""The search index's pending list is merged by the maintenance queue, not by an
ingest that happens to fill it.

New vectors go to the GIN index's pending list (fastupdate), which is merged
into the index when it outgrows ``gin_pending_list_limit`` — by the INSERT that
crossed it, which then takes 0.2 s at 100k articles instead of 1 ms — or by a
vacuum. Ingest now queues ``articles.tasks.merge_search_index`` after it stores
(``search.schedule_merge``), and the limit grows from the server's 4 MB to
16 MB (about 2,000 articles), so that an INSERT merges only when the maintenance
queue has fallen far behind. A search reads the pending list too: 16 MB full
costs it ~3 ms, and the task keeps the list far shorter."""
from django.db import migrations

INDEX = "searchdoc_vector_gin"
LIMIT_KB = 16384


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER INDEX {INDEX} SET (gin_pending_list_limit = {LIMIT_KB})")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER INDEX {INDEX} RESET (gin_pending_list_limit)")


class Migration(migrations.Migration):
    dependencies = [("articles", "0011_url_hash_unique")]

    operations = [migrations.RunPython(forwards, backwards)]
