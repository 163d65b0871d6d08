"""相关推荐, precomputed when an article is stored: shared tags + shared keywords.

Candidates come from the article's tags (newest articles first) and, on
PostgreSQL, from the search index (articles sharing at least two of its top
keywords, GIN-indexed). Each is scored ``shared tags × 1 + shared keywords × 0.5``.
A card stores the words it shares with the article, those that appear in the
card's title first, so the page can highlight them (``highlight_words``).
A newcomer is also offered to its neighbours' lists, replacing their weakest
link when it scores higher — lists refresh as related articles arrive.

Refreshing costs tens of milliseconds an article (a GIN search plus the
neighbours' lists), more than the rest of the pipeline: ingest therefore only
*schedules* it, once per call for all the articles it stored
(``schedule_refresh``): a ``refresh_related_many`` task on the ``process``
queue. Commands that run the pipeline in-process and must leave related posts
behind when they return (``manage.py fetch``) wrap their work in
``refreshed_in_process()`` instead.
"""
from __future__ import annotations

from collections import Counter
from datetime import timedelta
from itertools import combinations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import IntegrityError, OperationalError, connection, transaction

from articles.cache import bump_articles
from articles.models import Article, RelatedArticle, Tag, TaggedArticle
from articles.text.tokenizer import keywords
from newsroom.db import statement_rows

log = logging.getLogger(__name__)

RELATED_LIMIT = 6
CANDIDATES = 150
KEYWORD_CANDIDATES = 100
KEYWORD_WINDOW = timedelta(days=180)
# Candidates by keywords: pairs among the article's top keywords that are not common
# across the site (a word in more than COMMON_WORD_SHARE of articles says little about
# relatedness, and its long GIN posting list made one query take ~110 ms at 100k
# articles). All 15 stored keywords still count when scoring.
KEYWORD_QUERY_WORDS = 6
COMMON_WORD_SHARE = 0.05
COMMON_WORDS_FROM = 20_000  # articles; below that every word is "common" by share and the scan is cheap anyway
COMMON_WORDS_TTL = 600.0
_common: tuple[float, frozenset[str]] = (float("-inf"), frozenset())
SHARED_WORDS = 5
# Articles per refresh_related_many task: a first fetch of a long feed still fits the task's time limit.
TASK_BATCH = 100


def _keywords(article: Article) -> list[str]:
    """Stored at ingest; older rows (before the field existed) fall back to their title."""
    return article.keywords or keywords(f"{article.title} {article.title}", top_k=15)


def common_words() -> frozenset[str]:
    """Lexemes found in more than COMMON_WORD_SHARE of articles, read from PostgreSQL's
    own statistics of the search vectors (ANALYZE keeps the ~1,000 most common
    elements with the share of rows holding each); reloaded every few minutes."""
    global _common
    loaded_at, words = _common
    if time.monotonic() - loaded_at < COMMON_WORDS_TTL:
        return words
    with connection.cursor() as cursor:
        rows = _estimated_rows(cursor)
        if rows < 0:
            # Never analyzed (a bulk load autovacuum has not reached yet): without the
            # statistics every keyword scan reads the busiest words' postings, ~10× slower.
            cursor.execute("ANALYZE articles_searchdoc")
            rows = _estimated_rows(cursor)
        if rows < COMMON_WORDS_FROM:
            _common = (time.monotonic(), frozenset())
            return _common[1]
        cursor.execute(
            "SELECT x.e FROM pg_stats, unnest(most_common_elems::text::text[], most_common_elem_freqs) AS x(e, f) "
            "WHERE schemaname = current_schema() AND tablename = 'articles_searchdoc' AND attname = 'vector' "
            "AND x.e IS NOT NULL AND x.f > %s",
            [COMMON_WORD_SHARE],
        )
        words = frozenset(row[0] for row in cursor.fetchall())
    _common = (time.monotonic(), words)
    return words


def _estimated_rows(cursor) -> float:
    """PostgreSQL's row estimate for SearchDoc (-1 until the table is first analyzed)."""
    cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'articles_searchdoc'::regclass")
    return cursor.fetchone()[0] or 0


def _keyword_candidates(article: Article, mine: list[str]) -> list[int]:
    """Recent published originals sharing at least two of the article's top keywords."""
    if connection.vendor != "postgresql" or len(mine) < 2:
        return []
    from articles.search import _quote

    common = common_words()
    top = [w for w in dict.fromkeys(w.lower() for w in mine) if w not in common][:KEYWORD_QUERY_WORDS]
    if len(top) < 2:
        return []
    query = " | ".join(f"({_quote(a)} & {_quote(b)})" for a, b in combinations(top, 2))
    since = article.published_at - KEYWORD_WINDOW
    rows = statement_rows(_KEYWORD_CANDIDATES_SQL, [query, Article.Status.PUBLISHED, article.pk, since,
                                                    KEYWORD_CANDIDATES], prefer_index=True)  # on the GIN index
    return [row[0] for row in rows]


# The keywords as the vectors store them (``::tsquery``, as search does): to_tsquery would run
# them through PostgreSQL's parser, which makes deepseek-r1 or qwen2.5 a phrase of its parts
# (never a match here, and every row read back to check it).
_KEYWORD_CANDIDATES_SQL = (
    "SELECT a.id FROM articles_searchdoc d JOIN articles_article a ON a.id = d.article_id "
    "WHERE d.vector @@ %s::tsquery "
    "AND a.status = %s AND a.story_id IS NULL AND a.id <> %s AND d.published_at >= %s "
    "ORDER BY d.published_at DESC LIMIT %s"
)


# The newest CANDIDATES * 3 (article, tag) rows of the article's tags: each tag's own newest
# from its index (tag, -article), then the newest of those. Walking the (article, tag) index
# backwards for rows of any of the tags instead read ten thousand rows for a rare tag.
_TAG_NEIGHBOURS_SQL = f"""
SELECT n.id FROM unnest(%s::bigint[]) AS g(tag_id) CROSS JOIN LATERAL (
  SELECT ta.content_object_id AS id FROM {TaggedArticle._meta.db_table} ta
   WHERE ta.tag_id = g.tag_id AND ta.listed AND ta.content_object_id <> %s
   ORDER BY ta.content_object_id DESC LIMIT %s) AS n
 ORDER BY n.id DESC LIMIT %s"""


def _tag_neighbours(article_id: int, tag_ids: list[int]) -> list[int]:
    """Other listed articles (published, not reposts: only those can be related posts) of
    these tags, newest first, once per tag they share, from the newest CANDIDATES * 3 rows."""
    limit = CANDIDATES * 3
    if connection.vendor == "postgresql":
        return [row[0] for row in statement_rows(_TAG_NEIGHBOURS_SQL, [tag_ids, article_id, limit, limit])]
    return list(
        TaggedArticle.objects.filter(tag_id__in=tag_ids, content_object__status=Article.Status.PUBLISHED,
                                     content_object__story__isnull=True)
        .exclude(content_object_id=article_id)
        .order_by("-content_object_id")
        .values_list("content_object_id", flat=True)[:limit]
    )


def _ordered_words(words: list[str], title: str) -> list[str]:
    """Words that appear in the card's title first: those are the ones the card can highlight."""
    lower = title.lower()
    return sorted(dict.fromkeys(words), key=lambda w: w.lower() not in lower)[:SHARED_WORDS]


def compute_related(article: Article) -> list[tuple[int, float, list[str], str]]:
    """[(related_id, score, shared words ordered for the related card, related title)], best first."""
    tag_ids = list(TaggedArticle.objects.filter(content_object=article).values_list("tag_id", flat=True))
    shared_tags: Counter[int] = Counter(_tag_neighbours(article.pk, tag_ids)) if tag_ids else Counter()
    mine_list = _keywords(article)
    candidate_ids = {aid for aid, _ in shared_tags.most_common(CANDIDATES)}
    candidate_ids.update(_keyword_candidates(article, mine_list))
    if not candidate_ids:
        return []
    mine = {w.lower() for w in mine_list}
    story_root = article.story_id or article.pk
    tag_names = dict(Tag.objects.filter(pk__in=tag_ids).values_list("pk", "name"))
    tagged = {}
    for aid, tid in TaggedArticle.objects.filter(content_object_id__in=candidate_ids, tag_id__in=tag_ids).values_list(
        "content_object_id", "tag_id"
    ):
        tagged.setdefault(aid, []).append(tag_names.get(tid, ""))
    scored = []
    others = (
        Article.objects.filter(pk__in=candidate_ids, status=Article.Status.PUBLISHED, story__isnull=True)
        .exclude(pk=story_root)
        .only("id", "title", "keywords")
    )
    for other in others:
        theirs = _keywords(other)
        shared = [w for w in theirs if w.lower() in mine]
        tags_shared = tagged.get(other.id, [])
        score = len(tags_shared) * 1.0 + len(shared) * 0.5
        if score <= 0:
            continue
        words = _ordered_words([*shared, *[t for t in tags_shared if t]], other.title)
        scored.append((other.id, score, words, other.title))
    scored.sort(key=lambda x: (-x[1], -x[0]))
    return scored[:RELATED_LIMIT]


def _offer(neighbour_id: int, article: Article, score: float, words: list[str]) -> bool:
    """Put ``article`` in a neighbour's list if it beats the neighbour's weakest link;
    whether the list (may have) changed."""
    links = list(
        RelatedArticle.objects.filter(article_id=neighbour_id).exclude(related_id=article.pk)
        .order_by("-score", "-related_id").only("id", "score")
    )
    if len(links) >= RELATED_LIMIT and links[RELATED_LIMIT - 1].score >= score:
        deleted, _ = RelatedArticle.objects.filter(article_id=neighbour_id, related_id=article.pk).delete()
        return bool(deleted)
    RelatedArticle.objects.update_or_create(
        article_id=neighbour_id, related_id=article.pk,
        defaults={"score": score, "shared_words": _ordered_words(words, article.title)},
    )
    extra = links[RELATED_LIMIT - 1 :]
    if extra:
        RelatedArticle.objects.filter(pk__in=[link.pk for link in extra]).delete()
    return True


def refresh_for(article_id: int) -> None:
    """Recompute an article's list and offer it to its neighbours. Best effort and
    never raising: it runs after the article is committed, often in several
    fetch threads at once, and a lost race only means a list refreshes later."""
    bump_articles(_refresh_retrying(article_id))  # the cached pages of the lists that changed


def _refresh_retrying(article_id: int) -> set[int]:
    for attempt in range(3):
        try:
            return _refresh(article_id)
        except (IntegrityError, OperationalError) as exc:  # concurrent refresh of a shared neighbour, deadlock
            log.info("related refresh retry %s for article=%s: %s", attempt + 1, article_id, exc)
            time.sleep(0.05 * (attempt + 1))
        except Exception:
            log.exception("related refresh failed for article=%s", article_id)
            return set()
    return set()


def _refresh(article_id: int) -> set[int]:
    """The ids of the articles whose related lists it changed (may have changed)."""
    article = Article.objects.filter(pk=article_id).only("id", "title", "keywords", "status", "story_id", "published_at").first()
    if article is None:
        return set()
    rows = compute_related(article) if article.status == Article.Status.PUBLISHED else []
    with transaction.atomic():
        RelatedArticle.objects.filter(article=article).delete()
        RelatedArticle.objects.bulk_create(
            [RelatedArticle(article=article, related_id=rid, score=s, shared_words=w) for rid, s, w, _ in rows],
            ignore_conflicts=True,
        )
    # Reposts are folded into their story: they are not offered to anyone. Neighbours in id
    # order, each in its own transaction, so concurrent refreshes never wait on each other in a cycle.
    changed = {article.pk}
    if article.story_id is None:
        for rid, score, words, _ in sorted(rows):
            with transaction.atomic():
                if _offer(rid, article, score, words):
                    changed.add(rid)
    return changed


def refresh_many(article_ids: Iterable[int]) -> None:
    """refresh_for each article once, in the order they were stored (as the
    per-article refreshes after each commit used to run) — after folding into their
    stories the copies a concurrent fetch kept from finding theirs (``stories_reconcile``)."""
    from articles.ingest import stories_reconcile

    ids = sorted(set(article_ids))
    try:
        folded = stories_reconcile(ids)
    except Exception:  # best effort, like the refresh itself: the stories stay as ingest stored them
        log.exception("story reconcile failed for %s articles", len(ids))
        folded = set()
    changed: set[int] = set(folded)
    for article_id in ids:
        changed |= _refresh_retrying(article_id)
    bump_articles(changed, lists=bool(folded))  # one round trip for the pages of every list that changed


# Ids collected by refreshed_in_process() (None: not collecting). Process-wide on
# purpose: `fetch` ingests in a thread pool, and every thread's articles count.
_collected: set[int] | None = None
_collected_lock = threading.Lock()


@contextmanager
def refreshed_in_process() -> Iterator[None]:
    """Inside this block, articles scheduled for a refresh are collected rather
    than queued, and refreshed here, in this process, when the block ends — for
    callers that run the pipeline in-process (``manage.py fetch``) and must
    leave related posts behind without relying on a worker."""
    global _collected
    with _collected_lock:
        outer, _collected = _collected, (_collected if _collected is not None else set())
    try:
        yield
    finally:
        with _collected_lock:
            ids, _collected = _collected, outer
        if outer is None:
            refresh_many(ids)


def schedule_refresh(article_ids: Iterable[int]) -> None:
    """Have the articles' lists (and their neighbours') refreshed after the current
    transaction commits: one task on the process queue, or, inside
    refreshed_in_process(), at the end of that block."""
    ids = sorted(set(article_ids))
    if not ids:
        return
    with _collected_lock:
        if _collected is not None:
            _collected.update(ids)
            return
    transaction.on_commit(lambda: _enqueue(ids))


def _enqueue(ids: list[int]) -> None:
    from articles.tasks import refresh_related_many

    for start in range(0, len(ids), TASK_BATCH):
        chunk = ids[start : start + TASK_BATCH]
        try:
            refresh_related_many.delay(chunk)
        except Exception:
            # The broker is away: the articles are stored, so do the work here rather than lose it.
            log.warning("could not queue the related refresh of %s articles; refreshing in-process", len(chunk),
                        exc_info=True)
            refresh_many(chunk)
