"""Reads: what pages and feeds show, with their joins built in."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db import connection
from django.db.models import Prefetch, Q, QuerySet

from articles import counters
from articles.models import Article, Bookmark, Comment, RelatedArticle, SourceFollow, Tag, TagFollow, TaggedArticle
from articles.text.urls import url_hash
from feeds.models import Source
from newsroom.db import from_row, statement_rows


def known_links(source_id: int, links: list[str]) -> set[str]:
    """Which of these links this source already has (so feeds skips re-fetching their pages)."""
    if not links:
        return set()
    by_hash = {url_hash(link): link for link in links}
    found = set(
        Article.objects.filter(url_hash__in=list(by_hash)).exclude(url_hash="").values_list("url_hash", flat=True)
    ) | set(Article.objects.filter(source_id=source_id, url__in=links).values_list("url", flat=True))
    return {by_hash.get(h, h) for h in found}


def article_list(base: QuerySet | None = None) -> QuerySet:
    """Published articles for lists: newest first, one card per story (reposts folded)."""
    qs = base if base is not None else Article.objects.all()
    return qs.published().filter(story__isnull=True).for_list().order_by("-pinned", "-published_at", "-id")


class _Paged:
    """Article cards for the paginator, a page read in one statement of two steps:
    the page's ids past the OFFSET from the list's index alone (an index-only
    scan), then that page's cards by id (``article_list`` filters and orders them
    again). OFFSET on the cards themselves fetched and joined every skipped row:
    page 197 of the home page took 10 ms at 100k articles, 0.7 ms this way.

    On PostgreSQL, with ``ids_sql`` (the same ids in SQL, ``LIMIT %s OFFSET %s``
    last; a ``REACH`` parameter stands for the end of the page), a page is a
    statement prepared once per connection: the ORM's compiling was most of a
    list page's database time (3.6 → 1.6 ms a page). ``count``: a number, or
    what gives it when the paginator asks."""

    def __init__(self, ids: QuerySet, count=None, ids_sql: tuple[str, list] | None = None) -> None:
        self.ids = ids  # the list's article ids, in list order
        self._count = count
        self._ids_sql = ids_sql if connection.vendor == "postgresql" else None

    def count(self) -> int:
        if self._count is None:
            return self.ids.count()
        return self._count() if callable(self._count) else self._count

    def window(self, start: int, stop: int | None) -> QuerySet:
        """Cards ``start:stop`` as a queryset (feeds defer other fields)."""
        return article_list(Article.objects.filter(pk__in=self.ids[start:stop]))

    def statement(self, start: int, stop: int) -> tuple[str, list] | None:
        """The prepared statement of cards ``start:stop`` (None: the ORM's ``window``)."""
        if self._ids_sql is None:
            return None
        sql, params = self._ids_sql
        return _LIST_SQL.format(ids=sql), [*(stop if p is REACH else p for p in params), max(stop - start, 0), start]

    def __getitem__(self, window: slice) -> list[Article]:
        start, stop = window.start or 0, window.stop
        statement = self.statement(start, stop) if stop is not None else None
        if statement is None:
            return list(self.window(start, stop))
        return cards_from_rows(statement_rows(*statement), _LIST_A, _LIST_S)


def cards_from_rows(rows, article_fields: tuple[str, ...], source_fields: tuple[str, ...]) -> list[Article]:
    """Articles with their source, as the ORM's select_related would load them, from rows of
    ``article_fields`` then ``source_fields`` (the fields not read are deferred)."""
    n = len(article_fields)
    cards = []
    for row in rows:
        card = from_row(Article, article_fields, row[:n])
        card.source = from_row(Source, source_fields, row[n:])
        cards.append(card)
    return cards


REACH = object()  # in a list's ids_sql parameters: how many of the list the page reaches (its stop)

# A card as article_list loads it (all but body and keywords), for the ids a list's SQL gives, with
# what a card shows of its source (templates/includes/article_card.html: its name and
# slug; the other fields are deferred, as the ORM's only() leaves them): not the source's fetch
# state, validators, selectors and last error, twenty times a page.
_LIST_A = tuple(f.attname for f in Article._meta.concrete_fields if f.attname not in ("body", "keywords"))
_LIST_S = ("id", "name", "slug")


def _listed(a: str = "") -> str:
    """article_list's filter and order in SQL, for the article table under alias ``a``."""
    p = f"{a}." if a else ""
    return f"{p}status = 'published' AND {p}story_id IS NULL"


def _list_order(a: str = "") -> str:
    p = f"{a}." if a else ""
    return f"{p}pinned DESC, {p}published_at DESC, {p}id DESC"


_LIST_SQL = (
    f"SELECT {', '.join('a.' + f for f in _LIST_A)}, {', '.join('s.' + f for f in _LIST_S)} "
    "FROM articles_article a JOIN feeds_source s ON s.id = a.source_id "
    f"WHERE a.id IN ({{ids}}) AND {_listed('a')} ORDER BY {_list_order('a')}"
)


def home_articles() -> _Paged:
    """The home page's list, ready to paginate."""
    return _Paged(article_list().values("id"), ids_sql=(
        f"SELECT id FROM articles_article WHERE {_listed()} ORDER BY {_list_order()} LIMIT %s OFFSET %s", []))


def source_articles(source: Source) -> _Paged:
    """A source's list, ready to paginate."""
    return _Paged(article_list(Article.objects.filter(source=source)).values("id"), source.article_count, ids_sql=(
        f"SELECT id FROM articles_article WHERE source_id = %s AND {_listed()} ORDER BY {_list_order()} "
        "LIMIT %s OFFSET %s", [source.pk]))


def tag_articles(tag: Tag) -> _Paged:
    """A tag's list, ready to paginate. On PostgreSQL the ids come off the tag's
    timeline index (TaggedArticle's copies of the list position, kept by triggers:
    migration 0010); the cards are still filtered by ``article_list``, so a row the
    triggers missed can hide an article from the page, never show one not listed."""
    if connection.vendor != "postgresql":
        return _Paged(article_list(Article.objects.filter(tags=tag)).values("id"), tag.articles_count)
    ids = (TaggedArticle.objects.filter(tag=tag, listed=True)
           .order_by("-pinned", "-published_at", "-content_object_id").values("content_object_id"))
    return _Paged(ids, tag.articles_count, ids_sql=(
        "SELECT content_object_id FROM articles_taggedarticle WHERE tag_id = %s AND listed "
        "ORDER BY pinned DESC, published_at DESC, content_object_id DESC LIMIT %s OFFSET %s", [tag.pk]))


def attach_tags(articles: list[Article]) -> list[Article]:
    """Every article's tags in one query, left where ``article.tags.all()`` finds
    them — what ``prefetch_related("tags")`` does, without taggit's generic
    prefetch, which costs ~5 ms of Python for a page of 20 cards."""
    by_article: dict[int, list[Tag]] = {a.pk: [] for a in articles}
    if by_article:
        for article_id, tag_id, name, slug in _tag_rows(list(by_article)):
            by_article[article_id].append(from_row(Tag, ("id", "name", "slug"), (tag_id, name, slug)))
    for article in articles:
        cached = Tag.objects.all()
        cached._result_cache, cached._prefetch_done = by_article[article.pk], True
        if not hasattr(article, "_prefetched_objects_cache"):
            article._prefetched_objects_cache = {}
        article._prefetched_objects_cache["tags"] = cached
    return articles


# Every list page runs it: prepared once per connection, one array parameter for any page size.
# Each tag is looked up by its key (LATERAL … OFFSET 0 keeps the join a nested loop): as a
# plain join the plan hashed the whole tag table for a page's hundred taggings: 3.1 ms
# instead of 0.6 at 2,000 tags.
_TAG_ROWS_SQL = """
SELECT ta.content_object_id, ta.tag_id, t.name, t.slug
  FROM articles_taggedarticle ta
 CROSS JOIN LATERAL (SELECT name, slug FROM articles_tag WHERE id = ta.tag_id OFFSET 0) t
 WHERE ta.content_object_id = ANY(%s::bigint[]) ORDER BY ta.id
"""


def _tag_rows(article_ids: list[int]) -> list[tuple]:
    """(article id, tag id, name, slug) of these articles' tags, in tagging order."""
    if connection.vendor == "postgresql":
        return statement_rows(_TAG_ROWS_SQL, [article_ids])
    return list(TaggedArticle.objects.filter(content_object_id__in=article_ids).order_by("id")
                .values_list("content_object_id", "tag_id", "tag__name", "tag__slug"))


def with_pending_reads(articles, live: bool = True) -> list:
    """Set ``read_total`` = stored read count + reads still waiting in Redis (one HMGET).
    ``live=False``: the stored count only, for a page whose counts are filled in after
    it is rendered (articles.pagecache.fills_reads)."""
    articles = list(articles)
    pending = counters.pending_reads([a.pk for a in articles]) if live else {}
    for a in articles:
        a.read_total = a.read_count + pending.get(a.pk, 0)
    return articles


def hot_articles(hours: int, limit: int = 10, *, cards: bool = False, live: bool = True) -> list[Article]:
    """热点推荐: hottest by reads (+ bookmarks) in the window; stored read counts when the window is quiet.
    ``cards``: full list cards (source and tags joined); else just titles for a sidebar.
    ``live``: as for with_pending_reads."""
    ids = counters.hot_article_ids(hours, limit)
    qs = Article.objects.published().filter(pk__in=ids)
    qs = qs.for_list() if cards else qs.only("id", "title", "read_count", "published_at")
    by_id = {a.pk: a for a in qs}
    hot = [by_id[i] for i in ids if i in by_id][:limit]
    if not hot:
        fallback = article_list().order_by("-read_count", "-bookmark_count", "-published_at")
        if not cards:
            fallback = fallback.prefetch_related(None).select_related(None).only("id", "title", "read_count", "published_at")
        hot = list(fallback[:limit])
    hot = with_pending_reads(hot, live)
    return attach_tags(hot) if cards else hot


@dataclass
class ArticlePage:
    """What the article page shows about one article (the per-reader parts aside)."""

    article: Article
    tags: list[Tag]
    related: list[RelatedArticle]
    also_reported: list[Article]


RELATED_LIMIT = 6
ALSO_LIMIT = 10
_A = ("id", "source_id", "title", "summary", "body", "author", "original_title", "origin_account", "url",
      "published_at", "updated_at", "status", "moderation_note", "read_count", "bookmark_count", "comment_count",
      "story_id")
_S = ("id", "name", "slug", "followers_count", "article_count")
_T = ("id", "name", "slug", "followers_count", "articles_count", "views_count")
_R = ("article_id", "related_id", "score", "shared_words")
_R_ARTICLE = ("id", "title", "published_at", "read_count", "status")
_ALSO = ("id", "title", "url", "status")
# PostgreSQL: the article, its source, tags, 相关推荐 and 同一事件的其他报道 in one round trip.
_PAGE_SQL = f"""
SELECT {", ".join("a." + f for f in _A)}, {", ".join("s." + f for f in _S)},
  (SELECT json_agg(json_build_array({", ".join("t." + f for f in _T)}) ORDER BY ta.id)
     FROM articles_taggedarticle ta JOIN articles_tag t ON t.id = ta.tag_id WHERE ta.content_object_id = a.id),
  (SELECT json_agg(json_build_array(x.id, x.title, x.published_at, x.read_count, x.score, x.shared_words))
     FROM (SELECT r.id, r.title, r.published_at, r.read_count, l.score, l.shared_words
             FROM articles_relatedarticle l JOIN articles_article r ON r.id = l.related_id
            WHERE l.article_id = a.id AND r.status = 'published'
            ORDER BY l.score DESC, l.related_id DESC LIMIT {RELATED_LIMIT}) x),
  (SELECT json_agg(json_build_array(y.id, y.title, y.url, y.name, y.slug))
     FROM (SELECT o.id, o.title, o.url, os.name, os.slug
             FROM articles_article o JOIN feeds_source os ON os.id = o.source_id
            WHERE o.status = 'published' AND o.id <> a.id
              AND (o.id = COALESCE(a.story_id, a.id) OR o.story_id = COALESCE(a.story_id, a.id))
            ORDER BY o.published_at DESC, o.id DESC LIMIT {ALSO_LIMIT}) y)
FROM articles_article a JOIN feeds_source s ON s.id = a.source_id
WHERE a.id = %s::bigint
"""



def article_page(pk: int) -> ArticlePage | None:
    """The article page's data: one query on PostgreSQL (the ORM would take four,
    and on a page nobody has asked for yet the ORM's own work is most of the
    time); the same through the ORM on SQLite. None if there is no such article."""
    if connection.vendor != "postgresql":
        article = (Article.objects.select_related("source").prefetch_related("tags")
                   .defer("keywords").filter(pk=pk).first())
        if article is None:
            return None
        return ArticlePage(article, list(article.tags.all()), related_for(article), also_reported(article))
    rows = statement_rows(_PAGE_SQL, [pk])
    if not rows:
        return None
    row = rows[0]
    # Built as the ORM builds rows (Model.from_db): fields the query does not read are deferred.
    n_a, n_s = len(_A), len(_S)
    article = from_row(Article, _A, row[:n_a])
    article.source = from_row(Source, _S, row[n_a : n_a + n_s])
    tags_json, related_json, also_json = row[n_a + n_s :]
    tags = [from_row(Tag, _T, t) for t in tags_json or []]
    related = []
    for rid, title, published, reads, score, words in related_json or []:
        link = from_row(RelatedArticle, _R, (pk, rid, score, words))
        link.related = from_row(Article, _R_ARTICLE, (rid, title, datetime.fromisoformat(published), reads,
                                                      Article.Status.PUBLISHED))
        related.append(link)
    also = []
    for oid, title, url, name, slug in also_json or []:
        other = from_row(Article, _ALSO, (oid, title, url, Article.Status.PUBLISHED))
        other.source = Source(name=name, slug=slug)
        also.append(other)
    return ArticlePage(article, tags, related, also)


def related_for(article: Article, limit: int = RELATED_LIMIT) -> list[RelatedArticle]:
    return list(
        RelatedArticle.objects.filter(article=article, related__status=Article.Status.PUBLISHED)
        .select_related("related")
        .defer("related__body")
        .order_by("-score", "-related_id")[:limit]
    )


def also_reported(article: Article, limit: int = ALSO_LIMIT) -> list[Article]:
    """Other articles of the same story (reposts and the original)."""
    root_id = article.story_id or article.pk
    return list(
        Article.objects.published()
        .filter(Q(pk=root_id) | Q(story_id=root_id))
        .exclude(pk=article.pk)
        .select_related("source")
        .only("id", "title", "url", "source__name", "source__slug")[:limit]
    )


def comment_threads(article: Article, limit: int = 100) -> list[Comment]:
    """Published top-level comments, oldest first, each with its published replies (2 queries)."""
    replies = Comment.objects.filter(status=Comment.Status.PUBLISHED).select_related("user").order_by("created_at", "id")
    return list(
        Comment.objects.filter(article=article, parent__isnull=True, status=Comment.Status.PUBLISHED)
        .select_related("user")
        .prefetch_related(Prefetch("replies", queryset=replies))
        .order_by("created_at", "id")[:limit]
    )


def followed_tag_ids(user) -> set[int]:
    if not user.is_authenticated:
        return set()
    return set(TagFollow.objects.filter(user=user).values_list("tag_id", flat=True))


def followed_source_ids(user, source_ids: list[int] | None = None) -> set[int]:
    if not user.is_authenticated:
        return set()
    qs = SourceFollow.objects.filter(user=user)
    if source_ids is not None:
        qs = qs.filter(source_id__in=source_ids)
    return set(qs.values_list("source_id", flat=True))


def bookmarked_ids(user, article_ids: list[int]) -> set[int]:
    if not user.is_authenticated or not article_ids:
        return set()
    return set(Bookmark.objects.filter(user=user, article_id__in=article_ids).values_list("article_id", flat=True))


def stream_for(user) -> QuerySet:
    """/me/: articles from followed tags and sources, newest first (subqueries, no DISTINCT)."""
    followed_tags = TagFollow.objects.filter(user=user).values("tag_id")
    followed_sources = SourceFollow.objects.filter(user=user).values("source_id")
    tagged = TaggedArticle.objects.filter(tag_id__in=followed_tags).values("content_object_id")
    return article_list(Article.objects.filter(Q(pk__in=tagged) | Q(source_id__in=followed_sources)))


# /me/ on PostgreSQL: the first REACH of each followed tag's timeline and each followed source's
# list (index walks), merged; the page's top REACH is among them, whatever the overlaps.
_STREAM_IDS_SQL = f"""SELECT id FROM (
  SELECT x.content_object_id AS id, x.pinned, x.published_at
    FROM articles_tagfollow f CROSS JOIN LATERAL (
         SELECT ta.content_object_id, ta.pinned, ta.published_at FROM articles_taggedarticle ta
          WHERE ta.tag_id = f.tag_id AND ta.listed
          ORDER BY ta.pinned DESC, ta.published_at DESC, ta.content_object_id DESC LIMIT %s) x
   WHERE f.user_id = %s
  UNION
  SELECT y.id, y.pinned, y.published_at
    FROM articles_sourcefollow g CROSS JOIN LATERAL (
         SELECT a.id, a.pinned, a.published_at FROM articles_article a
          WHERE a.source_id = g.source_id AND {_listed('a')} ORDER BY {_list_order('a')} LIMIT %s) y
   WHERE g.user_id = %s
) merged ORDER BY {_list_order()} LIMIT %s OFFSET %s"""

_STREAM_COUNT_SQL = f"""SELECT count(*) FROM (
  SELECT ta.content_object_id FROM articles_taggedarticle ta JOIN articles_tagfollow f ON f.tag_id = ta.tag_id
   WHERE f.user_id = %s AND ta.listed
  UNION
  SELECT a.id FROM articles_article a JOIN articles_sourcefollow g ON g.source_id = a.source_id
   WHERE g.user_id = %s AND {_listed('a')}) merged"""


def stream_articles(user) -> _Paged:
    """/me/, ready to paginate. On PostgreSQL a page merges the heads of the followed tags'
    timelines and sources' lists (one prepared statement) instead of walking the site's
    whole list for articles in any of them."""
    if connection.vendor != "postgresql":
        return _Paged(stream_for(user).values("id"))
    return _Paged(stream_for(user).values("id"), count=lambda: stream_count(user),
                  ids_sql=(_STREAM_IDS_SQL, [REACH, user.pk, REACH, user.pk]))


def stream_count(user) -> int:
    """How many articles /me/ lists, kept a minute (counting every article of a few busy
    tags costs more than the page itself); a follow or unfollow forgets it."""
    return _kept_count(_stream_count_key(user.pk), lambda: statement_rows(_STREAM_COUNT_SQL, [user.pk, user.pk])[0][0])


def forget_stream_count(user) -> None:
    cache.delete(_stream_count_key(user.pk))


def _stream_count_key(user_id: int) -> str:
    return f"me:count:{user_id}"


def _kept_count(key: str, count, seconds: int = 60) -> int:
    """``count()``, kept ``seconds`` in the cache: a list's total only numbers its pages."""
    value = cache.get(key)
    if value is None:
        value = count()
        cache.set(key, value, seconds)
    return value


def bookmarks_for(user) -> QuerySet:
    """/me/bookmarks/: newest bookmark first."""
    return (
        Article.objects.published()
        .filter(bookmarks__user=user)
        .for_list()
        .order_by("-bookmarks__created_at", "-id")
    )


def followed_tags(user) -> QuerySet:
    return Tag.objects.filter(follows__user=user).order_by("name")


def followed_sources(user) -> QuerySet:
    return Source.objects.filter(follows__user=user).only("id", "name", "slug", "followers_count").order_by("name")


def source_options(limit: int = 200) -> QuerySet:
    return Source.objects.filter(active=True).only("id", "name", "slug").order_by("-article_count", "name")[:limit]


def popular_tags(limit: int = 30) -> QuerySet:
    return Tag.objects.order_by("-articles_count", "name")[:limit]


def article_id_for_url(url: str) -> int | None:
    if not url:
        return None
    return Article.objects.filter(url_hash=url_hash(url)).exclude(url_hash="").values_list("id", flat=True).first()


def published_story_count() -> int:
    """How many cards the home page lists, cached for a minute: COUNT(*) over every
    published article on each request costs more than the page's other queries together."""
    return _kept_count("home:count", lambda: article_list().count())
