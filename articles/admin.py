from django.contrib import admin, messages

from articles.models import Article, Bookmark, SpamRule, Tag, TagAlias, TagFollow, TagRule
from articles.tags import tag_merge, tag_recount


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ("title", "source", "status", "pinned", "published_at", "read_count", "bookmark_count", "spam_score")
    list_filter = ("status", "pinned", "source")
    search_fields = ("title", "url")
    list_select_related = ("source",)
    readonly_fields = ("guid", "guid_hash", "url_hash", "simhash", "story", "fetched_at", "read_count",
                       "bookmark_count", "spam_score", "moderation_note")
    exclude = ("search_vector", "search_text", "sim_band0", "sim_band1", "sim_band2", "sim_band3")
    actions = ["approve", "hide", "mark_spam", "pin", "unpin"]
    date_hierarchy = "published_at"

    def _set_status(self, request, queryset, status):
        from articles.cache import bump_generation

        for article in queryset:
            article.status = status
            article.save(update_fields=["status", "updated_at"])
            for tag in article.tags.all():
                tag_recount(tag=tag)
        bump_generation()

    @admin.action(description="通过（发布）")
    def approve(self, request, queryset):
        self._set_status(request, queryset, Article.Status.PUBLISHED)

    @admin.action(description="隐藏")
    def hide(self, request, queryset):
        self._set_status(request, queryset, Article.Status.HIDDEN)

    @admin.action(description="标记为垃圾")
    def mark_spam(self, request, queryset):
        self._set_status(request, queryset, Article.Status.SPAM)

    @admin.action(description="置顶")
    def pin(self, request, queryset):
        queryset.update(pinned=True)

    @admin.action(description="取消置顶")
    def unpin(self, request, queryset):
        queryset.update(pinned=False)


class TagAliasInline(admin.TabularInline):
    model = TagAlias
    extra = 1


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "followers_count", "articles_count", "views_count")
    search_fields = ("name", "slug", "aliases__alias")
    readonly_fields = ("followers_count", "articles_count", "views_count")
    inlines = [TagAliasInline]
    actions = ["merge_into_first"]

    @admin.action(description="合并所选标签（保留文章最多的一个）")
    def merge_into_first(self, request, queryset):
        tags = list(queryset.order_by("-articles_count", "id"))
        if len(tags) < 2:
            self.message_user(request, "请至少选择两个标签", messages.WARNING)
            return
        survivor = tags[0]
        for other in tags[1:]:
            survivor = tag_merge(source=other, target=survivor)
        self.message_user(request, f"已合并到「{survivor.name}」")


admin.site.register(SpamRule)
admin.site.register(TagRule)
admin.site.register(TagAlias)
admin.site.register(TagFollow)
admin.site.register(Bookmark)
admin.site.site_header = "Newsroom 编辑后台"
admin.site.site_title = "Newsroom"
