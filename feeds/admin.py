from django.contrib import admin, messages
from django.db import models
from django.utils.html import format_html

from feeds.models import FetchLog, Source


class HealthFilter(admin.SimpleListFilter):
    title = "健康"
    parameter_name = "health"

    def lookups(self, request, model_admin):
        return Source.Health.choices

    def queryset(self, request, queryset):
        value = self.value()
        if value == Source.Health.NEW:
            return queryset.filter(last_fetched_at__isnull=True)
        if value == Source.Health.FAILING:
            return queryset.filter(last_fetched_at__isnull=False, consecutive_errors__gte=Source.FAILING_AFTER)
        if value == Source.Health.WARNING:
            return queryset.filter(last_fetched_at__isnull=False, consecutive_errors__gt=0,
                                   consecutive_errors__lt=Source.FAILING_AFTER)
        if value == Source.Health.OK:
            return queryset.filter(last_fetched_at__isnull=False, consecutive_errors=0)
        return queryset


class FetchLogInline(admin.TabularInline):
    model = FetchLog
    extra = 0
    can_delete = False
    max_num = 0
    fields = ("started_at", "status", "error_kind", "error", "http_status", "new", "updated", "duration_ms")
    readonly_fields = fields
    ordering = ("-started_at",)

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-started_at")


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    # As the editor's form: a URL pasted without a scheme is https (Django 6's default too).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ("name", "kind", "health_badge", "last_fetched_at", "next_fetch_at", "entries_per_day",
                    "consecutive_errors", "last_error_kind", "article_count", "active")
    list_filter = (HealthFilter, "kind", "active", "last_error_kind")
    search_fields = ("name", "url", "site_url")
    readonly_fields = ("etag", "last_modified", "last_fetched_at", "last_success_at", "last_status",
                       "consecutive_errors", "error_count", "last_error", "last_error_kind", "last_error_at",
                       "entries_per_day", "server_min_interval", "flagged_at", "article_count",
                       "followers_count", "leased_until")
    prepopulated_fields = {"slug": ("name",)}
    actions = ["fetch_now", "activate", "deactivate"]
    inlines = [FetchLogInline]

    @admin.display(description="健康")
    def health_badge(self, obj: Source) -> str:
        colors = {"ok": "#15803d", "warning": "#b45309", "failing": "#b91c1c", "new": "#6b7280"}
        label = Source.Health(obj.health).label
        if obj.consecutive_errors:
            label = f"{label}（连续 {obj.consecutive_errors} 次：{obj.last_error_kind}）"
        return format_html('<b style="color:{}" title="{}">{}</b>', colors.get(obj.health, "#000"),
                           obj.last_error[:300], label)

    @admin.action(description="立即抓取")
    def fetch_now(self, request, queryset):
        from feeds.services import sources_fetch_many

        outcomes = sources_fetch_many(list(queryset.values_list("pk", flat=True)))
        for o in outcomes:
            level = messages.ERROR if o.status == "error" else messages.SUCCESS
            self.message_user(request, f"#{o.source}: {o.status} 新增 {o.new} 更新 {o.updated} {o.error}", level)

    @admin.action(description="启用")
    def activate(self, request, queryset):
        queryset.update(active=True)

    @admin.action(description="停用")
    def deactivate(self, request, queryset):
        queryset.update(active=False)
