"""Chinese full-text search.

PostgreSQL
----------
One `simple` tsvector per article, in the narrow SearchDoc table (GIN-indexed,
migration 0007), built here
as a tsvector literal with explicit positions and weights (title A, body B).
It holds two things:

* **grams** — the recall layer. Every run of Han characters is stored as its
  overlapping character bigrams at consecutive positions (推理芯片 → 推理:1
  理芯:2 芯片:3) plus its last character as a unigram; every Latin/digit run
  as one lowercased lexeme (plus its letter and digit parts: rtx5090 → rtx,
  5090). A query word becomes a phrase of the same grams (英伟达 → 英伟 <-> 伟达),
  so a Chinese word matches exactly where ``LIKE '%英伟达%'`` would —
  whatever the segmenter did with the text around it (研究生|命 still has 生命).
* **words** — what the project tokenizer (``search_tokens``) cut, title and
  body. A query word also matches as that whole lexeme, so vectors written
  without grams (bulk loads) still match on what the tokenizer cut.

Queries are segmented with the same tokenizer: each word (or each quoted
phrase, kept whole) must match (AND); a single Han character or a Latin word
matches as a prefix (rtx → rtx5090). Han characters the segmenter leaves one by
one side by side (a name it does not know: 美光 → 美|光) are one term again.
A phrase's positions are checked only on rows the index cannot decide by the
whole word (``window_sql``). The newest ``RANK_WINDOW`` matches are
ranked by how many query terms their headline carries, newest first among equals;
matches are highlighted in Python (``highlight_words`` / ``search_snippet``).

Known differences from LIKE (documented, tested): a Latin query matches from
the start of a Latin word only (``idia`` does not find ``nvidia``); text past
``MAX_INDEX_CHARS`` characters of a body is not indexed; PostgreSQL keeps at
most 256 positions per lexeme, so a phrase whose only occurrence sits past the
256th occurrence of one of its bigrams can be missed.

SQLite (the embedded default)
-----------------------------
No tsvector: each query word is matched with LIKE (``icontains``) against the
title and the stored body — the same recall as LIKE by construction, slower,
ordered by date, no ranking. Fine for a demo-sized corpus.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from django import forms
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from articles.models import Article
from articles.text.normalize import fold_width
from articles.text.sanitize import html_to_text
from articles.text.tokenizer import search_tokens, segment
from newsroom.db import index_scans, statement_rows
from newsroom.speedups import speedups as _speedups

log = logging.getLogger(__name__)

MAX_INDEX_CHARS = 60_000
MAX_QUERY_CHARS = 100
MAX_TERMS = 8
_MAX_POSITION = 16_000  # PostgreSQL clamps positions at 16383: wrap before that, at a gap
_MAX_POSITIONS_PER_LEXEME = 256  # PostgreSQL's own limit

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_MAX_LEXEME_BYTES = 200
# A search lists the newest RANK_WINDOW matches, ranked; older ones are reached with the date filters.
RANK_WINDOW = 1000
_RUN_RE = re.compile(rf"([{_HAN}]+)|([^\W_{_HAN}]+)")
_HAN_CHAR_RE = re.compile(rf"[{_HAN}]")
_ALNUM_PART_RE = re.compile(r"[^\W\d_]+|\d+")
_PHRASE_RE = re.compile(r'"([^"]+)"|“([^”]+)”|「([^」]+)」|『([^』]+)』')


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


# --- grams ---------------------------------------------------------------------


def _folded(text: str) -> str:
    """What grams are made of: widths folded, lowercased."""
    return fold_width(text).lower()


def _runs(text: str):
    """(run, is_han, joined): joined means only whitespace (or nothing) separates
    the run from the previous one, so a phrase may continue across it."""
    text = _folded(text)
    last_end = 0
    for m in _RUN_RE.finditer(text):
        between = text[last_end : m.start()]
        yield m.group(), m.group(1) is not None, (not between or between.isspace())
        last_end = m.end()


def _quote(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


_CLAMP = 16_383  # PostgreSQL's largest position
_WRAP_JOINED = _MAX_POSITION + 300  # a run joined to the one before wraps later: phrases rarely straddle the wrap


@lru_cache(maxsize=2)
def _position_labels(weight: str) -> tuple[str, ...]:
    """Every position label of a weight ("12A"), made once in a process that indexes
    (not at import: web workers never need them)."""
    return tuple(f"{p}{weight}" for p in range(_CLAMP + 1))


class _Lexemes:
    """Lexeme → its position labels, in *segments*: positions only grow inside a
    segment, and a new one starts where they wrap back to 1 (a text longer than
    _MAX_POSITION). Inside a segment a repeated position can only be the last one
    taken and the labels come out sorted, so most articles (one segment) need no
    sets and no sorting; the lexemes of a long text that several segments share are
    merged at the end: first weight of a position kept, at most 256 positions
    (those taken first), sorted."""

    def __init__(self) -> None:
        self.by_lexeme: dict[str, list] = {}  # this segment's lexeme → [last position, label, label, …]
        self.done: list[dict[str, list]] = []  # the segments before it

    def add(self, lexeme: str, pos: int, labels: tuple[str, ...]) -> None:
        taken = self.by_lexeme.get(lexeme)
        if taken is None:
            if len(lexeme) * 4 > _MAX_LEXEME_BYTES and len(lexeme.encode("utf-8")) > _MAX_LEXEME_BYTES:
                return  # PostgreSQL refuses lexemes over 2047 bytes (base64 blobs, glued URLs); nobody searches them
            self.by_lexeme[lexeme] = [pos, labels[pos]]
        elif taken[0] != pos and len(taken) <= _MAX_POSITIONS_PER_LEXEME:
            taken[0] = pos
            taken.append(labels[pos])

    def wrap(self) -> int:
        """Start a new segment; returns its first position."""
        self.done.append(self.by_lexeme)
        self.by_lexeme = {}
        return 1

    def grams(self, text: str, pos: int, weight: str) -> int:
        """Index grams of ``text`` from position ``pos``; returns the next free position.

        Every run of Han characters becomes its bigrams at consecutive positions plus
        its last character; a Latin/digit run, one lexeme (and its letter and digit
        parts) at one position. A gap (anything but whitespace between two runs) costs
        a position, so phrases never match across punctuation."""
        labels = _position_labels(weight)
        add = self.add
        for run, is_han, joined in _runs(text):
            size = len(run)
            if not joined:
                pos += 1
                if pos + size > _MAX_POSITION:
                    pos = self.wrap()
            elif pos + size > _WRAP_JOINED:
                pos = self.wrap()
            if is_han:
                if size == 1:
                    add(run, pos, labels)
                    pos += 1
                    continue
                if pos + size - 2 > _CLAMP:  # one run longer than the positions go: its end shares the last
                    for i in range(size - 1):
                        add(run[i : i + 2], min(pos + i, _CLAMP), labels)
                    add(run[-1], min(pos + size - 2, _CLAMP), labels)
                    pos += size - 1
                    continue
                by_lexeme = self.by_lexeme
                for i in range(size - 1):  # add(), inlined: most of an article's lexemes are these
                    gram, at = run[i : i + 2], pos + i
                    taken = by_lexeme.get(gram)
                    if taken is None:
                        by_lexeme[gram] = [at, labels[at]]
                    elif taken[0] != at and len(taken) <= _MAX_POSITIONS_PER_LEXEME:
                        taken[0] = at
                        taken.append(labels[at])
                add(run[-1], pos + size - 2, labels)
                pos += size - 1
            else:
                add(run, pos, labels)
                parts = _ALNUM_PART_RE.findall(run)
                if len(parts) > 1:
                    for part in parts:
                        add(part, pos, labels)
                pos += 1
        return pos

    def literal(self) -> str:
        if not self.done:
            segment = self.by_lexeme
            return " ".join(_lexeme_literal(lexeme, taken[1:]) for lexeme, taken in segment.items())
        merged: dict[str, list[str]] = {}
        for segment in [*self.done, self.by_lexeme]:
            for lexeme, taken in segment.items():
                merged.setdefault(lexeme, []).extend(taken[1:])
        return " ".join(_lexeme_literal(lexeme, _merge_labels(found)) for lexeme, found in merged.items())


def _lexeme_literal(lexeme: str, labels: list[str]) -> str:
    return (f"'{lexeme}':" if "'" not in lexeme and "\\" not in lexeme else _quote(lexeme) + ":") + ",".join(labels)


def _merge_labels(labels: list[str]) -> list[str]:
    """Labels of one lexeme from several segments: the first label of each position,
    at most 256 positions (in the order they were taken), sorted by position."""
    by_position: dict[int, str] = {}
    for label in labels:
        position = int(label[:-1])
        if position not in by_position and len(by_position) < _MAX_POSITIONS_PER_LEXEME:
            by_position[position] = label
    return [by_position[p] for p in sorted(by_position)]


def build_vector(*, title: str, body_text: str, title_tokens: list[str], body_tokens: list[str]) -> str:
    """The tsvector literal for an article (see the module docstring): the title's grams
    from position 1, the body's after a gap, then the tokenizer's words, title and body;
    the words' positions stop at PostgreSQL's last one. Built by the compiled kernel
    (native/, about 6× faster) where it is installed, else by ``_build_vector_py``;
    both give the same string."""
    if _speedups is None:
        return _build_vector_py(title=title, body_text=body_text, title_tokens=title_tokens, body_tokens=body_tokens)
    return _speedups.build_vector(_folded(title), _folded(body_text[:MAX_INDEX_CHARS]), title_tokens, body_tokens)


def _build_vector_py(*, title: str, body_text: str, title_tokens: list[str], body_tokens: list[str]) -> str:
    """``build_vector`` in Python: the reference the compiled kernel is tested against."""
    lexemes = _Lexemes()
    pos = lexemes.grams(title, 1, "A")
    pos = lexemes.grams(body_text[:MAX_INDEX_CHARS], pos + 2, "B") + 2
    for weight, tokens in (("A", title_tokens), ("B", body_tokens)):
        labels = _position_labels(weight)
        for token in tokens:
            if token:
                lexemes.add(token, min(pos, _CLAMP), labels)
                pos += 1
    return lexemes.literal()


def search_vector(title: str, body_text: str, title_tokens: list[str], body_tokens: list[str]) -> str | None:
    """An article's tsvector literal for SearchDoc on PostgreSQL; None on SQLite (its
    search reads title and body). Ingest computes it before the row is written;
    index_article after."""
    if not _is_postgres():
        return None
    return build_vector(title=title, body_text=body_text, title_tokens=title_tokens, body_tokens=body_tokens)


def index_article(article: Article, *, title_tokens: list[str], body_tokens: list[str]) -> None:
    """Store the tsvector of a stored article in SearchDoc (PostgreSQL)."""
    vector = search_vector(article.title, html_to_text(article.body or article.summary or ""), title_tokens, body_tokens)
    store_vector(article, vector)


def store_vector(article: Article, vector: str | None) -> None:
    """Write an article's SearchDoc row (PostgreSQL; ``vector`` from build_vector)."""
    if vector is None or not _is_postgres():
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO articles_searchdoc (article_id, published_at, title, vector) VALUES (%s, %s, %s, %s::tsvector) "
            "ON CONFLICT (article_id) DO UPDATE SET published_at = EXCLUDED.published_at, title = EXCLUDED.title, "
            "vector = EXCLUDED.vector",
            [article.pk, article.published_at, article.title[:500], vector],
        )


# The GIN index of SearchDoc.vector (migration 0007). New vectors wait in its pending
# list until merge_pending runs on the maintenance queue (migration 0012).
SEARCH_INDEX = "searchdoc_vector_gin"
MERGE_AFTER_SECONDS = 10


def merge_pending() -> int:
    """Merge the search index's pending list into the index (PostgreSQL); the pages merged.
    Ingest goes on meanwhile: an INSERT only appends to the list."""
    if not _is_postgres():
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [SEARCH_INDEX])
        return cursor.fetchone()[0]


def schedule_merge() -> None:
    """Once the current transaction commits: have the maintenance queue merge the pending
    list MERGE_AFTER_SECONDS from now — one task for every fetch in those seconds, so a
    vector waits there at most that long and the ingest that stored it never merges it."""
    if _is_postgres():
        transaction.on_commit(_enqueue_merge)


def _enqueue_merge() -> None:
    from django.core.cache import cache

    from articles.tasks import merge_search_index

    try:
        if cache.add("search-merge-queued", 1, timeout=MERGE_AFTER_SECONDS):
            merge_search_index.apply_async(countdown=MERGE_AFTER_SECONDS, expires=MERGE_AFTER_SECONDS + 600)
    except Exception:  # Redis is away: the list still merges, at a vacuum or an INSERT that overfills it
        log.warning("could not queue the search index merge", exc_info=True)


def reindex(article: Article) -> None:
    """Index an article from its stored fields (tests, backfills)."""
    text = html_to_text(article.body or article.summary or "")
    index_article(article, title_tokens=search_tokens(article.title), body_tokens=search_tokens(text))


def reindex_all(batch: int = 500) -> int:
    """Rebuild every article's search vector (after a change to this module)."""
    done = 0
    last_id = 0
    while True:
        rows = list(Article.objects.filter(pk__gt=last_id).order_by("pk").only("id", "title", "body", "summary")[:batch])
        if not rows:
            return done
        for article in rows:
            reindex(article)
        done += len(rows)
        last_id = rows[-1].pk


# --- queries -------------------------------------------------------------------


@dataclass
class ParsedQuery:
    terms: list[str] = field(default_factory=list)  # what must match: words and quoted phrases

    def __bool__(self) -> bool:
        return bool(self.terms)

    @property
    def highlight(self) -> list[str]:
        return self.terms


def parse_query(q: str) -> ParsedQuery:
    """Quoted phrases stay whole; everything else is segmented by the project tokenizer."""
    q = (q or "")[:MAX_QUERY_CHARS]
    parsed = ParsedQuery()
    phrases = [next(g for g in m.groups() if g is not None).strip() for m in _PHRASE_RE.finditer(q)]
    rest = _PHRASE_RE.sub(" ", q)
    for phrase in phrases:
        if any(True for _ in _runs(phrase)) and phrase not in parsed.terms:
            parsed.terms.append(phrase)
    for chunk in rest.split():
        words = _join_unknown([w for w in segment(chunk) if any(True for _ in _runs(w))])
        # A lone particle (的, 和) next to real words narrows nothing worth a prefix scan.
        if any(len(w) > 1 for w in words):
            words = [w for w in words if not (len(w) == 1 and _HAN_CHAR_RE.match(w))]
        for word in words:
            if word not in parsed.terms:
                parsed.terms.append(word)
    parsed.terms = parsed.terms[:MAX_TERMS]
    return parsed


# Characters that stand alone in a query as grammar, not as part of a name.
_PARTICLES = frozenset("的了和与及或是在也都就而但把被对从向为之其这那个着过吗呢吧啊")


def _join_unknown(words: list[str]) -> list[str]:
    """Han characters the segmenter left one by one, side by side, are a name it does
    not know (美光 → 美|光): searched as they were typed, together, not as two
    single characters (each a prefix of half the corpus) or dropped beside a real
    word. Particles (的, 和) stay on their own."""
    out: list[str] = []
    run: list[str] = []
    for word in [*words, ""]:
        if len(word) == 1 and _HAN_CHAR_RE.match(word) and word not in _PARTICLES:
            run.append(word)
            continue
        if len(run) > 1:
            run = ["".join(run)]
        out.extend(run)
        run = []
        if word:
            out.append(word)
    return out


def query_terms(q: str) -> list[str]:
    """The words a result page highlights."""
    return parse_query(q).terms


@dataclass(frozen=True)
class _TermQuery:
    """One query term as tsquery text (see the module docstring).

    ``loose``: what the GIN index answers by itself, no positions — the term's grams
    all present (or its whole word). ``exact``: the grams as a phrase at their
    distances (or the whole word): only a row's positions tell, so checking it reads
    the row's vector. ``word``: the whole word as one lexeme, None where the term has
    none (one gram only, or spaces in it)."""

    loose: str
    exact: str
    word: str | None

    @property
    def phrase(self) -> bool:
        return self.exact != self.loose


def _term_query(term: str) -> _TermQuery | None:
    """A phrase of grams that matches exactly where the term's text occurs."""
    operands: list[tuple[int, str]] = []
    pos = 0
    for run, is_han, joined in _runs(term):
        if operands and not joined:
            pos += 1
        if is_han and len(run) > 1:
            operands.extend((pos + i, _quote(run[i : i + 2])) for i in range(len(run) - 1))
            pos += len(run) - 1
        else:
            operands.append((pos, _quote(run) + ":*"))
            pos += 1
    if not operands:
        return None
    if len(operands) == 1:
        return _TermQuery(operands[0][1], operands[0][1], None)
    phrase = operands[0][1]
    for (last, _), (p, operand) in zip(operands, operands[1:]):
        phrase = f"{phrase} <{p - last}> {operand}"
    grams = " & ".join(operand for _, operand in operands)
    word = fold_width(term).lower()
    if any(ch.isspace() for ch in word):
        return _TermQuery(f"({grams})", f"({phrase})", None)
    # The whole word as a lexeme too: vectors written without grams (older rows,
    # bulk-seeded corpora) still match on what the tokenizer cut.
    word = _quote(word)
    return _TermQuery(f"({grams} | {word})", f"({phrase} | {word})", word)


# What a result card and the search feed show (snippets need the body).
_CARD_FIELDS = ("id", "title", "summary", "body", "author", "origin_account", "published_at", "updated_at",
                "read_count", "bookmark_count", "status", "source__name", "source__slug")
_CARD_ARTICLE_FIELDS = (*(f for f in _CARD_FIELDS if "__" not in f), "source_id")


class SearchHits:
    """The ranked result of one search: article ids, best first, found in one query.

    Behaves like a list of articles for the paginator and feeds: ``len()`` is the
    number of hits (at most ``RANK_WINDOW``: the newest matches, ranked), and a
    slice loads just those articles, in rank order, with their source and tags."""

    def __init__(self, ids: list[int]):
        self.ids = ids

    def __len__(self) -> int:
        return len(self.ids)

    def count(self) -> int:
        return len(self.ids)

    def __bool__(self) -> bool:
        return bool(self.ids)

    def __iter__(self):
        return iter(self[:])

    def __getitem__(self, index):
        if isinstance(index, int):
            return self[index : index + 1][0]
        ids = self.ids[index]
        from articles.selectors import attach_tags

        by_id = {a.pk: a for a in _cards(ids)}
        return attach_tags([by_id[i] for i in ids if i in by_id])


_CARD_SOURCE_FIELDS = ("id", "name", "slug")
# Each card's source looked up by its key (LATERAL … OFFSET 0 keeps the join a nested loop): as a
# plain join the plan hashed the whole source table for a page's twenty cards (0.19 of 0.25 ms
# at 1,000 sources), as _TAG_ROWS_SQL's plan did with the tag table.
_CARD_SQL = f"""
SELECT {", ".join("a." + f for f in _CARD_ARTICLE_FIELDS)}, {", ".join("s." + f for f in _CARD_SOURCE_FIELDS)}
  FROM articles_article a
 CROSS JOIN LATERAL (SELECT {", ".join(_CARD_SOURCE_FIELDS)} FROM feeds_source WHERE id = a.source_id OFFSET 0) s
 WHERE a.id = ANY(%s::bigint[])
"""


def _cards(ids: list[int]) -> list[Article]:
    """These articles as search-result cards (with their source's name and slug); on
    PostgreSQL a statement prepared once per connection, one array parameter."""
    if not _is_postgres():
        return list(Article.objects.filter(pk__in=ids).select_related("source").only(*_CARD_FIELDS))
    from articles.selectors import cards_from_rows

    return cards_from_rows(statement_rows(_CARD_SQL, [ids]), _CARD_ARTICLE_FIELDS, _CARD_SOURCE_FIELDS)


# Hidden, pending or deleted articles are few: a partial index of just those (article_unpublished).
_UNPUBLISHED = "SELECT id FROM articles_article WHERE status <> 'published'"


def window_sql(parsed: ParsedQuery, narrow: QuerySet | None = None) -> tuple[str, list] | None:
    """PostgreSQL: SQL and parameters for (id, title) of the newest RANK_WINDOW
    published matches, newest first; None if nothing can match. ``narrow``: an
    Article queryset the matches must be in (tag/source/date filters).

    A phrase (a word of three Han characters or more, a quoted phrase, Wi-Fi) can
    only be checked against a row's positions, and that means reading its vector
    (about 7 kB, out of line): a common word's thousands of matches took 50 ms. So a
    query with phrases is split in two, each half answered by the index alone:

    * rows that hold every phrase term's whole word (the tokenizer cut it there) and
      the other terms: matches, nothing to check;
    * the other rows with all the grams (``loose & !sure``): candidates. Only these are
      checked against the phrases, newest first, and only until the window is full.

    Without phrases the loose query is exact and the index answers it whole."""
    terms = [t for t in map(_term_query, parsed.terms) if t is not None]
    if not terms:
        return None
    loose = " & ".join(t.loose for t in terms)
    if narrow is not None:
        narrow_sql, narrow_params = narrow.values("id").query.sql_with_params()
        within, within_params = f" AND article_id IN ({narrow_sql})", list(narrow_params)
    else:
        within, within_params = f" AND article_id NOT IN ({_UNPUBLISHED})", []
    order, limit = "ORDER BY published_at DESC, article_id DESC", f"LIMIT {RANK_WINDOW}"
    if not any(t.phrase for t in terms):
        return (f"SELECT article_id, title FROM articles_searchdoc WHERE vector @@ %s::tsquery{within} {order} {limit}",
                [loose, *within_params])
    exact = " & ".join(t.exact for t in terms)
    # The candidates, newest first (OFFSET 0 keeps the phrase check out of the sort: it runs
    # on the sorted rows, only until the window is full).
    checked = (f"SELECT article_id, title, published_at FROM (SELECT article_id, title, published_at, vector "
               f"FROM articles_searchdoc WHERE vector @@ %s::tsquery{within} {order} OFFSET 0) c "
               f"WHERE vector @@ %s::tsquery {limit}")
    if not all(t.word for t in terms if t.phrase):
        return f"SELECT article_id, title FROM ({checked}) w", [loose, *within_params, exact]
    sure = " & ".join(t.word if t.phrase else t.loose for t in terms)
    return (f"SELECT article_id, title FROM ((SELECT article_id, title, published_at FROM articles_searchdoc "
            f"WHERE vector @@ %s::tsquery{within} {order} {limit}) UNION ALL ({checked}) {order} {limit}) w",
            [sure, *within_params, f"{loose} & !({sure})", *within_params, exact])


def rank_by_title(parsed: ParsedQuery, rows: list[tuple[int, str]]) -> list[int]:
    """The window's ids, best first: by how many query terms the headline carries (the
    body matched already), the whole query as written scoring a little more; newest
    first among equals (``rows`` come newest first). Titles are stored normalized
    (half-width ASCII), so lower() is enough. Rows go into one bucket per score, in
    order: no sort of a thousand keys."""
    terms = [fold_width(t).lower() for t in parsed.terms]
    joined = "".join(terms) if len(terms) > 1 else ""
    buckets: dict[int, list[int]] = {}
    for article_id, title in rows:
        title = title.lower()
        score = 0
        for term in terms:
            if term in title:
                score += 2
        if joined and joined in title.replace(" ", ""):
            score += 1
        bucket = buckets.get(score)
        if bucket is None:
            bucket = buckets[score] = []
        bucket.append(article_id)
    return [article_id for score in sorted(buckets, reverse=True) for article_id in buckets[score]]


def search_articles(q: str | ParsedQuery, narrow: QuerySet | None = None, *, newest_first: bool = False) -> SearchHits:
    """Published articles matching every term: best first, or newest first.

    PostgreSQL: one query over the GIN index of the narrow SearchDoc table takes
    the newest ``RANK_WINDOW`` published matches with their titles (a news
    reader wants recent ones, and ordering a common word's tens of thousands of
    matches by relevance would read every one of their vectors); the window is
    ordered by how much of the query each headline carries, newest first among
    equals. The count, the page and the
    feed all come from that one list. ``narrow``: tag/source/date filters."""
    parsed = q if isinstance(q, ParsedQuery) else parse_query(q)
    if not parsed:
        return SearchHits([])
    if _is_postgres():
        window = window_sql(parsed, narrow)
        if window is None:
            return SearchHits([])
        sql, params = window
        # Text matches go through the GIN index, never a sequential scan (newsroom.db: prefer_index).
        if narrow is None:  # the same few statements every time: prepared once per connection
            rows = statement_rows(sql, params, prefer_index=True)
        else:
            with index_scans(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                rows = cursor.fetchall()
        return SearchHits([row[0] for row in rows] if newest_first else rank_by_title(parsed, rows))
    qs = narrow if narrow is not None else Article.objects.published()
    for term in parsed.terms:
        qs = qs.filter(Q(title__icontains=term) | Q(body__icontains=term))
    return SearchHits(list(qs.order_by("-published_at", "-id").values_list("id", flat=True)[:RANK_WINDOW]))


# --- the search form: query + filters --------------------------------------------


class SearchForm(forms.Form):
    SORTS = (("rank", "相关度"), ("new", "最新"))

    q = forms.CharField(label="关键词", required=False, max_length=MAX_QUERY_CHARS, strip=True)
    tag = forms.CharField(label="标签", required=False, max_length=100)
    source = forms.CharField(label="来源", required=False, max_length=200)
    since = forms.DateField(label="起始日期", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="截止日期", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    sort = forms.ChoiceField(label="排序", required=False, choices=SORTS)

    def clean_q(self) -> str:
        return (self.cleaned_data.get("q") or "")[:MAX_QUERY_CHARS]


@dataclass
class SearchParams:
    q: str = ""
    tag: str = ""
    source: str = ""
    since: date | None = None
    until: date | None = None
    sort: str = "rank"

    @classmethod
    def from_query_dict(cls, data) -> "SearchParams":
        """Invalid filters (a malformed date) are dropped, never an error page."""
        form = SearchForm(data)
        form.is_valid()
        clean = {k: v for k, v in form.cleaned_data.items() if k not in form.errors}
        if data.get("q") and "q" not in clean:
            clean["q"] = str(data.get("q"))[:MAX_QUERY_CHARS].strip()
        return cls(
            q=clean.get("q") or "",
            tag=clean.get("tag") or "",
            source=clean.get("source") or "",
            since=clean.get("since"),
            until=clean.get("until"),
            sort=clean.get("sort") or "rank",
        )

    @property
    def has_filters(self) -> bool:
        return bool(self.tag or self.source or self.since or self.until)


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def filtered_search(params: SearchParams, base: QuerySet | None = None) -> SearchHits:
    """Search with the tag / source / date filters applied (all optional)."""
    qs = base if base is not None else Article.objects.published()
    narrowed = base is not None or params.has_filters
    if params.tag:
        qs = qs.filter(tags__slug=params.tag)
    if params.source:
        qs = qs.filter(source__slug=params.source)
    if params.since:
        qs = qs.filter(published_at__gte=_day_start(params.since))
    if params.until:
        qs = qs.filter(published_at__lt=_day_start(params.until + timedelta(days=1)))
    return search_articles(params.q, qs if narrowed else None, newest_first=params.sort == "new")
