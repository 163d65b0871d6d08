"""Reader comments (one level of replies), moderated by editors."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("articles", "0002_search_gin_and_editors"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Comment",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("body", models.TextField(max_length=2000, verbose_name="内容")),
                ("status", models.CharField(choices=[("published", "已发布"), ("pending", "待审核"), ("hidden", "已隐藏")], default="published", max_length=12, verbose_name="状态")),
                ("spam_score", models.FloatField(default=0.0, verbose_name="垃圾分")),
                ("moderation_note", models.CharField(blank=True, max_length=200, verbose_name="审核说明")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, verbose_name="发表时间")),
                ("article", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="comments", to="articles.article", verbose_name="文章")),
                ("parent", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name="replies", to="articles.comment", verbose_name="回复")),
                ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="comments", to=settings.AUTH_USER_MODEL, verbose_name="用户")),
            ],
            options={
                "verbose_name": "评论",
                "verbose_name_plural": "评论",
                "ordering": ["created_at", "id"],
                "indexes": [
                    models.Index(fields=["article", "status", "created_at"], name="comment_article_status"),
                    models.Index(fields=["status", "-created_at"], name="comment_status_created"),
                ],
            },
        ),
    ]
