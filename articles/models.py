from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone
from taggit.managers import TaggableManager
from taggit.models import TagBase, TaggedItemBase


LISTED = models.Q(status="published", story__isnull=True)


class Tag(TagBase):
    """A tag with its reader-facing stats stored (never COUNT(*) per request)."""

    followers_count = models.PositiveIntegerField("关注", default=0)
    articles_count = models.PositiveIntegerField("文章", default=0)
    views_count = models.PositiveBigIntegerField("浏览量", default=0)
    description = models.TextField("简介", blank=True)

    class Meta:
        verbose_name = "标签"
        verbose_name_plural = "标签"
        ordering = ["-articles_count", "name"]
        indexes = [
            models.Index(fields=["-articles_count", "name"], name="tag_popular"),
            # Names are matched case-insensitively (tags.tag_resolve / _lookup_many) on every ingest.
            models.Index(Upper("name"), name="tag_name_upper"),
        ]

    def get_absolute_url(self) -> str:
        return f"/tags/{self.slug}/"


class TagAlias(models.Model):
    """Another spelling of a tag: 英伟达 / nvidia → NVIDIA, 显卡 → GPU."""

    alias = models.CharField("别名", max_length=100, unique=True)  # normalized form
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="aliases")

    class Meta:
        verbose_name = "标签别名"
        verbose_name_plural = "标签别名"

    def __str__(self) -> str:
        return f"{self.alias} → {self.tag.name}"


class TaggedArticle(TaggedItemBase):
    # No index of their own: (content_object, tag) and (tag, -content_object) below lead with each.
    content_object = models.ForeignKey("Article", on_delete=models.CASCADE, db_index=False)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="tagged_articles", db_index=False)
    # A tag's timeline (PostgreSQL): the article's list position and whether it is listed
    # (published, not a repost), copied here by triggers (migration 0010) whatever changes
    # the article, so a tag page walks one index instead of the whole site's list.
    published_at = models.DateTimeField(null=True, editable=False)
    pinned = models.BooleanField(default=False, editable=False)
    listed = models.BooleanField(default=False, editable=False)

    class Meta:
        unique_together = [("content_object", "tag")]
        indexes = [
            models.Index(fields=["tag", "-content_object"], name="taggedarticle_tag_article"),
            models.Index(fields=["tag", "-pinned", "-published_at", "-content_object"], condition=models.Q(listed=True),
                         name="taggedarticle_timeline"),
        ]


class ArticleQuerySet(models.QuerySet):
    def published(self) -> "ArticleQuerySet":
        return self.filter(status=Article.Status.PUBLISHED)

    def for_list(self) -> "ArticleQuerySet":
        # Tags come from selectors.attach_tags once the page of cards is known (cheaper than a prefetch).
        return self.select_related("source").defer("body", "keywords")

    def latest_first(self) -> "ArticleQuerySet":
        return self.order_by("-published_at", "-id")


class Article(models.Model):
    class Status(models.TextChoices):
        PUBLISHED = "published", "已发布"
        PENDING = "pending", "待审核"
        HIDDEN = "hidden", "已隐藏"
        SPAM = "spam", "垃圾"
        DELETED = "deleted", "已删除"

    # No index of its own: the (source, guid_hash) constraint and the source lists' indexes lead with it.
    source = models.ForeignKey("feeds.Source", on_delete=models.CASCADE, related_name="articles", db_index=False)
    guid = models.TextField()
    guid_hash = models.CharField(max_length=40)
    url = models.URLField("链接", max_length=2000, blank=True)
    canonical_url = models.URLField(max_length=2000, blank=True)
    url_hash = models.CharField(max_length=40, blank=True)  # unique when set (Meta): equality only, no LIKE twin
    title = models.CharField("标题", max_length=500)
    summary = models.TextField("摘要", blank=True)
    body = models.TextField("正文", blank=True)  # sanitized HTML
    author = models.CharField("作者", max_length=200, blank=True)
    original_title = models.CharField("原文标题", max_length=500, blank=True)
    origin_account = models.CharField("文章出处", max_length=200, blank=True)
    published_at = models.DateTimeField("发布时间", default=timezone.now)
    fetched_at = models.DateTimeField("抓取时间", default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    status = models.CharField("状态", max_length=12, choices=Status.choices, default=Status.PUBLISHED)
    pinned = models.BooleanField("置顶", default=False)
    spam_score = models.FloatField(default=0.0)
    moderation_note = models.CharField(max_length=300, blank=True)

    read_count = models.PositiveBigIntegerField("阅读", default=0)
    bookmark_count = models.PositiveIntegerField("收藏", default=0)
    comment_count = models.PositiveIntegerField("评论", default=0)

    # Near-duplicate grouping: reposts point at the first article of their story.
    simhash = models.BigIntegerField(null=True, blank=True)
    # The 64-bit simhash cut in four 16-bit bands: two hashes within Hamming
    # distance 3 share at least one band, so candidates come from an index.
    sim_band0 = models.IntegerField(null=True, blank=True, db_index=True)
    sim_band1 = models.IntegerField(null=True, blank=True, db_index=True)
    sim_band2 = models.IntegerField(null=True, blank=True, db_index=True)
    sim_band3 = models.IntegerField(null=True, blank=True, db_index=True)
    story = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reposts")

    # Top keywords, computed once at ingest: related posts compare these sets.
    keywords = models.JSONField(default=list, blank=True)
    # Fingerprint of the raw entry as fetched: an unchanged entry skips the pipeline.
    raw_hash = models.CharField(max_length=40, blank=True)

    tags = TaggableManager(through=TaggedArticle, blank=True)

    objects = ArticleQuerySet.as_manager()

    class Meta:
        verbose_name = "文章"
        verbose_name_plural = "文章"
        ordering = ["-published_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "guid_hash"], name="article_source_guid_unique"),
            # One article per canonical URL, whatever the source: feeds fetched at once (the fetch
            # worker's threads) cannot both store a page they each looked up and did not find.
            # Lookups say ``url_hash <> ''`` too, so the planner can use this partial index.
            models.UniqueConstraint(fields=["url_hash"], condition=~models.Q(url_hash=""), name="article_url_hash_unique"),
        ]
        indexes = [
            models.Index(fields=["status", "-published_at", "-id"], name="article_status_pub"),
            models.Index(fields=["source", "status", "-published_at"], name="article_source_pub"),
            models.Index(fields=["status", "-read_count"], name="article_status_reads"),
            # Home / source lists: published originals in list order (0004, checked with EXPLAIN at 100k).
            models.Index(fields=["-pinned", "-published_at", "-id"], condition=LISTED, name="article_listed_pub"),
            models.Index(fields=["source", "-pinned", "-published_at", "-id"], condition=LISTED,
                         name="article_source_listed"),
            # The few articles readers may not see: search drops them from its window cheaply.
            models.Index(fields=["id"], name="article_unpublished", condition=~models.Q(status="published")),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return f"/articles/{self.pk}/"


class SearchDoc(models.Model):
    """PostgreSQL full-text index of an article, in a narrow table of its own.

    A search visits every matching row to order matches by date: here that is a
    row of a few dozen bytes (the vector itself lives in TOAST), not a wide
    article row with its body, so the rows of a common word stay in memory.
    GIN-indexed (migration 0007). Written by articles.search.index_article;
    unused on SQLite."""

    article = models.OneToOneField(Article, primary_key=True, on_delete=models.CASCADE, related_name="search_doc")
    published_at = models.DateTimeField()
    title = models.CharField(max_length=500, blank=True)  # what results are ranked by, without a join
    vector = SearchVectorField()

    class Meta:
        verbose_name = "搜索索引"
        verbose_name_plural = "搜索索引"


class RelatedArticle(models.Model):
    """Precomputed 相关推荐: filled when an article is stored."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="related_links", db_index=False)  # led by related_unique
    related = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="+")
    score = models.FloatField(default=0.0)
    shared_words = models.JSONField(default=list)

    class Meta:
        ordering = ["-score"]
        indexes = [models.Index(fields=["article", "-score"], name="related_article_score")]
        constraints = [models.UniqueConstraint(fields=["article", "related"], name="related_unique")]


class TagFollow(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tag_follows",
                             db_index=False)  # led by tagfollow_unique
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="follows")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tag"], name="tagfollow_unique")]


class SourceFollow(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="source_follows",
                             db_index=False)  # led by sourcefollow_unique
    source = models.ForeignKey("feeds.Source", on_delete=models.CASCADE, related_name="follows")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "source"], name="sourcefollow_unique")]


class Bookmark(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bookmarks",
                             db_index=False)  # led by bookmark_unique
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="bookmarks")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "article"], name="bookmark_unique")]


class SpamRule(models.Model):
    """Editor-maintained spam phrase or regex, added to the shipped lexicon."""

    pattern = models.CharField("词语或正则", max_length=300, unique=True)
    is_regex = models.BooleanField("正则", default=False)
    weight = models.FloatField("权重", default=1.0)
    active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "垃圾规则"
        verbose_name_plural = "垃圾规则"

    def __str__(self) -> str:
        return self.pattern


class TagRule(models.Model):
    """Editor rule: when the keyword/regex appears in title or body, add the tag."""

    pattern = models.CharField("关键词或正则", max_length=300)
    is_regex = models.BooleanField("正则", default=False)
    tag_name = models.CharField("标签", max_length=100)
    active = models.BooleanField("启用", default=True)

    class Meta:
        verbose_name = "自动标签规则"
        verbose_name_plural = "自动标签规则"

    def __str__(self) -> str:
        return f"{self.pattern} → {self.tag_name}"


class Comment(models.Model):
    """A reader's comment; replies are one level deep (a reply to a reply joins its thread)."""

    class Status(models.TextChoices):
        PUBLISHED = "published", "已发布"
        PENDING = "pending", "待审核"
        HIDDEN = "hidden", "已隐藏"

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="comments", verbose_name="文章",
                                db_index=False)  # led by comment_article_status
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comments", verbose_name="用户")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies", verbose_name="回复"
    )
    body = models.TextField("内容", max_length=2000)
    status = models.CharField("状态", max_length=12, choices=Status.choices, default=Status.PUBLISHED)
    spam_score = models.FloatField("垃圾分", default=0.0)
    moderation_note = models.CharField("审核说明", max_length=200, blank=True)
    created_at = models.DateTimeField("发表时间", default=timezone.now)

    class Meta:
        verbose_name = "评论"
        verbose_name_plural = "评论"
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["article", "status", "created_at"], name="comment_article_status"),
            models.Index(fields=["status", "-created_at"], name="comment_status_created"),
        ]

    def __str__(self) -> str:
        return self.body[:40]


class CounterFlush(models.Model):
    """Each Redis → database flush of read counts, by token: a flush re-run after a
    crash between the database commit and the Redis cleanup is not applied twice."""

    token = models.CharField(max_length=40, unique=True)
    reads = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
