"""Reader actions with stored counts: bookmarks and source follows (tag follows
in articles.tags use the same counted_link / counted_unlink).

Counts shown on pages (Article.bookmark_count, Source/Tag.followers_count) are
updated here in the same transaction as the row, never COUNT(*)-ed per request.
"""
from __future__ import annotations

from django.db import transaction
from django.db.models import F

from articles import counters
from articles.models import Bookmark, SourceFollow


def counted_link(link_model, target, count_field: str, **link) -> bool:
    """Create a reader's link row (a follow, a bookmark) and bump the target's stored
    count in the same transaction; True if the link is new."""
    with transaction.atomic():
        _, created = link_model.objects.get_or_create(**link)
        if created:
            type(target).objects.filter(pk=target.pk).update(**{count_field: F(count_field) + 1})
    return created


def counted_unlink(link_model, target, count_field: str, **link) -> bool:
    """Remove a reader's link row and lower the target's stored count (never below 0); True if there was one."""
    with transaction.atomic():
        deleted, _ = link_model.objects.filter(**link).delete()
        if deleted:
            type(target).objects.filter(pk=target.pk, **{f"{count_field}__gt": 0}).update(
                **{count_field: F(count_field) - 1})
    return bool(deleted)


def bookmark_add(*, user, article) -> bool:
    """Bookmark an article; True if new. A new bookmark also warms the article in the hot lists."""
    created = counted_link(Bookmark, article, "bookmark_count", user=user, article=article)
    if created:
        counters.record_bookmark(article.pk, +1)
    return created


def bookmark_remove(*, user, article) -> bool:
    deleted = counted_unlink(Bookmark, article, "bookmark_count", user=user, article=article)
    if deleted:
        counters.record_bookmark(article.pk, -1)
    return deleted


def source_follow(*, user, source) -> bool:
    return counted_link(SourceFollow, source, "followers_count", user=user, source=source)


def source_unfollow(*, user, source) -> bool:
    return counted_unlink(SourceFollow, source, "followers_count", user=user, source=source)
