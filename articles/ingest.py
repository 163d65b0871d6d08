"""The one entry point from `feeds` into `articles`: ingest(source, entries).

Each entry goes through the content pipeline in a fixed order (clean →
normalize → spam → attribution → dedup → tag) and is stored in its own
transaction, so one bad entry never costs another. Idempotent: the same entry
twice is an update (or nothing), never a duplicate.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from articles import related, search
from articles.models import Article, SpamRule, Tag, TaggedArticle, TagRule
from articles.tags import tag_get_or_create, tag_vocabulary
from articles.text.attribution import extract_attribution
from articles.text.normalize import normalize_html, normalize_title
from articles.text.sanitize import clean_html, html_to_text, text_to_html
from articles.text.simhash import hamming, shingle_tokens, simhash
from articles.text.spam import check_spam
from articles.text.tagging import suggest_tags
from articles.text.tokenizer import search_tokens
from articles.text.urls import canonicalize_url, url_hash
from newsroom import metrics
from newsroom.entry import EntryData

log = logging.getLogger(__name__)

NEAR_DUPLICATE_DISTANCE = 3
NEAR_DUPLICATE_WINDOW = timedelta(days=14)
SUMMARY_CHARS = 160
MAX_NEW_TAGS_PER_ENTRY = 5


@dataclass
class IngestResult:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicate: int = 0
    spam: int = 0
    errors: list[str] = field(default_factory=list)
    article_ids: list[int] = field(default_factory=list)


@dataclass
class Prepared:
    guid: str
    guid_hash: str
    url: str
    canonical_url: str
    url_hash: str
    title: str
    summary: str
    body: str
    author: str
    original_title: str
    origin_account: str
    published_at: object
    status: str
    spam_score: float
    moderation_note: str
    tokens: list[str]
    title_tokens: list[str]
    simhash: int | None
    tag_names: list[str]


class _Context:
    """What one ingest call loads once: editor rules and the tag vocabulary."""

    def __init__(self, source) -> None:
        self.source = source
        self.spam_rules = tuple(SpamRule.objects.filter(active=True).values_list("pattern", "is_regex", "weight"))
        self.tag_rules = tuple(TagRule.objects.filter(active=True).values_list("pattern", "is_regex", "tag_name"))
        self.vocabulary = tag_vocabulary()


def _sha1(value: str) -> str:
    return hashlib.sha1(value.encode("utf-8", "surrogatepass")).hexdigest()


def _band(value: int, i: int) -> int:
    return (value >> (16 * i)) & 0xFFFF


def prepare_entry(entry: EntryData, ctx: _Context) -> Prepared:
    """The pure part of the pipeline: no writes."""
    source = ctx.source
    convert = source.convert_traditional
    base_url = entry.base_url or entry.link or source.site_url or source.url

    raw_body = entry.content or entry.summary or ""
    if raw_body and "<" not in raw_body:
        raw_body = text_to_html(raw_body)
    body = clean_html(raw_body, base_url=base_url)
    body = normalize_html(body, convert_traditional=convert)
    title = normalize_title(html_to_text(entry.title or "") or entry.title or "", convert_traditional=convert)

    verdict = check_spam(body, title=title, rules=ctx.spam_rules)
    body = verdict.html
    attribution = extract_attribution(body)
    body = attribution.html

    text = html_to_text(body)
    summary_src = entry.summary if entry.content and entry.summary else ""
    summary_text = html_to_text(normalize_html(clean_html(summary_src, base_url=base_url), convert_traditional=convert)) if summary_src else ""
    summary = (summary_text or text)[:SUMMARY_CHARS].strip()

    title_tokens = search_tokens(title)
    tokens = search_tokens(text)
    # Shingles drop site chrome (openers, follow-us lines, disclaimers) so reposts hash alike.
    shingles = shingle_tokens(text)
    hash_value = simhash(shingles) if len(shingles) >= 20 else None

    tag_names: list[str] = list(source.default_tag_list)
    # Feed categories and page keywords: known tags by alias, plus a few short new ones.
    fresh = 0
    for category in entry.categories[:10]:
        key_hit = ctx.vocabulary.get(_tag_key(category))
        if key_hit:
            tag_names.append(key_hit)
        elif fresh < MAX_NEW_TAGS_PER_ENTRY and 2 <= len(category.strip()) <= 20:
            tag_names.append(category)
            fresh += 1
    tag_names += suggest_tags(title=title, text=text, vocabulary=ctx.vocabulary, rules=ctx.tag_rules)

    link = entry.link or ""
    canonical = canonicalize_url(entry.original_url or link) if (entry.original_url or link) else ""
    guid = entry.guid or link or _sha1(title + str(entry.published))
    status = Article.Status.PENDING if verdict.should_moderate else Article.Status.PUBLISHED
    note = ""
    if verdict.should_moderate:
        note = "标题疑似垃圾" if verdict.title_is_spam else f"正文垃圾占比 {verdict.spam_ratio:.0%}"
    return Prepared(
        guid=guid,
        guid_hash=_sha1(guid),
        url=link[:2000],
        canonical_url=canonical[:2000],
        url_hash=url_hash(canonical) if canonical else "",
        title=(title or "（无标题）")[:500],
        summary=summary,
        body=body,
        author=(attribution.author or entry.author or "")[:200],
        original_title=attribution.original_title[:500],
        origin_account=(attribution.origin_account or entry.origin_account or "")[:200],
        published_at=entry.published or entry.updated or timezone.now(),
        status=status,
        spam_score=verdict.score,
        moderation_note=note,
        tokens=tokens,
        title_tokens=title_tokens,
        simhash=hash_value,
        tag_names=_unique(tag_names),
    )


def _tag_key(name: str) -> str:
    from articles.text.tagging import tag_key

    return tag_key(name)


def _unique(names: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for name in names:
        key = _tag_key(name)
        if key and key not in seen:
            seen.add(key)
            out.append(name)
    return out


def _find_existing(source, p: Prepared) -> Article | None:
    existing = Article.objects.filter(source=source, guid_hash=p.guid_hash).first()
    if existing is None and p.url_hash:
        # Same canonical URL (tracking parameters removed) is the same article, whatever the guid.
        existing = Article.objects.filter(url_hash=p.url_hash).order_by("id").first()
    return existing


def _find_story(source, p: Prepared, exclude_id: int | None = None) -> Article | None:
    if p.simhash is None:
        return None
    bands = [_band(p.simhash, i) for i in range(4)]
    since = timezone.now() - NEAR_DUPLICATE_WINDOW
    candidates = (
        Article.objects.filter(
            Q(sim_band0=bands[0]) | Q(sim_band1=bands[1]) | Q(sim_band2=bands[2]) | Q(sim_band3=bands[3]),
            fetched_at__gte=since,
        )
        .exclude(source=source)
        .exclude(status=Article.Status.DELETED)
        .only("id", "simhash", "story_id")
        .order_by("id")[:50]
    )
    for candidate in candidates:
        if candidate.id != exclude_id and candidate.simhash is not None and hamming(candidate.simhash, p.simhash) <= NEAR_DUPLICATE_DISTANCE:
            return candidate
    return None


_CONTENT_FIELDS = ("title", "summary", "body", "author", "original_title", "origin_account", "url", "canonical_url")


def _store(source, p: Prepared, result: IngestResult) -> Article | None:
    with transaction.atomic():
        existing = _find_existing(source, p)
        if existing is not None:
            if existing.status == Article.Status.DELETED:
                result.unchanged += 1
                return None  # a deleted article stays deleted
            if existing.source_id != source.id:
                result.duplicate += 1
                return None
            changed = [f for f in _CONTENT_FIELDS if getattr(existing, f) != getattr(p, f)]
            if not changed:
                result.unchanged += 1
                return None
            for f in changed:
                setattr(existing, f, getattr(p, f))
            existing.save(update_fields=[*changed, "updated_at"])
            result.updated += 1
            _after_store(existing, p, created=False)
            return existing

        story = _find_story(source, p)
        article = Article(
            source=source,
            guid=p.guid,
            guid_hash=p.guid_hash,
            url=p.url,
            canonical_url=p.canonical_url,
            url_hash=p.url_hash,
            title=p.title,
            summary=p.summary,
            body=p.body,
            author=p.author,
            original_title=p.original_title,
            origin_account=p.origin_account,
            published_at=min(p.published_at, timezone.now()),
            status=p.status,
            spam_score=p.spam_score,
            moderation_note=p.moderation_note,
            simhash=p.simhash,
            story_id=(story.story_id or story.id) if story else None,
        )
        if p.simhash is not None:
            for i in range(4):
                setattr(article, f"sim_band{i}", _band(p.simhash, i))
        try:
            with transaction.atomic():
                article.save()
        except IntegrityError:
            # Another worker stored the same (source, guid) a moment ago: that's an update, not a new row.
            result.unchanged += 1
            return None
        if article.status == Article.Status.PENDING:
            result.spam += 1
        else:
            result.new += 1
        if story is not None:
            result.duplicate += 1
        _after_store(article, p, created=True)
        return article


def _after_store(article: Article, p: Prepared, *, created: bool) -> None:
    tags = [t for t in (tag_get_or_create(name=n) for n in p.tag_names) if t is not None]
    if created:
        TaggedArticle.objects.bulk_create(
            [TaggedArticle(content_object=article, tag=t) for t in tags], ignore_conflicts=True
        )
        if article.status == Article.Status.PUBLISHED and tags:
            Tag.objects.filter(pk__in=[t.pk for t in tags]).update(articles_count=F("articles_count") + 1)
            type(article.source).objects.filter(pk=article.source_id).update(article_count=F("article_count") + 1)
    search.index_article(article, title_tokens=p.title_tokens, body_tokens=p.tokens)
    transaction.on_commit(lambda: related.refresh_for(article.pk))


def ingest(source, entries) -> IngestResult:
    """Store entries for a source. Never raises for one bad entry: it is logged and counted."""
    result = IngestResult()
    ctx = _Context(source)
    for entry in entries:
        try:
            prepared = prepare_entry(entry, ctx)
            article = _store(source, prepared, result)
            if article is not None:
                result.article_ids.append(article.pk)
        except Exception as exc:  # one broken entry must not cost the others
            log.exception("ingest failed for source=%s guid=%s", source.pk, getattr(entry, "guid", "?"))
            result.errors.append(f"{getattr(entry, 'link', '') or getattr(entry, 'guid', '')}: {exc}"[:500])
    metrics.ENTRIES.labels("new").inc(result.new)
    metrics.ENTRIES.labels("updated").inc(result.updated)
    metrics.ENTRIES.labels("duplicate").inc(result.duplicate)
    metrics.ENTRIES.labels("spam").inc(result.spam)
    if result.new or result.updated:
        from articles.cache import bump_generation

        transaction.on_commit(bump_generation)
    return result
