"""Tag services: one place that creates tags (normalized, alias-aware, race-safe),
keeps their stored stats, follows and merges them."""
from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q

from articles.interactions import counted_link, counted_unlink
from articles.models import Article, Tag, TagAlias, TagFollow, TaggedArticle
from articles.text.tagging import DEFAULT_ALIASES, Vocabulary, build_vocabulary, normalize_tag_name, tag_key
from articles.text.tokenizer import load_user_words


@lru_cache(maxsize=1)
def _default_vocabulary() -> dict[str, str]:
    """tag_key → canonical name of the shipped synonym table (canonical names included)."""
    return build_vocabulary(set(DEFAULT_ALIASES.values()), DEFAULT_ALIASES)


def _lookup(display: str) -> Tag | None:
    key = tag_key(display)
    alias = TagAlias.objects.select_related("tag").filter(alias=key).first()
    if alias:
        return alias.tag
    return Tag.objects.filter(name__iexact=display).first()


def _canonical_name(display: str) -> str:
    """The shipped canonical spelling of a name (英伟达 / nvidia → NVIDIA), else the name."""
    return _default_vocabulary().get(tag_key(display), display)


def tag_resolve(*, name: str) -> Tag | None:
    """The existing tag a name means — by the editors' aliases, case-insensitive
    name, then the shipped synonym table — if any."""
    display = normalize_tag_name(name)
    if not display:
        return None
    found = _lookup(display)
    if found is None:
        canonical = _canonical_name(display)
        if canonical != display:
            found = _lookup(canonical)
    return found


def tag_get_or_create(*, name: str, new_words: list[str] | None = None) -> Tag | None:
    """Create tags only here: names normalized (case, script, width, decoration)
    and mapped through the aliases first, so 開源/开源 or nvidia/NVIDIA/英伟达 never
    become twins. Two workers may race on a new tag: retry on IntegrityError.

    A new tag's names are taught to the tokenizer (a rebuild, ~0.1 s); a batch
    caller passes ``new_words`` to collect them and teach them once at the end."""
    display = normalize_tag_name(name)
    if not display:
        return None
    for _ in range(3):
        existing = tag_resolve(name=display)
        if existing:
            return existing
        canonical = _canonical_name(display)
        try:
            with transaction.atomic():
                tag = Tag(name=canonical)
                tag.save()  # taggit makes a unique unicode slug (开源 → 开源, collisions get _1)
                for key in dict.fromkeys((tag_key(canonical), tag_key(display))):
                    TagAlias.objects.get_or_create(alias=key, defaults={"tag": tag})
        except IntegrityError:
            continue
        # Brand names must stay whole for tagging and search from now on.
        if new_words is None:
            load_user_words([canonical, display])
        else:
            new_words.extend((canonical, display))
        return tag
    return tag_resolve(name=display)


# What tags_resolve_many found, for the vocabulary it was found under (see there).
_resolved: tuple[Vocabulary | None, dict[str, Tag]] = (None, {})


def tags_resolve_many(names: Iterable[str], *, vocabulary: Vocabulary | None = None) -> dict[str, Tag]:
    """tag_resolve for many names at once (an ingest call's entries share most
    of theirs): two to four queries in all. Returns name → tag for the names an
    existing tag answers to; the others are for tag_get_or_create.

    With ``vocabulary`` (what ``tag_vocabulary()`` returned to the caller just now)
    the names found are kept for the next call with the same vocabulary: it is the
    same object only while the tags and aliases are unchanged (on PostgreSQL), so
    what a name resolves to is unchanged too, and a worker's fetches stop asking
    for the same few hundred names. Only the tags' ids are meant to be used: their
    stored counts move on without them."""
    global _resolved
    memo: dict[str, Tag] = {}
    if vocabulary is not None:
        if _resolved[0] is not vocabulary:
            _resolved = (vocabulary, {})
        memo = _resolved[1]
    names = list(dict.fromkeys(names))
    found = {name: memo[name] for name in names if name in memo}
    fresh = _resolve_many(name for name in names if name not in found)
    memo.update(fresh)
    return found | fresh


def _resolve_many(names: Iterable[str]) -> dict[str, Tag]:
    displays = {name: normalize_tag_name(name) for name in names}
    found = _lookup_many({d for d in displays.values() if d})
    # As tag_resolve: a name no tag answers to may still mean a shipped canonical one (nvidia → NVIDIA).
    canonicals = {d: _canonical_name(d) for d in displays.values() if d and d not in found}
    by_canonical = _lookup_many({c for d, c in canonicals.items() if c != d})
    for display, canonical in canonicals.items():
        if canonical in by_canonical:
            found[display] = by_canonical[canonical]
    return {name: found[display] for name, display in displays.items() if display in found}


def _lookup_many(displays: set[str]) -> dict[str, Tag]:
    """_lookup for many display names: aliases first, then case-insensitive names
    (the most popular tag when several differ only in case, as Tag's ordering)."""
    if not displays:
        return {}
    by_key: dict[str, list[str]] = {}
    for display in displays:
        by_key.setdefault(tag_key(display), []).append(display)
    found: dict[str, Tag] = {}
    for alias in TagAlias.objects.select_related("tag").filter(alias__in=list(by_key)):
        for display in by_key[alias.alias]:
            found[display] = alias.tag
    rest = [d for d in displays if d not in found]
    if rest:
        by_upper = {d.upper(): d for d in rest}
        query = Q()
        for display in rest:
            query |= Q(name__iexact=display)
        for tag in Tag.objects.filter(query):  # Meta ordering: the one .first() would pick comes first
            display = by_upper.get(tag.name.upper())
            if display is not None:
                found.setdefault(display, tag)
    return found


def tag_alias_add(*, tag: Tag, alias: str) -> TagAlias:
    display = normalize_tag_name(alias)
    obj, _ = TagAlias.objects.update_or_create(alias=tag_key(display), defaults={"tag": tag})
    load_user_words([display])
    return obj


def tag_words() -> Iterable[str]:
    """Every tag name and alias, plus the shipped synonyms: the words the
    tokenizer must keep whole (registered as its loader in articles.apps)."""
    words = set(DEFAULT_ALIASES) | set(DEFAULT_ALIASES.values())
    words.update(Tag.objects.values_list("name", flat=True))
    words.update(TagAlias.objects.values_list("alias", flat=True))
    return sorted(words)


def tags_seed_default_aliases() -> None:
    """Install the shipped synonym table (英伟达/nvidia → NVIDIA, 显卡 → GPU …)."""
    for alias, canonical in DEFAULT_ALIASES.items():
        tag = tag_get_or_create(name=canonical)
        if tag:
            tag_alias_add(tag=tag, alias=alias)


_vocabulary_cached: tuple[tuple, Vocabulary] | None = None


def tag_vocabulary() -> Vocabulary:
    """tag_key(alias or name) → canonical tag name, for keyword tagging: the
    shipped synonym table, overridden by the database's tags and aliases.

    Kept per process while the tags and aliases are the same (on PostgreSQL one
    small query says so: counts, a hash of names and alias targets, and how far
    their id sequences have gone). Loading it and its prefix set costs every
    ingest call ~10 ms at a few thousand tags; the check costs ~1 ms."""
    global _vocabulary_cached
    version = _vocabulary_version()
    cached = _vocabulary_cached
    if version is not None and cached is not None and cached[0] == version:
        return cached[1]
    vocab = _load_vocabulary()
    _vocabulary_cached = (version, vocab) if version is not None else None
    return vocab


def _vocabulary_version() -> tuple | None:
    if connection.vendor != "postgresql":
        return None
    # The id sequences only ever grow: a state from before a tag or alias was created never
    # comes back (deleting the newest ones would bring back the counts and max ids), so
    # neither does a vocabulary, nor what tags_resolve_many kept with it.
    tags, aliases = Tag._meta.db_table, TagAlias._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT (count(*), max(id), sum(hashtext(name))) FROM {tags}), "
            f"(SELECT (count(*), max(id), sum(hashtext(alias || ':' || tag_id))) FROM {aliases}), "
            f"pg_sequence_last_value(pg_get_serial_sequence('{tags}', 'id')::regclass), "
            f"pg_sequence_last_value(pg_get_serial_sequence('{aliases}', 'id')::regclass)"
        )
        return cursor.fetchone()


def _load_vocabulary() -> Vocabulary:
    vocab = Vocabulary(_default_vocabulary())
    for name in Tag.objects.values_list("name", flat=True):
        vocab[tag_key(name)] = name
    for alias, name in TagAlias.objects.values_list("alias", "tag__name"):
        vocab[alias] = name
    return vocab


def tag_follow(*, user, tag: Tag) -> bool:
    """Follow a tag; returns True if the follow is new. Counts stay stored."""
    return counted_link(TagFollow, tag, "followers_count", user=user, tag=tag)


def tag_unfollow(*, user, tag: Tag) -> bool:
    return counted_unlink(TagFollow, tag, "followers_count", user=user, tag=tag)


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
    source = Tag.objects.select_for_update().get(pk=source.pk)  # fresh stats, no concurrent merge
    target = Tag.objects.select_for_update().get(pk=target.pk)
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
