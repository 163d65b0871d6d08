"""Reads: what pages and feeds show, with their joins built in."""
from __future__ import annotations

from django.db.models import QuerySet

from articles.models import Article, Bookmark, Tag, TagFollow
from articles.text.urls import url_hash


def known_links(source_id: int, links: list[str]) -> set[str]:
    """Which of these links this source already has (so feeds skips re-fetching their pages)."""
    if not links:
        return set()
    by_hash = {url_hash(link): link for link in links}
    found = set(
        Article.objects.filter(url_hash__in=list(by_hash)).values_list("url_hash", flat=True)
    ) | set(Article.objects.filter(source_id=source_id, url__in=links).values_list("url", flat=True))
    return {by_hash.get(h, h) for h in found}


def article_list(base: QuerySet | None = None) -> QuerySet:
    """Published articles for lists: newest first, one card per story (reposts folded)."""
    qs = base if base is not None else Article.objects.all()
    return qs.published().filter(story__isnull=True).for_list().order_by("-pinned", "-published_at", "-id")


def followed_tag_ids(user) -> set[int]:
    if not user.is_authenticated:
        return set()
    return set(TagFollow.objects.filter(user=user).values_list("tag_id", flat=True))


def bookmarked_ids(user, article_ids: list[int]) -> set[int]:
    if not user.is_authenticated or not article_ids:
        return set()
    return set(Bookmark.objects.filter(user=user, article_id__in=article_ids).values_list("article_id", flat=True))


def stream_for(user) -> QuerySet:
    from articles.models import SourceFollow

    tag_ids = list(TagFollow.objects.filter(user=user).values_list("tag_id", flat=True))
    source_ids = list(SourceFollow.objects.filter(user=user).values_list("source_id", flat=True))
    from django.db.models import Q

    return article_list(Article.objects.filter(Q(tags__in=tag_ids) | Q(source_id__in=source_ids)).distinct())


def popular_tags(limit: int = 30) -> QuerySet:
    return Tag.objects.order_by("-articles_count", "name")[:limit]


def article_id_for_url(url: str) -> int | None:
    if not url:
        return None
    return Article.objects.filter(url_hash=url_hash(url)).order_by("id").values_list("id", flat=True).first()
