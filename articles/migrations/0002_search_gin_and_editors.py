"""PostgreSQL-only GIN index on the search vector, and the "editors" group."""
from django.db import migrations


def create_gin(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS article_search_gin ON articles_article USING gin (search_vector)"
        )


def drop_gin(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS article_search_gin")


EDITOR_MODELS = {
    "feeds": ["source", "fetchlog"],
    "articles": ["article", "tag", "tagalias", "spamrule", "tagrule", "taggedarticle"],
}


def create_editors(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="editors")
    perms = Permission.objects.filter(
        content_type__app_label__in=list(EDITOR_MODELS),
        content_type__model__in=[m for models in EDITOR_MODELS.values() for m in models],
    )
    group.permissions.set(perms)


def drop_editors(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="editors").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("articles", "0001_initial"),
        ("feeds", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_gin, drop_gin),
        migrations.RunPython(create_editors, drop_editors),
    ]
