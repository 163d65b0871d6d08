"""Query-count guards: pages cost the same whatever the number of articles, tags or related posts."""
from __future__ import annotations

from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from articles.models import Article, RelatedArticle, TaggedArticle
from articles.tags import tag_follow, tag_get_or_create
from feeds.models import Source

pytestmark = pytest.mark.django_db


@pytest.fixture
def corpus():
    source = Source.objects.create(name="测试源", slug="test-source", url="https://example.com/feed.xml")
    tags = [tag_get_or_create(name=n) for n in ["开源", "模型", "NVIDIA", "GPU", "芯片", "推理", "手机", "AI"]]
    articles = []
    for i in range(30):
        a = Article.objects.create(source=source, guid=f"g{i}", guid_hash=f"{i:040d}", title=f"文章 {i}",
                                   summary="摘要", body="<p>正文</p>", published_at=timezone.now())
        TaggedArticle.objects.bulk_create([TaggedArticle(content_object=a, tag=t) for t in tags[i % 3: i % 3 + 5]])
        articles.append(a)
    for other in articles[1:7]:
        RelatedArticle.objects.create(article=articles[0], related=other, score=1.0, shared_words=["文章"])
    return source, tags, articles


@pytest.fixture
def reader(client):
    user = get_user_model().objects.create_user("q", password="pw-q-12345")
    client.force_login(user)
    return user


@pytest.mark.parametrize("logged_in", [False, True])
def test_page_query_counts(client, corpus, django_assert_max_num_queries, logged_in, request):
    source, tags, articles = corpus
    from articles.models import Comment
    from articles.search import reindex

    for a in articles:
        reindex(a)
    if logged_in:
        user = request.getfixturevalue("reader")
        tag_follow(user=user, tag=tags[0])
        for n in range(5):  # comment threads: replies are prefetched, not queried per comment
            top = Comment.objects.create(article=articles[0], user=user, body=f"评论{n}")
            Comment.objects.create(article=articles[0], user=user, body=f"回复{n}", parent=top)
    q = quote("文章")
    pages = {
        "/": 10,
        f"/articles/{articles[0].pk}/": 16,
        f"/tags/{quote(tags[0].slug)}/": 10,
        f"/sources/{source.slug}/": 10,
        "/tags/": 6,
        "/hot/": 8,
        "/feeds/latest.xml": 6,
        f"/tags/{quote(tags[0].slug)}/feed.xml": 6,
        "/sitemap.xml": 6,
        "/hot/?window=7d": 8,
        # Search: + SAVEPOINT, two SET LOCALs and RELEASE that keep text matches on the GIN index
        # (newsroom.db.index_scans). Outside a test's transaction the SET LOCAL goes in the same
        # pipeline as the statement (statement_rows(prefer_index=True)): no statement of its own.
        f"/search/?q={q}": 14,
        f"/search/?q={q}&tag={quote(tags[0].slug)}&source={source.slug}&since=2020-01-01&sort=new": 16,
        f"/search/feed.xml?q={q}": 10,
        "/search/": 6,
        "/accounts/login/": 4,
        "/accounts/signup/": 4,
    }
    if logged_in:
        pages.update({"/me/": 12, "/me/bookmarks/": 10})
        del pages["/accounts/login/"], pages["/accounts/signup/"]  # logged in: redirected away
    for url, limit in pages.items():
        with django_assert_max_num_queries(limit):
            assert client.get(url).status_code == 200, url
