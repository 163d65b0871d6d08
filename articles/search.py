"""Chinese full-text search.

PostgreSQL: text segmented by our tokenizer, joined with spaces, stored in a
`simple` tsvector (title weight A, body weight B) with a GIN index; queries are
segmented the same way and every term must match (AND), ranked by ts_rank.
SQLite (the embedded default): the same segmented text in `search_text`,
matched term by term with LIKE — slower, same recall.
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import F, QuerySet

from articles.models import Article
from articles.text.tokenizer import search_tokens


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def index_article(article: Article, *, title_tokens: list[str], body_tokens: list[str]) -> None:
    title_text = " ".join(title_tokens)
    body_text = " ".join(body_tokens)
    search_text = f"{title_text} {body_text}"
    Article.objects.filter(pk=article.pk).update(search_text=search_text)
    if _is_postgres():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE articles_article SET search_vector = "
                "setweight(to_tsvector('simple', %s), 'A') || setweight(to_tsvector('simple', %s), 'B') "
                "WHERE id = %s",
                [title_text, body_text, article.pk],
            )


def query_terms(q: str) -> list[str]:
    seen: list[str] = []
    for token in search_tokens(q):
        if token not in seen:
            seen.append(token)
    return seen[:12]


def _tsquery(terms: list[str]) -> str:
    # Each term quoted as a lexeme; tokens never contain quotes after escaping.
    return " & ".join("'" + t.replace("'", "''").replace("\\", "") + "'" for t in terms)


def search_articles(q: str, base: QuerySet | None = None) -> QuerySet:
    terms = query_terms(q)
    qs = base if base is not None else Article.objects.published()
    if not terms:
        return qs.none()
    if _is_postgres():
        query = SearchQuery(_tsquery(terms), search_type="raw", config="simple")
        return (
            qs.filter(search_vector=query)
            .annotate(rank=SearchRank(F("search_vector"), query))
            .order_by("-rank", "-published_at")
        )
    for term in terms:
        qs = qs.filter(search_text__icontains=term)
    return qs.order_by("-published_at")
