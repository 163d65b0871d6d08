"""Follows (tags, sources), /me/ stream, bookmarks: stored counts, JSON and form toggles, rate limits."""
from __future__ import annotations

from urllib.parse import quote

import pytest

from articles.models import Article, Bookmark, SourceFollow, Tag
from feeds.models import Source
from tests.conftest import card_ids
from tests.readers.conftest import make_source, store

pytestmark = pytest.mark.django_db


def test_me_streams_followed_tags_and_sources_newest_first(client, reader):
    chips = make_source("芯片快讯", "chips", tags="芯片")
    phones = make_source("手机快讯", "phones", tags="手机")
    cars = make_source("汽车快讯", "cars", tags="汽车")
    old_chip = store(chips, "芯片旧闻", "正文。", hours_ago=10)
    new_chip = store(chips, "芯片新闻", "正文。", hours_ago=1)
    phone = store(phones, "手机新闻", "正文。", hours_ago=5)
    store(cars, "汽车新闻", "正文。", hours_ago=2)

    assert "还没有关注标签" in client.get("/me/").content.decode()
    tag = Tag.objects.get(name="芯片")
    assert client.post(f"/tags/{quote(tag.slug)}/follow/", {"action": "follow"}).status_code == 302
    response = client.post("/sources/phones/follow/", {"action": "follow", "next": "/me/"})
    assert response.status_code == 302 and response["Location"] == "/me/"

    page = client.get("/me/")
    assert card_ids(page.content) == [new_chip.pk, phone.pk, old_chip.pk]
    html = page.content.decode()
    assert '<a class="chip small source" href="/sources/phones/">手机快讯</a>' in html
    assert Source.objects.get(slug="phones").followers_count == 1
    assert Tag.objects.get(pk=tag.pk).followers_count == 1

    # The source page shows the stored count and an accessible unfollow button.
    html = client.get("/sources/phones/").content.decode()
    assert '关注 <span class="followers" data-followers>1</span>' in html
    assert 'aria-label="取消关注 手机快讯"' in html and 'aria-pressed="true"' in html
    client.post("/sources/phones/follow/", {"action": "unfollow"})
    client.post("/sources/phones/follow/", {"action": "unfollow"})  # twice: never negative
    assert Source.objects.get(slug="phones").followers_count == 0
    assert not SourceFollow.objects.exists()


def test_json_toggles_for_javascript(client, reader, source):
    a = store(source, "可收藏的文章", "正文。")
    r = client.post(f"/articles/{a.pk}/bookmark/", {"action": "add"}, HTTP_ACCEPT="application/json")
    assert r.json() == {"bookmarked": True, "bookmarks": 1}
    r = client.post("/sources/chips/follow/", {"action": "follow"}, HTTP_ACCEPT="application/json")
    assert r.json() == {"following": True, "followers": 1}
    html = client.get("/me/bookmarks/").content.decode()
    assert "可收藏的文章" in html and "收藏 1" in html
    r = client.post(f"/articles/{a.pk}/bookmark/", {"action": "remove"}, HTTP_ACCEPT="application/json")
    assert r.json() == {"bookmarked": False, "bookmarks": 0}
    assert not Bookmark.objects.exists()
    assert "还没有收藏文章" in client.get("/me/bookmarks/").content.decode()


def test_bookmarks_newest_first(client, reader, source):
    first = store(source, "先收藏", "正文。", hours_ago=1)
    second = store(source, "后收藏", "正文。", hours_ago=9)
    client.post(f"/articles/{first.pk}/bookmark/", {"action": "add"})
    client.post(f"/articles/{second.pk}/bookmark/", {"action": "add"})
    assert card_ids(client.get("/me/bookmarks/").content) == [second.pk, first.pk]


def test_article_page_shows_the_readers_follows_with_working_forms(client, reader):
    chips = make_source("芯片快讯", "chips", tags="芯片")
    a = store(chips, "芯片文章", "正文。")
    tag = Tag.objects.get(name="芯片")
    html = client.get(f"/articles/{a.pk}/").content.decode()
    assert 'aria-label="关注 芯片"' in html and 'aria-label="关注 芯片快讯"' in html

    client.post(f"/tags/{quote(tag.slug)}/follow/", {"action": "follow"})
    client.post("/sources/chips/follow/", {"action": "follow"})
    html = client.get(f"/articles/{a.pk}/").content.decode()
    # Each chip: a POST form with its CSRF token, back to this page, the button saying what it undoes.
    for form_action, label in ((f"/tags/{quote(tag.slug)}/follow/", "取消关注 芯片"), ("/sources/chips/follow/", "取消关注 芯片快讯")):
        form = html.split(f'<form method="post" action="{form_action}"', 1)[1].split("</form>", 1)[0]
        assert 'name="csrfmiddlewaretoken"' in form
        assert f'<input type="hidden" name="next" value="/articles/{a.pk}/">' in form
        assert '<input type="hidden" name="action" value="unfollow">' in form and f'aria-label="{label}"' in form
    comment_form = html.split(f'action="/articles/{a.pk}/comments/" class="comment-form">', 1)[1].split("</form>", 1)[0]
    assert 'name="csrfmiddlewaretoken"' in comment_form


def test_anonymous_readers_are_sent_to_log_in(client, source):
    a = store(source, "文章", "正文。")
    for url in (f"/articles/{a.pk}/bookmark/", "/sources/chips/follow/", f"/articles/{a.pk}/comments/"):
        response = client.post(url, {"action": "add"})
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.get("/me/").status_code == 302
    assert client.get(f"/articles/{a.pk}/bookmark/").status_code == 405
    html = client.get(f"/articles/{a.pk}/").content.decode()
    assert 'aria-label="登录后收藏"' in html and 'aria-label="登录后关注 芯片快讯"' in html
    assert f'href="/accounts/login/?next=/articles/{a.pk}/%23comments">登录</a>后参与评论' in html
    assert f'href="/accounts/login/?next=/articles/{a.pk}/" aria-label="登录后关注 芯片快讯"' in html


def test_unknown_things_are_404(client, reader):
    assert client.post("/sources/nope/follow/").status_code == 404
    assert client.post("/tags/nope/follow/").status_code == 404
    assert client.post("/articles/999999/bookmark/").status_code == 404
    pending = Article.objects.create(source=make_source(), guid="p", guid_hash="p" * 40, title="待审",
                                     status=Article.Status.PENDING)
    assert client.post(f"/articles/{pending.pk}/bookmark/").status_code == 404


def test_toggles_are_rate_limited(client, reader, source, steady_clock):
    a = store(source, "文章", "正文。")
    codes = [client.post(f"/articles/{a.pk}/bookmark/", {"action": "add"}, HTTP_ACCEPT="application/json").status_code
             for _ in range(61)]
    assert codes[:60] == [200] * 60 and codes[60] == 429
    r = client.post(f"/articles/{a.pk}/bookmark/", {"action": "add"}, HTTP_ACCEPT="application/json")
    assert r.json() == {"error": "操作太频繁，请稍后再试。"} and int(r["Retry-After"]) > 0


def test_a_burst_across_a_window_boundary_is_limited_like_any_other(rf, monkeypatch):
    from types import SimpleNamespace

    from django.contrib.auth.models import AnonymousUser

    from newsroom import ratelimit

    request = rf.post("/x/", REMOTE_ADDR="203.0.113.9")
    request.user = AnonymousUser()
    clock = SimpleNamespace(time=lambda: 0.0)
    monkeypatch.setattr(ratelimit, "time", clock)
    allowed = []
    for now in (1_800_000_058.0, 1_800_000_059.0, 1_800_000_059.5, 1_800_000_060.5, 1_800_000_061.0, 1_800_000_062.0):
        clock.time = lambda now=now: now  # three hits before the minute turns, three after
        allowed.append(ratelimit.hit("boundary-test", request, limit=5, window_seconds=60)[0])
    assert allowed == [True] * 5 + [False]  # a fixed window would have allowed all six
    clock.time = lambda: 1_800_000_060.0 + 120  # two windows later: nothing weighs any more
    assert ratelimit.hit("boundary-test", request, limit=5, window_seconds=60)[0]


def test_a_cache_outage_never_blocks_anyone(rf, monkeypatch):
    from django.contrib.auth.models import AnonymousUser

    from newsroom import ratelimit

    class Down:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise ConnectionError("cache unreachable")
            return fail

    monkeypatch.setattr(ratelimit, "cache", Down())
    request = rf.post("/x/", REMOTE_ADDR="203.0.113.10")
    request.user = AnonymousUser()
    assert all(ratelimit.hit("outage-test", request, limit=1, window_seconds=60)[0] for _ in range(5))


def test_login_and_signup_are_rate_limited(client, steady_clock):
    for _ in range(10):
        assert client.post("/accounts/login/", {"username": "x", "password": "wrong"}).status_code == 200
    r = client.post("/accounts/login/", {"username": "x", "password": "wrong"})
    assert r.status_code == 429 and "操作太频繁" in r.content.decode()
    assert client.get("/accounts/login/").status_code == 200  # showing the form is never limited
    for i in range(5):
        client.post("/accounts/signup/", {"username": f"u{i}", "password1": "x", "password2": "y"})
    assert client.post("/accounts/signup/", {"username": "u9"}).status_code == 429


def test_the_stream_merges_followed_tags_and_sources_as_the_plain_query_does(client, django_user_model):
    """/me/ on PostgreSQL merges the heads of each followed tag's timeline and source's list:
    the same articles in the same order as the plain OR over the whole list, page by page,
    with overlaps (an article in two followed tags, or in a followed tag and source) once."""
    import random

    from articles import selectors
    from articles.interactions import source_follow
    from articles.tags import tag_follow

    rng = random.Random(11)
    user = django_user_model.objects.create_user("liu", password="pw-liu-12345")
    sources = [make_source(f"源{i}", f"src-{i}") for i in range(3)]
    tags = [Tag.objects.create(name=f"话题{i}", slug=f"topic-{i}") for i in range(4)]
    for i in range(60):
        a = store(rng.choice(sources), f"关注流文章{i}", f"关注流正文{i}。", hours_ago=rng.uniform(0, 300))
        a.tags.add(*rng.sample(tags, rng.randint(0, 2)))
    Article.objects.filter(pk__in=list(Article.objects.values_list("pk", flat=True)[:5])).update(pinned=True)
    for tag in tags[:2]:
        tag_follow(user=user, tag=tag)
    source_follow(user=user, source=sources[0])
    reference = list(selectors.stream_for(user).values_list("id", flat=True))
    stream = selectors.stream_articles(user)
    got = [a.pk for start in range(0, len(reference) + 20, 20) for a in stream[start : start + 20]]
    assert got == reference and len(reference) > 20
    assert stream.count() == len(reference)

    # The page: its second page lists the 21st article on; a follow changes the page count at once.
    client.force_login(user)
    html = client.get("/me/?page=2").content.decode()
    assert Article.objects.get(pk=reference[20]).title in html
    pages = -(-len(reference) // 20)
    assert f"第 2 / {pages} 页" in html
    client.post(f"/tags/{tags[2].slug}/follow/", {"action": "follow"})
    more = len(selectors.stream_for(user))
    assert more > len(reference) and f"第 1 / {-(-more // 20)} 页" in client.get("/me/").content.decode()
