"""The one entry point from `feeds` into `articles`: ingest(source, entries).

Each entry goes through the content pipeline in a fixed order (clean →
normalize → spam → attribution → dedup → tag) and is stored in its own
transaction, so one bad entry never costs another. Idempotent: the same entry
twice is an update (or nothing), never a duplicate.

What the entries of one call look up (their stored rows, tags) is loaded for
all of them at once (``_Batch``), and an article is stored with its story and
search vector (SearchDoc) by the INSERT itself: a new entry costs one
statement, which PostgreSQL runs while the next entry is being prepared.
Related posts are computed off this path (``related.schedule_refresh``: one
task per call).
"""
from __future__ import annotations

import hashlib
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from urllib.parse import urlsplit

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, OperationalError, connection, connections, transaction
from django.db.models import F, Q
from django.utils import timezone
from psycopg.types.numeric import Int4, Int8

from articles import related, search
from articles.cache import bump_articles
from articles.models import Article, SearchDoc, SpamRule, Tag, TaggedArticle, TagRule
from articles.tags import tag_get_or_create, tag_vocabulary, tags_resolve_many
from articles.text._blocks import LineDoc, markup_text, markup_text_head
from articles.text.attribution import extract_attribution
from articles.text.normalize import normalize_html, normalize_title
from articles.text.sanitize import clean_html, html_to_text, text_to_html
from articles.text.simhash import hamming, shingle_tokens, simhash
from articles.text.spam import check_spam
from articles.text.tagging import Vocabulary, suggest_tags
from articles.text.tokenizer import keywords as top_keywords
from articles.text.tokenizer import load_user_words, search_tokens, warm_tokenizer
from articles.text.urls import canonicalize_url, url_hash
from newsroom import metrics
from newsroom.db import from_row, send_statement, statement_cursor, statement_rows
from newsroom.entry import EntryData

log = logging.getLogger(__name__)

NEAR_DUPLICATE_DISTANCE = 3
NEAR_DUPLICATE_WINDOW = timedelta(days=14)
STORY_CANDIDATES = 50  # the first band matches (by id) a new article is compared with
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
    # Articles whose own page changed: updated ones, and the roots of stories a new repost joined.
    changed_pages: set[int] = field(default_factory=set)


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
    keywords: list[str] = field(default_factory=list)
    raw_hash: str = ""
    search_vector: str | None = None  # tsvector literal for SearchDoc (PostgreSQL only)


class _Context:
    """What one ingest call loads once: editor rules and the tag vocabulary."""

    def __init__(self, source, rules: Rules | None = None) -> None:
        self.source = source
        self.spam_rules, self.tag_rules = rules if rules is not None else editor_rules()
        self._vocabulary: dict[str, str] | None = None
        self.rules_version = _sha1(repr((self.spam_rules, self.tag_rules)))
        self.new_words: list[str] = []  # names of tags created in this run, taught to the tokenizer once

    @property
    def vocabulary(self) -> dict[str, str]:
        # Loaded only when an entry is new or changed: a refresh that finds nothing new skips it.
        if self._vocabulary is None:
            self._vocabulary = tag_vocabulary()
        return self._vocabulary


_RULES_SELECT = f"""
SELECT 0, id, pattern, is_regex, weight, '' FROM {SpamRule._meta.db_table} WHERE active
UNION ALL
SELECT 1, id, pattern, is_regex, 0, tag_name FROM {TagRule._meta.db_table} WHERE active"""
_RULES_SQL = f"{_RULES_SELECT}\nORDER BY 1, 2"
# The rules and, in the same statement, what ``_changed_entries`` compares with: the stored
# fingerprints of the fetched entries' guids (kind 2: guid_hash in "pattern", raw_hash in "tag_name").
_RULES_AND_SEEN_SQL = f"""{_RULES_SELECT}
UNION ALL
SELECT 2, 0, guid_hash, false, 0, raw_hash FROM {Article._meta.db_table}
 WHERE source_id = %s AND guid_hash = ANY(%s::text[]) AND raw_hash <> ''
ORDER BY 1, 2"""

Rules = tuple[tuple[tuple[str, bool, float], ...], tuple[tuple[str, bool, str], ...]]


def editor_rules() -> Rules:
    """The active spam rules (pattern, is_regex, weight) and tag rules (pattern, is_regex,
    tag_name), in the order editors made them. One prepared statement: every fetch reads
    them, also one that finds nothing new (they are part of each entry's fingerprint), and
    the ORM's two queries cost such a fetch a seventh of its time."""
    return _rules_from_rows(statement_rows(_RULES_SQL, []))[0]


def _rules_from_rows(rows) -> tuple[Rules, dict[str, str]]:
    spam, tags, seen = [], [], {}
    for kind, _id, pattern, is_regex, weight, tag_name in rows:
        if kind == 0:
            spam.append((pattern, bool(is_regex), float(weight)))
        elif kind == 1:
            tags.append((pattern, bool(is_regex), tag_name))
        else:
            seen[pattern] = tag_name
    return (tuple(spam), tuple(tags)), seen


def _rules_and_seen(source, guid_hashes: list[str]) -> tuple[Rules, dict[str, str]]:
    """``editor_rules()`` and the stored fingerprint (raw_hash) of each of these guids of the
    source that has one. On PostgreSQL in one round trip: a fetch that finds nothing new
    makes two in all (this, then its log), and under a fetch pool's load each round trip
    is a wait for the interpreter lock too (a refresh's fetch spent ~20 ms on each)."""
    if connection.vendor == "postgresql":
        return _rules_from_rows(statement_rows(_RULES_AND_SEEN_SQL, [source.pk, guid_hashes]))
    rules = editor_rules()
    seen = dict(Article.objects.filter(source=source, guid_hash__in=guid_hashes).exclude(raw_hash="")
                .values_list("guid_hash", "raw_hash")) if guid_hashes else {}
    return rules, seen


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
    body = _drop_leading_title(attribution.html, title)

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

    link, canonical = _entry_urls(entry)
    guid = entry.guid or entry.link or _sha1(title + str(entry.published))
    status = Article.Status.PENDING if verdict.should_moderate else Article.Status.PUBLISHED
    note = ""
    if verdict.should_moderate:
        note = "标题疑似垃圾" if verdict.title_is_spam else f"正文垃圾占比 {verdict.spam_ratio:.0%}"
    stored_title = (title or "（无标题）")[:500]
    search_vector = search.search_vector(
        stored_title, text if body else html_to_text(summary), title_tokens, tokens)
    return Prepared(
        guid=guid,
        guid_hash=_sha1(guid),
        url=link[:2000],
        canonical_url=canonical[:2000],
        url_hash=_url_key(canonical),
        title=stored_title,
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
        keywords=top_keywords(f"{title} {title} {text[:4000]}", top_k=15),
        raw_hash=raw_fingerprint(entry, ctx),
        search_vector=search_vector,
    )


# Bump when the pipeline changes what it makes of the same input: stored
# fingerprints then stop matching and every entry is processed again once.
PIPELINE_VERSION = "1"


def raw_fingerprint(entry: EntryData, ctx: "_Context") -> str:
    """Same input, same rules → same article: editors' new spam/tag rules change
    the fingerprint, so they reach entries that were stored before them."""
    source = ctx.source
    parts = [
        PIPELINE_VERSION, ctx.rules_version, str(source.convert_traditional), entry.guid, entry.link, entry.title, entry.summary,
        entry.content, entry.author, entry.original_url, entry.origin_account, "\x1f".join(entry.categories),
        source.default_tags,  # not the dates: a stored article keeps its first publish time
    ]
    return _sha1("\x1e".join(p or "" for p in parts))


def _entry_guid_hash(entry: EntryData) -> str:
    guid = entry.guid or entry.link
    return _sha1(guid) if guid else ""


def _entry_urls(entry: EntryData) -> tuple[str, str]:
    """The entry's link and the canonical URL it is known by (its original's, for a repost)."""
    # Feeds are untrusted: a javascript:/data: "link" would become a clickable 原文链接.
    link = _web_url(entry.link)
    original = _web_url(entry.original_url)
    return link, canonicalize_url(original or link) if (original or link) else ""


def _url_key(canonical: str) -> str:
    return url_hash(canonical) if canonical else ""


def _entry_keys(entry: EntryData) -> tuple[str, str]:
    """What the entry's stored row is found by (guid hash, canonical URL hash), from the raw
    entry: the prepared entry has the same keys, except a guid made up from the title."""
    return _entry_guid_hash(entry), _url_key(_entry_urls(entry)[1])


def _web_url(url: str | None) -> str:
    """``url`` if it is an absolute http(s) URL with a host, else ""."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return url if parts.scheme.lower() in ("http", "https") and parts.hostname else ""


_TITLE_KEY_DROP = re.compile(r"[\W_]+")


def _title_key(text: str) -> str:
    return _TITLE_KEY_DROP.sub("", text).casefold()


def _drop_leading_title(body: str, title: str) -> str:
    """Pages and full-text extracts often open with the headline itself; the page
    shows it in <h1> already, so a first line that *is* the title goes."""
    key = _title_key(title)
    if not body or len(key) < 4:
        return body
    if not _text_opens_with(body, key):
        return body
    doc = LineDoc(body)
    if doc.lines and _title_key(doc.lines[0].text) == key:
        doc.remove(doc.lines[0])
        return doc.html()
    return body


def _text_opens_with(body: str, key: str) -> bool:
    """Whether the body's text (tags dropped), keyed, starts with ``key``. The first
    line's text opens it: when this is False the first line is not the title, and
    the body needs no parse."""
    head = _title_key(markup_text_head(body, 4 * len(key) + 256))
    if len(head) >= len(key):  # keying works character by character: the head's key starts the whole key
        return head.startswith(key)
    return _title_key(markup_text(body)).startswith(key)


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


def _shares_band(candidate: Article, bands: list[int]) -> bool:
    return any(getattr(candidate, f"sim_band{i}") == band for i, band in enumerate(bands))


_CANDIDATE_FIELDS = ("id", "simhash", "story_id", "sim_band0", "sim_band1", "sim_band2", "sim_band3")


@lru_cache(maxsize=1)
def _existing_fields() -> tuple[str, ...]:
    """What a stored row is loaded with for comparing and updating: all but the
    keywords (an update writes them; nothing reads them before)."""
    return tuple(f.attname for f in Article._meta.concrete_fields if f.attname != "keywords")


class _Batch:
    """What the entries of one ingest call look up: their stored rows (same source and
    guid, or same canonical URL) and their tags. The rows are loaded for all entries
    at once before the first is prepared (``load``: the raw entries have the keys),
    and rows stored by the call join the lookup, so the same entry twice in one feed
    is still one article. The tags come from a memo kept while the tag vocabulary is
    unchanged (``tags_resolve_many``), asked for the names it lacks.

    The one-statement INSERT (``_insert_new``) finds a new article's story itself.
    The ORM path (SQLite, or inside a caller's transaction) has the recent published
    articles of *other* sources sharing a SimHash band loaded (``add``), so nothing
    this call stores can be one."""

    def __init__(self, source, new_words: list[str], vocabulary: Vocabulary | None = None) -> None:
        self.source = source
        self.by_guid: dict[str, Article] = {}
        self.by_url: dict[str, Article] = {}
        self.guids_loaded: set[str] = set()
        self.urls_loaded: set[str] = set()
        self.story_candidates: list[Article] = []
        self.tags: dict[str, Tag | None] = {}
        self.asked: set[str] = set()  # names tags_resolve_many was asked for (found ones are in tags)
        self.new_words = new_words
        self.vocabulary = vocabulary

    def load(self, entries: Iterable[EntryData]) -> None:
        """The stored rows of these (raw) entries, in one query."""
        keys = [_entry_keys(e) for e in entries]
        self._load_existing({g for g, _ in keys if g}, {u for _, u in keys if u})

    def add(self, prepared: list[Prepared]) -> None:
        """Everything these prepared entries look up, for the ORM path: rows, story candidates, tags."""
        self._load_existing({p.guid_hash for p in prepared}, {p.url_hash for p in prepared if p.url_hash})
        known = {c.pk for c in self.story_candidates}
        more = [c for c in self._load_story_candidates(prepared) if c.pk not in known]
        if more:
            self.story_candidates = sorted(self.story_candidates + more, key=lambda c: c.pk)
        self._resolve([name for p in prepared for name in p.tag_names])

    def _load_existing(self, guids: set[str], urls: set[str]) -> None:
        """Rows by these keys, unless loaded already (a row stored since is remembered)."""
        guids, urls = sorted(guids - self.guids_loaded), sorted(urls - self.urls_loaded)
        if not guids and not urls:
            return
        if connection.vendor == "postgresql":
            # Prepared once per connection, array parameters: the ORM would build and plan a new IN list each time.
            rows = [from_row(Article, _existing_fields(), row) for row in statement_rows(f"""
                SELECT {", ".join(_existing_fields())} FROM {Article._meta.db_table}
                WHERE (source_id = %s AND guid_hash = ANY(%s::text[])) OR (url_hash = ANY(%s::text[]) AND url_hash <> '') ORDER BY id""",
                [self.source.pk, guids, urls])]
        else:
            rows = (Article.objects.filter(Q(source=self.source, guid_hash__in=guids) | (Q(url_hash__in=urls) & ~Q(url_hash="")))
                    .only(*_existing_fields()).order_by("id"))
        self.guids_loaded.update(guids)
        self.urls_loaded.update(urls)
        for row in rows:
            self.remember(row)

    def remember(self, article: Article) -> None:
        if article.source_id == self.source.id:
            self.by_guid[article.guid_hash] = article
        if article.url_hash:
            # Same canonical URL (tracking parameters removed) is the same article, whatever
            # the guid or source: the oldest row with it.
            self.by_url.setdefault(article.url_hash, article)

    def existing(self, p: Prepared) -> Article | None:
        """The stored row this entry is: same source and guid, else same canonical URL."""
        # Loaded already, but for a guid made up from the prepared title.
        self._load_existing({p.guid_hash}, {p.url_hash} - {""})
        found = self.by_guid.get(p.guid_hash)
        if found is None and p.url_hash:
            found = self.by_url.get(p.url_hash)
        return found

    def reload(self, p: Prepared) -> None:
        """After a rolled-back attempt: the rows this entry matched may have been changed in memory."""
        self.by_guid.pop(p.guid_hash, None)
        self.by_url.pop(p.url_hash, None)
        self.guids_loaded.discard(p.guid_hash)
        self.urls_loaded.discard(p.url_hash)
        self._load_existing({p.guid_hash}, {p.url_hash} - {""})

    def _resolve(self, names: list[str]) -> None:
        """The existing tags of names not asked for yet (one lookup for all of them); a name
        no tag answers to is left to tags_for, which creates it without asking again."""
        unasked = [name for name in dict.fromkeys(names) if name not in self.asked]
        if unasked:
            self.asked.update(unasked)
            self.tags.update(tags_resolve_many(unasked, vocabulary=self.vocabulary))

    def _load_story_candidates(self, prepared: list[Prepared]) -> list[Article]:
        hashes = [p.simhash for p in prepared if p.simhash is not None]
        if not hashes:
            return []
        bands = [sorted({_band(h, i) for h in hashes}) for i in range(4)]
        return list(_story_candidates(bands, self.source.pk, timezone.now() - NEAR_DUPLICATE_WINDOW))

    def story(self, p: Prepared) -> Article | None:
        """The oldest near-duplicate among the first 50 band matches (by id), as one query per entry found it."""
        if p.simhash is None:
            return None
        bands = [_band(p.simhash, i) for i in range(4)]
        return _first_near_duplicate([c for c in self.story_candidates if _shares_band(c, bands)][:STORY_CANDIDATES],
                                     p.simhash)

    def tags_for(self, p: Prepared) -> list[Tag]:
        """The entry's tags; a name no tag answers to yet is created here (each in its
        own short transaction) *before* the article's transaction, so concurrent
        workers never hold a new tag's unique index entry while they wait on each
        other's counter rows — and a name that cannot become a tag fails its entry only."""
        self._resolve(p.tag_names)
        tags: dict[int, Tag] = {}
        for name in p.tag_names:
            if name not in self.tags:
                self.tags[name] = tag_get_or_create(name=name, new_words=self.new_words)
            tag = self.tags[name]
            if tag is not None:
                tags.setdefault(tag.pk, tag)
        return list(tags.values())


def _story_candidates(bands: list[list[int]], source_id: int, since):
    """Articles a new one of ``source_id`` may join the story of (the ORM path's lookup; the
    one-statement INSERT asks the same in ``_STORY_SQL``): published articles of other sources fetched since
    ``since``, sharing a value of one of the four bands, oldest first. Only a published
    article can carry a story: a pending/hidden root would fold its reposts out of every
    list while showing nothing itself."""
    match = Q()
    for i in range(4):
        match |= Q(**{f"sim_band{i}__in": bands[i]})
    return (Article.objects.filter(match, fetched_at__gte=since, status=Article.Status.PUBLISHED)
            .exclude(source_id=source_id).only(*_CANDIDATE_FIELDS).order_by("id"))


def _first_near_duplicate(candidates, simhash: int) -> Article | None:
    """The first candidate within NEAR_DUPLICATE_DISTANCE bits of ``simhash``."""
    return next((c for c in candidates if c.simhash is not None
                 and hamming(c.simhash, simhash) <= NEAR_DUPLICATE_DISTANCE), None)


_CONTENT_FIELDS = ("title", "summary", "body", "author", "original_title", "origin_account", "url", "canonical_url")


def _store(source, p: Prepared, result: IngestResult, batch: _Batch,
           while_waiting: Callable[[], None] | None = None) -> Article | None:
    tags = batch.tags_for(p)
    existing = batch.existing(p)
    if existing is None and connection.vendor == "postgresql" and not connection.in_atomic_block:
        # A new entry: one statement, which is its own transaction (inside a caller's
        # transaction the ORM path below keeps its savepoint, so one failure can't end it).
        return _insert_new(source, p, result, batch, tags, while_waiting)
    with transaction.atomic():
        if existing is not None:
            return _update(existing, source, p, result, tags)

        story = batch.story(p)
        article = _new_article(source, p, story)
        try:
            with transaction.atomic():
                article.save()
        except IntegrityError:
            # Another worker stored this entry, or another source's copy of its page, a moment ago.
            _count_not_stored(source, p, result)
            return None
        search.store_vector(article, p.search_vector)
        _count_new(article, article.story_id, result)
        _after_store(article, tags, created=True)
        return article


def _new_article(source, p: Prepared, story: Article | None) -> Article:
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
        keywords=p.keywords,
        raw_hash=p.raw_hash,
    )
    if p.simhash is not None:
        for i in range(4):
            setattr(article, f"sim_band{i}", _band(p.simhash, i))
    return article


def _count_new(article: Article, story_id: int | None, result: IngestResult) -> None:
    if article.status == Article.Status.PENDING:
        result.spam += 1
    else:
        result.new += 1
    if story_id is not None:
        result.duplicate += 1
        result.changed_pages.add(story_id)  # its story's pages list the repost


def _insert_new(source, p: Prepared, result: IngestResult, batch: _Batch, tags: list[Tag],
                while_waiting: Callable[[], None] | None = None) -> Article | None:
    """A new article on PostgreSQL in ONE statement: its story, the row, its SearchDoc
    vector, its tags and the stored counts of its tags and source. A single statement
    is atomic by itself (autocommit), so an entry still succeeds or fails whole,
    while it costs one round trip instead of eight (BEGIN, SAVEPOINT, INSERT,
    RELEASE, SearchDoc, tags, counters, COMMIT). The story is looked up as the ORM
    path's ``_Batch.story`` does, by the statement itself: nothing is loaded for it
    before. The tag rows are locked in id order (FOR NO KEY UPDATE) as
    ``_count_tagged`` does, so workers never deadlock.
    The same (source, guid), or the same canonical URL, stored by another worker a
    moment ago: ON CONFLICT DO NOTHING, no row, counted by ``_count_not_stored`` —
    as the IntegrityError path counts it."""
    article = _new_article(source, p, None)
    # What the compiler does per value (pre_save, get_db_prep_save); the SQL text is the same for every row.
    # The connection itself, not django.db.connection: that proxy looks it up again at every use.
    db = connections[DEFAULT_DB_ALIAS]
    insert_params = [f.get_db_prep_save(f.pre_save(article, True), db) for f in _insert_fields() if f.attname != "story_id"]
    published = article.status == Article.Status.PUBLISHED
    tag_ids = sorted({t.pk for t in tags})
    doc, tagged = SearchDoc._meta.db_table, TaggedArticle._meta.db_table
    # Typed: psycopg would send a small int as int2 and a larger one as int4, each a statement prepared anew.
    story_params = [None] * 5 if p.simhash is None else [*(Int4(_band(p.simhash, i)) for i in range(4)), Int8(p.simhash)]
    parts = [
        f"story AS ({_STORY_SQL})",
        f"new AS ({_insert_sql()} RETURNING id, story_id)",
        f"doc AS (INSERT INTO {doc} (article_id, published_at, title, vector) SELECT id, %s, %s, %s::tsvector FROM new)",
    ]
    params = [*story_params[:4], timezone.now() - NEAR_DUPLICATE_WINDOW, source.pk, Article.Status.PUBLISHED,
              story_params[4], NEAR_DUPLICATE_DISTANCE,
              *insert_params, article.published_at, article.title[:500], p.search_vector]
    if tag_ids:
        # The tag timeline's copy of the list position (migration 0010): this statement's own
        # article is invisible to the tagging rows' trigger, so the values come with them.
        parts.append(f"tagged AS (INSERT INTO {tagged} (content_object_id, tag_id, published_at, pinned, listed) "
                     f"SELECT new.id, t, %s, false, %s AND new.story_id IS NULL FROM new, unnest(%s::int[]) AS t "
                     f"ON CONFLICT DO NOTHING)")
        params += [article.published_at, published, tag_ids]
    if published and tag_ids:
        parts.append(f"tag_counts AS ({_COUNT_TAGGED_SQL} AND EXISTS (SELECT 1 FROM new))")
        params.append(tag_ids)
    if published:
        source_table = type(source)._meta.db_table
        parts.append(f"source_count AS (UPDATE {source_table} SET article_count = article_count + 1 "
                     f"WHERE id = %s AND EXISTS (SELECT 1 FROM new))")
        params.append(source.pk)
    # Prepared once per connection; the body and vector travel as parameters.
    sql = "WITH " + ", ".join(parts) + " SELECT id, story_id FROM new"
    sent = send_statement(sql, params) if while_waiting is not None else None
    if sent is not None:
        try:
            while_waiting()  # e.g. prepare the next entry, while the server writes this one
        finally:
            row = sent.fetchone()
    else:
        with statement_cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
    if row is None:
        _count_not_stored(source, p, result)
        return None
    article.pk, article.story_id = row
    article._state.adding = False
    _count_new(article, article.story_id, result)
    return article


def _count_not_stored(source, p: Prepared, result: IngestResult) -> None:
    """An INSERT that stored nothing: a worker fetching at the same time stored the row
    first. Another source's article with the entry's URL makes it a duplicate, as the
    lookup before the INSERT would have found; the same source's row (the same fetch
    running twice), an unchanged entry."""
    if p.url_hash and Article.objects.filter(url_hash=p.url_hash).exclude(url_hash="").exclude(source=source).exists():
        result.duplicate += 1
    else:
        result.unchanged += 1


def _update(existing: Article, source, p: Prepared, result: IngestResult, tags: list[Tag]) -> Article | None:
    if existing.status == Article.Status.DELETED:
        result.unchanged += 1
        return None  # a deleted article stays deleted
    if existing.source_id != source.id:
        result.duplicate += 1
        return None
    changed = [f for f in _CONTENT_FIELDS if getattr(existing, f) != getattr(p, f)]
    if not changed:
        if existing.raw_hash != p.raw_hash:
            Article.objects.filter(pk=existing.pk).update(raw_hash=p.raw_hash)
            existing.raw_hash = p.raw_hash
        result.unchanged += 1
        return None
    changed += ["keywords", "raw_hash"]
    for f in changed:
        setattr(existing, f, getattr(p, f))
    fields = [*changed, "updated_at"]
    if p.simhash is not None and existing.simhash != p.simhash:
        existing.simhash = p.simhash
        fields.append("simhash")
        for i in range(4):
            setattr(existing, f"sim_band{i}", _band(p.simhash, i))
            fields.append(f"sim_band{i}")
    was_published = existing.status == Article.Status.PUBLISHED
    if was_published and p.status == Article.Status.PENDING:
        # The new version turned into spam: a human looks before readers do.
        existing.status = Article.Status.PENDING
        existing.moderation_note = p.moderation_note
        existing.spam_score = p.spam_score
        fields += ["status", "moderation_note", "spam_score"]
    existing.save(update_fields=fields)
    search.store_vector(existing, p.search_vector)
    result.updated += 1
    result.changed_pages.add(existing.pk)
    _after_store(existing, tags, created=False)
    if was_published and existing.status != Article.Status.PUBLISHED:
        _leave_published(existing)
    return existing


def _after_store(article: Article, tags_list: list[Tag], *, created: bool) -> None:
    tags = {t.pk: t for t in tags_list}
    # An update only adds tags (editors may have removed some by hand: those stay removed
    # only if the new text no longer suggests them — good enough, and never a lost tag).
    have = set() if created else set(TaggedArticle.objects.filter(content_object=article).values_list("tag_id", flat=True))
    new_ids = [pk for pk in tags if pk not in have]
    if new_ids:
        TaggedArticle.objects.bulk_create(
            [TaggedArticle(content_object=article, tag_id=pk) for pk in new_ids], ignore_conflicts=True
        )
    published = article.status == Article.Status.PUBLISHED
    if published and new_ids:
        _count_tagged(new_ids)
    if created and published:
        type(article.source).objects.filter(pk=article.source_id).update(article_count=F("article_count") + 1)


def _count_tagged(tag_ids: list[int]) -> None:
    """articles_count + 1 for each tag, in one statement. The rows are locked in one
    global order (the ORDER BY … FOR NO KEY UPDATE subquery) so workers tagging
    overlapping sets never deadlock."""
    if connection.vendor != "postgresql":
        Tag.objects.filter(pk__in=tag_ids).update(articles_count=F("articles_count") + 1)
        return
    with connection.cursor() as cursor:
        cursor.execute(_COUNT_TAGGED_SQL, [sorted(tag_ids)])


# articles_count + 1 for the tags ANY(%s), their rows locked in id order (used by _insert_new too).
_COUNT_TAGGED_SQL = (
    f"UPDATE {Tag._meta.db_table} SET articles_count = articles_count + 1 WHERE id IN "
    f"(SELECT id FROM {Tag._meta.db_table} WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE)"
)


@lru_cache(maxsize=1)
def _insert_fields() -> list:
    """Article's columns as Model.save inserts them (the primary key comes back)."""
    return [f for f in Article._meta.local_concrete_fields if not f.primary_key]


@lru_cache(maxsize=1)
def _insert_sql() -> str:
    """``INSERT … ON CONFLICT DO NOTHING`` of one Article row as Django compiles it, with
    the story the statement's ``story`` part found in place of a story_id value. The text
    depends on the columns only (no field of Article has a per-value placeholder), so it
    is compiled once, not once per entry."""
    from django.db.models.constants import OnConflict
    from django.db.models.sql import InsertQuery

    fields = _insert_fields()
    assert not any(hasattr(f, "get_placeholder") for f in fields), "a per-value placeholder needs a per-row compile"
    query = InsertQuery(Article, on_conflict=OnConflict.IGNORE)
    query.insert_values(fields, [Article()])
    [(sql, _params)] = query.get_compiler(connection=connection).as_sql()
    head, values = sql.split(" VALUES (", 1)
    placeholders, tail = values.split(")", 1)
    slots = placeholders.split(", ")
    assert len(slots) == len(fields) and set(slots) == {"%s"}, sql
    slots[[f.attname for f in fields].index("story_id")] = "(SELECT id FROM story)"
    return f"{head} VALUES ({', '.join(slots)}){tail}"


# A new article's story (the ORM path's _Batch.story in SQL): among the first STORY_CANDIDATES
# published articles (by id) of *other* sources fetched in the window that share one of its
# SimHash bands, the first within NEAR_DUPLICATE_DISTANCE bits; the story is that one's, or it.
# Parameters: the four bands, since, the source, 'published', the SimHash, the distance.
_STORY_SQL = (
    f"SELECT coalesce(c.story_id, c.id) AS id FROM ("
    f"SELECT id, story_id, simhash FROM {Article._meta.db_table} "
    f"WHERE (sim_band0 = %s OR sim_band1 = %s OR sim_band2 = %s OR sim_band3 = %s) "
    f"AND fetched_at >= %s AND source_id <> %s AND status = %s ORDER BY id LIMIT {STORY_CANDIDATES}) AS c "
    f"WHERE bit_count((c.simhash # %s)::bit(64)) <= %s ORDER BY c.id LIMIT 1"
)


def _leave_published(article: Article) -> None:
    """An article left the site (moderated, hidden, deleted): its tags' stored
    counts drop, and if it carried a story, the oldest published repost carries
    it on — otherwise the reposts would be folded under an article nobody sees."""
    from articles.tags import tag_recount

    for tag in Tag.objects.filter(tagged_articles__content_object=article):
        tag_recount(tag=tag)
    story_promote(article)


def story_promote(article: Article) -> Article | None:
    """If ``article`` roots a story but is no longer published, make its oldest
    published repost the new root (and re-point the rest). Returns the new root."""
    if article.story_id is not None or article.status == Article.Status.PUBLISHED:
        return None
    with transaction.atomic():
        reposts = Article.objects.select_for_update().filter(story_id=article.pk).order_by("published_at", "id")
        heir = reposts.filter(status=Article.Status.PUBLISHED).first()
        if heir is None:
            return None
        Article.objects.filter(story_id=article.pk).exclude(pk=heir.pk).update(story_id=heir.pk)
        Article.objects.filter(pk=heir.pk).update(story_id=None)
        Article.objects.filter(pk=article.pk).update(story_id=heir.pk)
    heir.story_id = None
    return heir


def stories_reconcile(article_ids: Iterable[int]) -> set[int]:
    """Fold into its story each of these articles that a fetch running at the same time
    kept from finding it. Ingest looks a new entry's near-duplicates up among what was
    stored before its part of the feed began, so two feeds fetched at once (the fetch
    worker's threads) can each store a copy of the same story as its root. Once both are
    committed (the related refresh, on the process queue), the newer root joins the older
    one's story by the rule ingest applies (``_story_candidates``, the first 50 older ones,
    ``_first_near_duplicate``). Returns the ids of the articles whose pages changed
    (every article of each story that grew); empty when nothing was folded."""
    changed: set[int] = set()
    since = timezone.now() - NEAR_DUPLICATE_WINDOW
    roots = (Article.objects.filter(pk__in=sorted(set(article_ids)), story__isnull=True, simhash__isnull=False,
                                    status=Article.Status.PUBLISHED).only("id", "simhash", "source_id").order_by("id"))
    for article in roots:  # oldest first: a chain (C ← A ← B) settles in one call
        bands = [[_band(article.simhash, i)] for i in range(4)]
        candidates = _story_candidates(bands, article.source_id, since).filter(pk__lt=article.pk)[:50]
        found = _first_near_duplicate(candidates, article.simhash)
        root = (found.story_id or found.pk) if found is not None else None
        if root is None or root == article.pk:
            continue
        with transaction.atomic():
            Article.objects.filter(story_id=article.pk).update(story_id=root)  # its own reposts come along
            folded = Article.objects.filter(pk=article.pk, story__isnull=True).update(story_id=root)
        if folded:
            log.info("story reconcile: article=%s joins story=%s", article.pk, root)
            changed |= {root, *Article.objects.filter(story_id=root).values_list("id", flat=True)}
    return changed


_RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock detected, serialization failure
_STORE_ATTEMPTS = 3


def _is_retryable(exc: OperationalError) -> bool:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) in _RETRYABLE_SQLSTATES or getattr(cause, "pgcode", None) in _RETRYABLE_SQLSTATES


def _store_retrying(source, p: Prepared, result: IngestResult, batch: _Batch,
                    while_waiting: Callable[[], None] | None = None) -> Article | None:
    """_store, retried when PostgreSQL picks this transaction as a deadlock victim
    (its work was rolled back, so running it again is safe)."""
    for attempt in range(1, _STORE_ATTEMPTS + 1):
        partial = IngestResult()
        try:
            article = _store(source, p, partial, batch, while_waiting)
        except OperationalError as exc:
            if attempt == _STORE_ATTEMPTS or not _is_retryable(exc) or connection.in_atomic_block:
                raise
            log.info("ingest retry %s for guid=%s after %s", attempt, p.guid, exc.__cause__.__class__.__name__)
            time.sleep(0.05 * attempt)
            batch.reload(p)
            continue
        for name in ("new", "updated", "unchanged", "duplicate", "spam"):
            setattr(result, name, getattr(result, name) + getattr(partial, name))
        result.changed_pages |= partial.changed_pages
        if article is not None:
            batch.remember(article)
        return article
    return None


def _changed_entries(entries: list[EntryData], guid_hashes: list[str], ctx: _Context, seen: dict[str, str],
                     result: IngestResult) -> list[EntryData]:
    """Re-fetched feeds repeat most entries unchanged: their stored fingerprints (``seen``, by
    guid hash, read with the rules) tell them, and they skip the pipeline."""
    changed = []
    for entry, guid_hash in zip(entries, guid_hashes):
        stored = seen.get(guid_hash) if guid_hash else None
        if stored is not None and stored == raw_fingerprint(entry, ctx):  # a new guid needs no fingerprint
            result.unchanged += 1
        else:
            changed.append(entry)
    return changed


def _failed(source, entry: EntryData, exc: Exception, result: IngestResult) -> None:
    log.exception("ingest failed for source=%s guid=%s", source.pk, getattr(entry, "guid", "?"))
    result.errors.append(f"{getattr(entry, 'link', '') or getattr(entry, 'guid', '')}: {exc}"[:500])


def ingest(source, entries) -> IngestResult:
    """Store entries for a source. Never raises for one bad entry: it is logged and counted.

    On PostgreSQL (outside a transaction) a new entry is one statement (``_insert_new``),
    and while the server runs it the next entry is prepared here (its ``while_waiting``).
    Nothing else waits on the server: the stored rows the entries may be are loaded in
    one query before the first is prepared (the raw entries have their keys), a new
    article's statement finds its story itself, and tags come from a memo."""
    result = IngestResult()
    entries = list(entries)
    guid_hashes = list(map(_entry_guid_hash, entries))
    rules, seen = _rules_and_seen(source, sorted(set(filter(None, guid_hashes))))
    ctx = _Context(source, rules)
    todo = deque(_changed_entries(entries, guid_hashes, ctx, seen, result))
    ready: deque[tuple[EntryData, Prepared]] = deque()

    def prepare_next(count: int = 1) -> None:
        for _ in range(min(count, len(todo))):
            entry = todo.popleft()
            try:
                ready.append((entry, prepare_entry(entry, ctx)))
            except SoftTimeLimitExceeded:
                raise  # the task's time is up: not this entry's fault (see below)
            except Exception as exc:  # one broken entry must not cost the others
                _failed(source, entry, exc, result)

    one_statement = connection.vendor == "postgresql" and not connection.in_atomic_block
    overlap = one_statement and settings.NEWSROOM_INGEST_OVERLAP and len(todo) > 1
    batch = _Batch(source, ctx.new_words, ctx.vocabulary if todo else None)
    if one_statement:
        batch.load(todo)
    if overlap:
        warm_tokenizer()  # what preparing reads from the database is read now, not while a statement is in flight
    else:
        prepare_next(len(todo))
        if not one_statement:
            batch.add([p for _, p in ready])  # the ORM path's lookups, story candidates included
    while ready or todo:
        if not ready:
            prepare_next()
            continue
        entry, p = ready.popleft()
        try:
            article = _store_retrying(source, p, result, batch, while_waiting=prepare_next if overlap else None)
            if article is not None:
                result.article_ids.append(article.pk)
        except SoftTimeLimitExceeded:
            # The fetch task's soft time limit: stop here, before the hard limit kills the
            # worker. What is stored stays (each entry commits on its own), the source
            # records a timeout, and its next fetch goes on with the entries not stored yet.
            raise
        except Exception as exc:
            _failed(source, entry, exc, result)
    if ctx.new_words:
        load_user_words(ctx.new_words)  # one tokenizer rebuild per run, not one per new tag
    related.schedule_refresh(result.article_ids)
    metrics.ENTRIES.labels("new").inc(result.new)
    metrics.ENTRIES.labels("updated").inc(result.updated)
    metrics.ENTRIES.labels("duplicate").inc(result.duplicate)
    metrics.ENTRIES.labels("spam").inc(result.spam)
    if result.new or result.updated:
        # The lists show what is new; of the article pages, only those whose own content changed
        # (an update; a story a repost joined: all of its pages list it) are rendered again.
        pages = set(result.changed_pages)
        if pages:
            roots = {a.story_id or a.pk for a in Article.objects.filter(pk__in=pages).only("id", "story_id")}
            pages |= roots | set(Article.objects.filter(story_id__in=roots).values_list("id", flat=True))
        transaction.on_commit(lambda: bump_articles(pages, lists=True))
        search.schedule_merge()
    return result
