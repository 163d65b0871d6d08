from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


class SourceQuerySet(models.QuerySet):
    def active(self) -> "SourceQuerySet":
        return self.filter(active=True)

    def due(self, now=None) -> "SourceQuerySet":
        now = now or timezone.now()
        return (
            self.active()
            .filter(next_fetch_at__lte=now)
            .filter(models.Q(leased_until__isnull=True) | models.Q(leased_until__lte=now))
        )


class Source(models.Model):
    class Kind(models.TextChoices):
        RSS = "rss", "RSS/Atom"
        HTML = "html", "HTML 列表页"

    class Health(models.TextChoices):
        NEW = "new", "未抓取"
        OK = "ok", "正常"
        WARNING = "warning", "有错误"
        FAILING = "failing", "持续失败"

    name = models.CharField("名称", max_length=200)
    slug = models.SlugField("标识", max_length=200, unique=True, allow_unicode=True)
    kind = models.CharField("类型", max_length=10, choices=Kind.choices, default=Kind.RSS)
    url = models.URLField("订阅地址", max_length=2000, unique=True)
    site_url = models.URLField("网站地址", max_length=2000, blank=True)
    default_tags = models.CharField("默认标签", max_length=500, blank=True, help_text="逗号分隔")
    active = models.BooleanField("启用", default=True)
    convert_traditional = models.BooleanField("繁体转简体", default=True)
    fetch_full_text = models.BooleanField("抓取全文", default=True)
    encoding_override = models.CharField("强制编码", max_length=40, blank=True)
    # HTML listing sources: CSS selectors {"item": "a.title", "title": "h1", "date": ".time", "body": "#content"}
    selectors = models.JSONField("CSS 选择器", default=dict, blank=True)
    demo_snapshot = models.CharField(max_length=200, blank=True, help_text="离线演示快照文件")

    # Conditional GET state
    etag = models.CharField(max_length=500, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)

    # Scheduling and health
    fetch_interval = models.PositiveIntegerField("抓取间隔(秒)", default=1800)
    next_fetch_at = models.DateTimeField("下次抓取", default=timezone.now, db_index=True)
    leased_until = models.DateTimeField(null=True, blank=True)
    last_fetched_at = models.DateTimeField("上次抓取", null=True, blank=True)
    last_success_at = models.DateTimeField("上次成功", null=True, blank=True)
    last_status = models.CharField("上次结果", max_length=20, blank=True)
    consecutive_errors = models.PositiveIntegerField("连续错误", default=0)
    error_count = models.PositiveIntegerField("累计错误", default=0)
    last_error = models.TextField("最近错误", blank=True)
    last_error_kind = models.CharField("错误类型", max_length=40, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    entries_per_day = models.FloatField("每日条目", default=0.0)
    # Server caching hints from the last response (Cache-Control max-age / Retry-After), in seconds.
    server_min_interval = models.PositiveIntegerField("服务器建议间隔(秒)", null=True, blank=True)
    # Set when the source crosses FAILING_AFTER consecutive errors; cleared by the next success.
    # The source stays on the schedule (capped backoff): editors decide whether to disable it.
    flagged_at = models.DateTimeField("标记为需处理", null=True, blank=True, db_index=True)
    article_count = models.PositiveIntegerField("文章数", default=0)
    followers_count = models.PositiveIntegerField("关注", default=0)

    created_at = models.DateTimeField(auto_now_add=True)

    objects = SourceQuerySet.as_manager()

    FAILING_AFTER = 5

    class Meta:
        ordering = ["name"]
        verbose_name = "订阅源"
        verbose_name_plural = "订阅源"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # Django's URLValidator lets control characters through (an OPML file's &#8;, a pasted
        # URL): no fetch could use one. Here, so every way in (source_create, the admin) refuses it.
        errors = {name: "链接含有控制字符或不可见字符" for name in ("url", "site_url")
                  if not getattr(self, name).isprintable()}
        if errors:
            raise ValidationError(errors)

    def get_absolute_url(self) -> str:
        return f"/sources/{self.slug}/"

    @property
    def health(self) -> str:
        if not self.last_fetched_at:
            return self.Health.NEW
        if self.consecutive_errors >= self.FAILING_AFTER:
            return self.Health.FAILING
        if self.consecutive_errors:
            return self.Health.WARNING
        return self.Health.OK

    @property
    def default_tag_list(self) -> list[str]:
        return [t.strip() for t in self.default_tags.replace("，", ",").split(",") if t.strip()]

    def lease_for(self, seconds: int) -> None:
        self.leased_until = timezone.now() + timedelta(seconds=seconds)


class FetchLog(models.Model):
    """One row per fetch attempt: what editors read to see a source's history."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="fetch_logs")
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    duration_ms = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=20)  # ok / not_modified / error
    error_kind = models.CharField(max_length=40, blank=True)
    error = models.TextField(blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    new = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = "抓取记录"
        verbose_name_plural = "抓取记录"
