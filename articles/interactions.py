"""Reader actions with stored counts: bookmarks and source follows.

Counts shown on pages (Article.bookmark_count, Source.followers_count) are
updated here in the same transaction as the row, never COUNT(*)-ed per request.
"""
from __future__ import annotations

from django.db import transaction
from django.db.models import F

from articles import counters
from articles.models import Article, Bookmark, SourceFollow
from feeds.models import Source


def bookmark_add(*, user, article: Article) -> bool:
    """Bookmark an article; True if new. A new bookmark also warms the article in the hot lists."""
    with transaction.atomic():
        _, created = Bookmark.objects.get_or_create(user=user, article=article)
        if created:
            Article.objects.filter(pk=article.pk).update(bookmark_count=F("bookmark_count") + 1)
    if created:
        counters.record_bookmark(article.pk, +1)
    return created


def bookmark_remove(*, user, article: Article) -> bool:
    with transaction.atomic():
        deleted, _ = Bookmark.objects.filter(user=user, article=article).delete()
        if deleted:
            Article.objects.filter(pk=article.pk, bookmark_count__gt=0).update(bookmark_count=F("bookmark_count") - 1)
    if deleted:
        counters.record_bookmark(article.pk, -1)
    return bool(deleted)


def source_follow(*, user, source: Source) -> bool:
    with transaction.atomic():
        _, created = SourceFollow.objects.get_or_create(user=user, source=source)
        if created:
            Source.objects.filter(pk=source.pk).update(followers_count=F("followers_count") + 1)
    return created


def source_unfollow(*, user, source: Source) -> bool:
    with transaction.atomic():
        deleted, _ = SourceFollow.objects.filter(user=user, source=source).delete()
        if deleted:
            Source.objects.filter(pk=source.pk, followers_count__gt=0).update(followers_count=F("followers_count") - 1)
    return bool(deleted)
