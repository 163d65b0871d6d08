"""manage.py seed_corpus: a consistent corpus, indexed as ingest would, re-runnable."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, Q, Sum

from articles.models import Article, Bookmark, Tag, TagFollow, TaggedArticle
from articles.search import build_vector, search_articles
from articles.text.sanitize import html_to_text
from articles.text.tokenizer import search_tokens
from feeds.models import Source

REPO = Path(__file__).resolve().parents[2]
SEEDED = Q(source__url__contains="seed.newsroom.invalid")


@pytest.mark.django_db(transaction=True)
def test_seed_corpus_is_consistent_and_rerunnable():
    call_command("seed_corpus", articles=3000, processes=2, stdout=open(os.devnull, "w"))
    assert Article.objects.filter(SEEDED).count() == 3000
    assert Tag.objects.filter(description="seed_corpus").count() == 60
    assert Source.objects.filter(url__contains="seed.newsroom.invalid").count() == 30

    # Stored stats equal the rows.
    for tag in Tag.objects.filter(description="seed_corpus").order_by("-articles_count")[:10]:
        rows = TaggedArticle.objects.filter(tag=tag)
        assert tag.articles_count == rows.filter(content_object__status="published").count()
        assert tag.followers_count == TagFollow.objects.filter(tag=tag).count()
        assert tag.views_count == (rows.aggregate(n=Sum("content_object__read_count"))["n"] or 0)
    for source in Source.objects.filter(url__contains="seed.newsroom.invalid")[:5]:
        assert source.article_count == source.articles.filter(status="published").count()
    marked = Article.objects.annotate(n=Count("bookmarks")).filter(n__gt=0)[:20]
    assert marked and all(a.bookmark_count == a.n for a in marked)
    assert Bookmark.objects.exists()

    # The vector is exactly what articles.search.index_article stores.
    article = Article.objects.filter(SEEDED).order_by("id")[1234]
    vector = build_vector(title=article.title, body_text=html_to_text(article.body),
                          title_tokens=search_tokens(article.title), body_tokens=search_tokens(html_to_text(article.body)))
    with connection.cursor() as cursor:
        cursor.execute("SELECT vector = %s::tsvector, published_at FROM articles_searchdoc WHERE article_id = %s",
                       [vector, article.pk])
        same, published_at = cursor.fetchone()
    assert same is True and published_at == article.published_at
    found = search_articles(" ".join(search_tokens(article.title)[:2]))
    assert article.pk in found.ids

    # Same N again: nothing changes. --reset: rebuilt, still consistent.
    first_ids = set(Article.objects.filter(SEEDED).values_list("id", flat=True))
    call_command("seed_corpus", articles=3000, stdout=open(os.devnull, "w"))
    assert set(Article.objects.filter(SEEDED).values_list("id", flat=True)) == first_ids
    call_command("seed_corpus", articles=500, reset=True, processes=1, stdout=open(os.devnull, "w"))
    assert Article.objects.filter(SEEDED).count() == 500
    assert not Article.objects.filter(pk__in=first_ids).exists()
    assert TaggedArticle.objects.filter(content_object__in=Article.objects.filter(SEEDED)).count() >= 500


def test_seed_corpus_on_sqlite(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "newsroom.settings.local",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'seed.sqlite3'}", "REDIS_URL": "",
           "NEWSROOM_VAR_DIR": str(tmp_path / "var")}
    run = lambda *args: subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env,  # noqa: E731
                                       capture_output=True, text=True, timeout=300)
    assert run("migrate", "--noinput", "-v", "0").returncode == 0
    seeded = run("seed_corpus", "--articles", "120")
    assert seeded.returncode == 0, seeded.stderr
    check = run("shell", "-c", "from articles.models import Article, Tag; from articles.search import search_articles; "
                               "print(Article.objects.count(), Tag.objects.filter(articles_count__gt=0).count(), "
                               "search_articles('大模型').count() > 0)")
    assert check.returncode == 0, check.stderr
    articles, tags_used, searchable = check.stdout.split()[-3:]
    assert articles == "120" and int(tags_used) > 0 and searchable == "True"
