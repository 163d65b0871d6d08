from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("articles", "0004_perf_indexes")]

    operations = [
        migrations.CreateModel(
            name="CounterFlush",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("token", models.CharField(max_length=40, unique=True)),
                ("reads", models.PositiveBigIntegerField(default=0)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
        ),
    ]
