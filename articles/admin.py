import re

from django import forms
from django.contrib import admin, messages

from articles.ingest import story_promote
from articles.models import Article, Bookmark, SpamRule, Tag, TagAlias, TagFollow, TagRule
from articles.tags import tag_merge, tag_recount, tag_resolve
from articles.text.spam import STRONG_RULE_WEIGHT
from articles.text.tagging import normalize_tag_name, tag_key
from articles.text.tokenizer import load_user_words


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ("title", "source", "status", "pinned", "published_at", "read_count", "bookmark_count", "spam_score",
                    "moderation_note")
    list_filter = ("status", "pinned", "source")
    search_fields = ("title", "url")
    list_select_related = ("source",)
    readonly_fields = ("guid", "guid_hash", "url_hash", "simhash", "story", "fetched_at", "read_count",
                       "bookmark_count", "spam_score", "moderation_note")
    exclude = ("sim_band0", "sim_band1", "sim_band2", "sim_band3")
    actions = ["approve", "hide", "mark_spam", "soft_delete", "pin", "unpin"]
    date_hierarchy = "published_at"

    def _set_status(self, request, queryset, status):
        from articles.cache import bump_generation

        tag_ids: set[int] = set()
        for article in queryset.select_related(None):
            if article.status == status:
                continue
            article.status = status
            article.save(update_fields=["status", "updated_at"])
            tag_ids.update(article.tags.values_list("pk", flat=True))
            if status != Article.Status.PUBLISHED:
                story_promote(article)  # its reposts stay on the site under the next copy
        for tag in Tag.objects.filter(pk__in=tag_ids):
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

    @admin.action(description="删除（不再重新抓取）")
    def soft_delete(self, request, queryset):
        self._set_status(request, queryset, Article.Status.DELETED)

    # Removing the row would let the next fetch bring the article back: a deleted
    # article keeps its row (guid, url hash) with status "deleted" and stays deleted.
    def delete_model(self, request, obj):
        self._set_status(request, Article.objects.filter(pk=obj.pk), Article.Status.DELETED)

    def delete_queryset(self, request, queryset):
        self._set_status(request, queryset, Article.Status.DELETED)

    @admin.action(description="置顶")
    def pin(self, request, queryset):
        queryset.update(pinned=True)

    @admin.action(description="取消置顶")
    def unpin(self, request, queryset):
        queryset.update(pinned=False)


class TagAliasForm(forms.ModelForm):
    """Editors type any spelling (Ｎｖｉｄｉａ, 開源, Wi-Fi 7): stored as the match key."""

    class Meta:
        model = TagAlias
        fields = ("alias", "tag")

    def clean_alias(self):
        key = tag_key(self.cleaned_data.get("alias") or "")
        if not key:
            raise forms.ValidationError("别名不能为空")
        clash = TagAlias.objects.filter(alias=key).exclude(pk=self.instance.pk).select_related("tag").first()
        if clash:
            raise forms.ValidationError(f"「{key}」已是「{clash.tag.name}」的别名")
        return key


class TagAliasInline(admin.TabularInline):
    model = TagAlias
    form = TagAliasForm
    extra = 1


class TagForm(forms.ModelForm):
    class Meta:
        model = Tag
        fields = ("name", "slug", "description")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False  # taggit makes a unicode slug from the name

    def clean_name(self):
        name = normalize_tag_name(self.cleaned_data.get("name") or "")
        if not name:
            raise forms.ValidationError("标签名不能为空")
        other = tag_resolve(name=name)
        if other is not None and other.pk != self.instance.pk:
            raise forms.ValidationError(f"已有同义标签「{other.name}」，请合并或使用它")
        return name


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    form = TagForm
    list_display = ("name", "slug", "followers_count", "articles_count", "views_count")
    search_fields = ("name", "slug", "aliases__alias")
    readonly_fields = ("followers_count", "articles_count", "views_count")
    inlines = [TagAliasInline]
    actions = ["merge_into_first"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        TagAlias.objects.get_or_create(alias=tag_key(obj.name), defaults={"tag": obj})
        load_user_words([obj.name])

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        load_user_words(TagAlias.objects.filter(tag=form.instance).values_list("alias", flat=True))

    @admin.action(description="合并所选标签（保留文章最多的一个）")
    def merge_into_first(self, request, queryset):
        from articles.cache import bump_generation

        tags = list(queryset.order_by("-articles_count", "-followers_count", "id"))
        if len(tags) < 2:
            self.message_user(request, "请至少选择两个标签", messages.WARNING)
            return
        survivor = tags[0]
        for other in tags[1:]:
            survivor = tag_merge(source=other, target=survivor)
        bump_generation()
        self.message_user(request, f"已合并到「{survivor.name}」")


@admin.register(TagAlias)
class TagAliasAdmin(admin.ModelAdmin):
    form = TagAliasForm
    list_display = ("alias", "tag")
    search_fields = ("alias", "tag__name")
    autocomplete_fields = ("tag",)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        load_user_words([obj.alias])  # the next ingest keeps the word whole and maps it


class _RegexRuleForm(forms.ModelForm):
    def clean(self):
        data = super().clean()
        if data.get("is_regex") and data.get("pattern"):
            try:
                re.compile(data["pattern"])
            except re.error as exc:
                self.add_error("pattern", f"不是有效的正则表达式：{exc}")
        return data


class SpamRuleForm(_RegexRuleForm):
    class Meta:
        model = SpamRule
        fields = ("pattern", "is_regex", "weight", "active")
        help_texts = {"weight": f"≥ {STRONG_RULE_WEIGHT:g}：命中的段落一律删除，命中标题则送审；较低的权重只在词表式垃圾段落中累计"}


@admin.register(SpamRule)
class SpamRuleAdmin(admin.ModelAdmin):
    form = SpamRuleForm
    list_display = ("pattern", "is_regex", "weight", "active", "created_at")
    list_filter = ("active", "is_regex")
    search_fields = ("pattern",)

    def get_changeform_initial_data(self, request):
        # An editor adding a phrase means "this is spam": strong by default.
        return {"weight": STRONG_RULE_WEIGHT, **super().get_changeform_initial_data(request)}


class TagRuleForm(_RegexRuleForm):
    class Meta:
        model = TagRule
        fields = ("pattern", "is_regex", "tag_name", "active")

    def clean_tag_name(self):
        name = normalize_tag_name(self.cleaned_data.get("tag_name") or "")
        if not name:
            raise forms.ValidationError("标签名不能为空")
        return name


@admin.register(TagRule)
class TagRuleAdmin(admin.ModelAdmin):
    form = TagRuleForm
    list_display = ("pattern", "is_regex", "tag_name", "active")
    list_filter = ("active", "is_regex")
    search_fields = ("pattern", "tag_name")


admin.site.register(TagFollow)
admin.site.register(Bookmark)
admin.site.site_header = "Newsroom 编辑后台"
admin.site.site_title = "Newsroom"


from articles.comments import comments_set_status  # noqa: E402
from articles.models import Comment  # noqa: E402


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    """Editor moderation: pending comments first; approve / hide keep the article's stored count right."""

    list_display = ("short_body", "article", "user", "status", "spam_score", "moderation_note", "created_at")
    list_filter = ("status",)
    search_fields = ("body", "user__username", "article__title")
    list_select_related = ("article", "user")
    raw_id_fields = ("article", "user", "parent")
    readonly_fields = ("spam_score", "moderation_note", "created_at")
    actions = ["approve", "hide"]
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-created_at")

    @admin.display(description="内容")
    def short_body(self, obj: Comment) -> str:
        return obj.body[:60]

    @admin.action(description="通过（显示）")
    def approve(self, request, queryset):
        n = comments_set_status(comment_ids=list(queryset.values_list("pk", flat=True)), status=Comment.Status.PUBLISHED)
        self.message_user(request, f"已通过 {n} 条评论")

    @admin.action(description="隐藏")
    def hide(self, request, queryset):
        n = comments_set_status(comment_ids=list(queryset.values_list("pk", flat=True)), status=Comment.Status.HIDDEN)
        self.message_user(request, f"已隐藏 {n} 条评论")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        from articles.comments import comments_recount

        comments_recount(article_ids=[obj.article_id])
