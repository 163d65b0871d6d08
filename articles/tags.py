"""Tag services: one place that creates tags (normalized, alias-aware, race-safe),
keeps their stored stats, follows and merges them."""
from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F

from articles.models import Article, Tag, TagAlias, TagFollow, TaggedArticle
from articles.text.tagging import DEFAULT_ALIASES, normalize_tag_name, tag_key


def tag_resolve(*, name: str) -> Tag | None:
    """The existing tag a name means (by alias or case-insensitive name), if any."""
    display = normalize_tag_name(name)
    if not display:
        return None
    key = tag_key(display)
    alias = TagAlias.objects.select_related("tag").filter(alias=key).first()
    if alias:
        return alias.tag
    return Tag.objects.filter(name__iexact=display).first()


def tag_get_or_create(*, name: str) -> Tag | None:
    """Create tags only here. Two workers may race on a new tag: retry on IntegrityError."""
    display = normalize_tag_name(name)
    if not display:
        return None
    for _ in range(3):
        existing = tag_resolve(name=display)
        if existing:
            return existing
        try:
            with transaction.atomic():
                tag = Tag(name=display)
                tag.save()  # taggit makes a unique unicode slug (开源 → 开源, collisions get _1)
                TagAlias.objects.get_or_create(alias=tag_key(display), defaults={"tag": tag})
                return tag
        except IntegrityError:
            continue
    return tag_resolve(name=display)


def tag_alias_add(*, tag: Tag, alias: str) -> TagAlias:
    key = tag_key(normalize_tag_name(alias))
    obj, _ = TagAlias.objects.update_or_create(alias=key, defaults={"tag": tag})
    return obj


def tags_seed_default_aliases() -> None:
    """Install the shipped synonym table (英伟达/nvidia → NVIDIA, 显卡 → GPU …)."""
    for alias, canonical in DEFAULT_ALIASES.items():
        tag = tag_get_or_create(name=canonical)
        if tag:
            tag_alias_add(tag=tag, alias=alias)


def tag_vocabulary() -> dict[str, str]:
    """tag_key(alias or name) → canonical tag name, for keyword tagging."""
    vocab: dict[str, str] = {}
    for name in Tag.objects.values_list("name", flat=True):
        vocab[tag_key(name)] = name
    for alias, name in TagAlias.objects.values_list("alias", "tag__name"):
        vocab[alias] = name
    return vocab


def tag_follow(*, user, tag: Tag) -> bool:
    """Follow a tag; returns True if the follow is new. Counts stay stored."""
    with transaction.atomic():
        _, created = TagFollow.objects.get_or_create(user=user, tag=tag)
        if created:
            Tag.objects.filter(pk=tag.pk).update(followers_count=F("followers_count") + 1)
    return created


def tag_unfollow(*, user, tag: Tag) -> bool:
    with transaction.atomic():
        deleted, _ = TagFollow.objects.filter(user=user, tag=tag).delete()
        if deleted:
            Tag.objects.filter(pk=tag.pk, followers_count__gt=0).update(followers_count=F("followers_count") - 1)
    return bool(deleted)


def tag_recount(*, tag: Tag) -> None:
    """Recompute a tag's stored stats from the rows (editor actions, merges)."""
    Tag.objects.filter(pk=tag.pk).update(
        followers_count=TagFollow.objects.filter(tag=tag).count(),
        articles_count=TaggedArticle.objects.filter(tag=tag, content_object__status=Article.Status.PUBLISHED).count(),
    )


@transaction.atomic
def tag_merge(*, source: Tag, target: Tag) -> Tag:
    """Merge `source` into `target`: articles, follows, aliases and views move; source is deleted."""
    if source.pk == target.pk:
        return target
    existing_articles = set(TaggedArticle.objects.filter(tag=target).values_list("content_object_id", flat=True))
    TaggedArticle.objects.filter(tag=source).exclude(content_object_id__in=existing_articles).update(tag=target)
    existing_followers = set(TagFollow.objects.filter(tag=target).values_list("user_id", flat=True))
    TagFollow.objects.filter(tag=source).exclude(user_id__in=existing_followers).update(tag=target)
    TagAlias.objects.filter(tag=source).update(tag=target)
    TagAlias.objects.update_or_create(alias=tag_key(source.name), defaults={"tag": target})
    Tag.objects.filter(pk=target.pk).update(views_count=F("views_count") + source.views_count)
    source.delete()
    tag_recount(tag=target)
    target.refresh_from_db()
    return target
