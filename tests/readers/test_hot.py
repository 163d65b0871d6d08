"""热点推荐 and /hot/: reads counted once per visitor per window in Redis,
bookmarks weigh 3 reads, flushed to PostgreSQL."""
from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from articles import counters
from articles.models import Article, Tag
from tests.readers.conftest import make_source, store
from tests.conftest import page_text

pytestmark = pytest.mark.django_db


def hot_titles(client, window="24h") -> list[str]:
    # The merged hot list is cached for a minute (counters.hot_article_ids): let that minute pass.
    client_redis = counters.redis_client()
    for key in client_redis.scan_iter("nr:hotunion:*"):
        client_redis.delete(key)
    html = client.get("/hot/", {"window": window} if window != "24h" else {}).content.decode()
    block = re.search(r'<ol class="cards hotpage">(.*?)</ol>', html, re.S).group(1)
    return re.findall(r'<h2 class="card-title"><a href="/articles/\d+/">([^<]+)</a>', block)


def test_reads_rank_the_hot_list_and_refreshing_does_not_count(client):
    source = make_source(tags="芯片")
    quiet = store(source, "冷门文章", "没人看。", hours_ago=1)
    popular = store(source, "热门文章", "很多人看。", hours_ago=2)
    middling = store(source, "一般文章", "有人看。", hours_ago=3)
    for _ in range(3):
        Client().get(f"/articles/{popular.pk}/")
    reader = Client()
    for _ in range(5):  # one visitor refreshing: one read
        reader.get(f"/articles/{middling.pk}/")
    assert counters.pending_reads([popular.pk, middling.pk]) == {popular.pk: 3, middling.pk: 1}

    assert hot_titles(client)[:2] == ["热门文章", "一般文章"]
    assert "冷门文章" not in hot_titles(client)
    # The sidebar on the home page shows the same order with counts.
    html = client.get("/").content.decode()
    side = re.search(r'<ol class="hotlist">(.*?)</ol>', html, re.S).group(1)
    assert re.search(r"热门文章 阅读 3 .*一般文章 阅读 1", page_text(side))

    # Flushed to PostgreSQL: stored counts (and the tag's views) move, nothing double-counted.
    assert counters.flush_reads() == 4
    assert Article.objects.get(pk=popular.pk).read_count == 3
    assert Tag.objects.get(name="芯片").views_count == 4
    assert counters.pending_reads([popular.pk]) == {}
    html = client.get(f"/articles/{popular.pk}/").content.decode()
    assert "阅读 4" in page_text(html)  # + this visitor


def test_bookmarks_add_to_hotness(client):
    source = make_source()
    read_once = store(source, "读过一次", "正文。", hours_ago=1)
    bookmarked = store(source, "被收藏的", "正文。", hours_ago=2)
    for _ in range(2):
        Client().get(f"/articles/{read_once.pk}/")
    user = get_user_model().objects.create_user("fan", password="pw-fan-12345")
    client.force_login(user)
    client.post(f"/articles/{bookmarked.pk}/bookmark/", {"action": "add"})
    client.post(f"/articles/{bookmarked.pk}/bookmark/", {"action": "add"})  # twice: still one bookmark
    assert Article.objects.get(pk=bookmarked.pk).bookmark_count == 1
    # 1 bookmark (= 3 reads) beats 2 reads.
    assert hot_titles(client)[:2] == ["被收藏的", "读过一次"]


def test_seven_day_window_and_bad_window(client):
    source = make_source()
    a = store(source, "本周文章", "正文。", hours_ago=1)
    Client().get(f"/articles/{a.pk}/")
    assert hot_titles(client, "7d") == ["本周文章"]
    html = client.get("/hot/?window=7d").content.decode()
    assert '<a href="/hot/?window=7d" aria-current="page">7 天</a>' in html
    assert client.get("/hot/?window=1y").status_code == 404


def test_quiet_window_falls_back_to_stored_counts(client):
    source = make_source()
    store(source, "旧热文", "正文。", hours_ago=2)
    Article.objects.filter(title="旧热文").update(read_count=123456)
    assert hot_titles(client) == ["旧热文"]
    assert "阅读 12.3万" in page_text(client.get("/hot/").content)
