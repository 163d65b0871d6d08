"""Exact duplicates through the real flow: the same article (source + guid, or
the same canonical URL) is updated, never stored twice; deleted stays deleted."""
from __future__ import annotations

import re

import pytest

from articles.models import Article
from tests.articles.e2e import article_body, fetch, item, make_source, page, serve_feed, text_of

pytestmark = pytest.mark.django_db

LINK = "https://news.example.cn/2025/11/chip.html"
FIRST = "<p>国产推理芯片完成流片，首批样片已经交付合作伙伴进行测试，预计明年量产。</p>"
SECOND = "<p>国产推理芯片完成流片，首批样片已经交付合作伙伴进行测试，预计明年上半年量产并开始供货。</p>"


def test_tracking_params_and_new_guid_update_the_same_article(feed_server, client):
    source = make_source(serve_feed(feed_server, "/f.xml", [item("国产推理芯片完成流片", FIRST, link=LINK, guid="g-1")]))
    assert fetch(source)["new"] == 1

    # The feed re-publishes the story with a new guid and a tracked link, and edits the text.
    tracked = LINK + "?utm_source=rss&utm_medium=feed&utm_campaign=daily&spm=a1.b2"
    serve_feed(feed_server, "/f.xml", [item("国产推理芯片完成流片", SECOND, link=tracked, guid="g-2")])
    outcome = fetch(source)
    assert outcome["new"] == 0 and outcome["updated"] == 1
    article = Article.objects.get()
    assert article.canonical_url == LINK
    assert "上半年量产" in text_of(article_body(page(client, f"/articles/{article.pk}/")))

    # Another source carrying the same canonical URL is the same article, not a second card.
    other = make_source(serve_feed(feed_server, "/o.xml", [
        item("转：国产推理芯片完成流片", SECOND, link=LINK + "?from=timeline&utm_source=wechat", guid="o-1"),
    ]), name="聚合站")
    assert fetch(other)["new"] == 0
    assert Article.objects.count() == 1
    assert page(client, "/").count('class="card"') == 1


def test_refetch_with_changed_content_updates_not_duplicates(feed_server, client):
    url = serve_feed(feed_server, "/f.xml", [item("国产推理芯片完成流片", FIRST, link=LINK)])
    source = make_source(url)
    fetch(source)
    article = Article.objects.get()
    assert fetch(source)["updated"] == 0  # same bytes: nothing to do

    serve_feed(feed_server, "/f.xml", [item("国产推理芯片完成流片并交付样片", SECOND, link=LINK)])
    outcome = fetch(source)
    assert outcome["updated"] == 1 and outcome["new"] == 0
    assert Article.objects.count() == 1
    html = page(client, f"/articles/{article.pk}/")
    assert "国产推理芯片完成流片并交付样片" in html and "上半年量产" in html


def test_article_deleted_by_editor_stays_deleted(feed_server, client, django_user_model):
    url = serve_feed(feed_server, "/f.xml", [item("国产推理芯片完成流片", FIRST, link=LINK, guid="g-1")])
    source = make_source(url)
    fetch(source)
    article = Article.objects.get()

    editor = django_user_model.objects.create_superuser("editor", "e@example.cn", "pw-editor-123")
    client.force_login(editor)
    response = client.post("/admin/articles/article/", {"action": "soft_delete", "_selected_action": [article.pk]})
    assert response.status_code == 302
    # The admin's own delete keeps the row too (a removed row would come back on the next fetch).
    response = client.post(f"/admin/articles/article/{article.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    article.refresh_from_db()
    assert article.status == Article.Status.DELETED
    client.logout()

    # Re-fetch: same guid with new text, and a new guid with a tracked link — still deleted, still one row.
    serve_feed(feed_server, "/f.xml", [
        item("国产推理芯片完成流片", SECOND, link=LINK, guid="g-1"),
        item("国产推理芯片完成流片", SECOND, link=LINK + "?utm_source=x", guid="g-9"),
    ])
    outcome = fetch(source)
    assert outcome["new"] == 0 and outcome["updated"] == 0
    assert Article.objects.count() == 1
    article.refresh_from_db()
    assert article.status == Article.Status.DELETED and "上半年" not in article.body
    assert client.get(f"/articles/{article.pk}/").status_code == 404
    assert "国产推理芯片" not in page(client, "/")


# --- near-duplicates across sources (reposts) -----------------------------------------


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{line}</p>" for line in text.splitlines() if line.strip())


def test_reposts_from_three_sources_are_one_story(feed_server, client):
    from articles.models import Tag
    from tests.articles.fixtures.reposts import EARNINGS, REPOST_ITHOME, REPOST_PORTAL, REPOST_WECHAT, RIVAL_CHIP

    feeds = [
        ("IT之家", "/ithome.xml", [item("英伟达推出新一代数据中心推理平台，性能提升 30 倍", _paragraphs(REPOST_ITHOME),
                                         link="https://www.ithome.example/0/800/001.htm")]),
        ("芯视界", "/wechat.xml", [
            item("重磅！英伟达新推理平台来了", _paragraphs(REPOST_WECHAT), link="https://mp.weixin.qq.com/s/abc111"),
            item("英伟达第三财季营收创新高", _paragraphs(EARNINGS), link="https://mp.weixin.qq.com/s/abc222", minutes=5),
        ]),
        ("电子发烧友", "/portal.xml", [
            item("英伟达发布新一代推理平台：单机柜 72 颗 GPU", _paragraphs(REPOST_PORTAL),
                 link="https://www.elecfans.example/d/9001.html"),
            item("AMD 发布新一代 Instinct 推理加速卡", _paragraphs(RIVAL_CHIP),
                 link="https://www.elecfans.example/d/9002.html", minutes=10),
        ]),
    ]
    sources = {}
    for name, path, items in feeds:  # one at a time: the first copy fetched roots the story
        sources[name] = make_source(serve_feed(feed_server, path, items, title=name), name=name)
        fetch(sources[name])

    root = Article.objects.get(source=sources["IT之家"])
    wechat = Article.objects.get(url="https://mp.weixin.qq.com/s/abc111")
    portal = Article.objects.get(url="https://www.elecfans.example/d/9001.html")
    earnings = Article.objects.get(url="https://mp.weixin.qq.com/s/abc222")
    rival = Article.objects.get(url="https://www.elecfans.example/d/9002.html")
    assert root.story_id is None and wechat.story_id == root.pk and portal.story_id == root.pk
    assert earnings.story_id is None and rival.story_id is None  # same topic, different stories
    assert Article.objects.filter(story_id__in=[earnings.pk, rival.pk]).count() == 0

    # Lists show the story once.
    home = page(client, "/")
    assert home.count('<li class="card">') == 3
    assert root.title in home and wechat.title not in home and portal.title not in home
    assert earnings.title in home and rival.title in home
    nvidia = Tag.objects.get(name="NVIDIA")
    tag_html = page(client, f"/tags/{nvidia.slug}/")
    assert root.title in tag_html and wechat.title not in tag_html and portal.title not in tag_html

    # The article page names the other two sources under "also reported by".
    html = page(client, f"/articles/{root.pk}/")
    also = re.search(r'<section class="also"[^>]*>(.*?)</section>', html, re.S).group(1)
    assert wechat.title in also and portal.title in also and "芯视界" in also and "电子发烧友" in also
    assert earnings.title not in also and rival.title not in also
    also = re.search(r'<section class="also"[^>]*>(.*?)</section>', page(client, f"/articles/{wechat.pk}/"), re.S).group(1)
    assert root.title in also and portal.title in also and wechat.title not in also
    assert '<section class="also"' not in page(client, f"/articles/{earnings.pk}/")


def test_story_survives_its_first_copy_being_hidden(feed_server, client, django_user_model):
    from tests.articles.fixtures.reposts import REPOST_ITHOME, REPOST_PORTAL, REPOST_WECHAT

    copies = [("IT之家", REPOST_ITHOME), ("芯视界", REPOST_WECHAT), ("电子发烧友", REPOST_PORTAL)]
    for i, (name, text) in enumerate(copies):
        source = make_source(serve_feed(feed_server, f"/{i}.xml", [
            item(f"英伟达新推理平台（{name}）", _paragraphs(text), link=f"https://s{i}.example.cn/a")]), name=name)
        fetch(source)
    root, second, third = Article.objects.order_by("id")
    assert (second.story_id, third.story_id) == (root.pk, root.pk)

    editor = django_user_model.objects.create_superuser("editor", "e@example.cn", "pw-editor-123")
    client.force_login(editor)
    assert client.post("/admin/articles/article/", {"action": "hide", "_selected_action": [root.pk]}).status_code == 302
    client.logout()

    home = page(client, "/")
    assert home.count('<li class="card">') == 1 and second.title in home  # the story is still on the site, once
    also = re.search(r'<section class="also"[^>]*>(.*?)</section>', page(client, f"/articles/{second.pk}/"), re.S).group(1)
    assert third.title in also and root.title not in also


def test_copies_that_missed_each_other_join_their_story_once_both_are_stored(feed_server, client, monkeypatch):
    """Feeds fetched at the same moment each look up near-duplicates before the others'
    rows are committed, and each store their copy as a story of its own. The related
    refresh that follows every fetch folds the newer copies into the oldest one's story."""
    from articles import ingest as ingest_module
    from tests.articles.fixtures.reposts import REPOST_ITHOME, REPOST_PORTAL, REPOST_WECHAT

    # What a fetch running alongside the others sees: none of their copies yet.
    monkeypatch.setattr(ingest_module._Batch, "_load_story_candidates", lambda self, prepared: [])
    copies = [("IT之家", REPOST_ITHOME), ("芯视界", REPOST_WECHAT), ("电子发烧友", REPOST_PORTAL)]
    for i, (name, text) in enumerate(copies):
        source = make_source(serve_feed(feed_server, f"/at-once-{i}.xml", [
            item(f"英伟达新推理平台（{name}）", _paragraphs(text), link=f"https://s{i}.example.cn/a")]), name=name)
        outcome = fetch(source)  # manage.py fetch: the related refresh runs before it returns
        assert outcome["new"] == 1 and outcome["duplicate"] == 0  # ingest itself found no story
    root, second, third = Article.objects.order_by("id")
    assert root.story_id is None and (second.story_id, third.story_id) == (root.pk, root.pk)
    home = page(client, "/")
    assert home.count('<li class="card">') == 1 and root.title in home
    also = re.search(r'<section class="also"[^>]*>(.*?)</section>', page(client, f"/articles/{root.pk}/"), re.S).group(1)
    assert second.title in also and third.title in also


def test_a_late_fold_keeps_ingests_rule_same_source_copies_and_hidden_roots_stay_out(feed_server, monkeypatch):
    """The fold after the fact finds what ingest would have found, and only that: copies
    from the same source stay stories of their own, and a hidden copy carries no story."""
    from articles import ingest as ingest_module
    from articles.ingest import stories_reconcile
    from tests.articles.fixtures.reposts import REPOST_ITHOME, REPOST_PORTAL, REPOST_WECHAT

    monkeypatch.setattr(ingest_module._Batch, "_load_story_candidates", lambda self, prepared: [])
    both = make_source(serve_feed(feed_server, "/both.xml", [
        item("英伟达新推理平台（一）", _paragraphs(REPOST_ITHOME), link="https://x.example.cn/1", minutes=10),
        item("英伟达新推理平台（二）", _paragraphs(REPOST_WECHAT), link="https://x.example.cn/2"),
    ]), name="合集")
    fetch(both)
    first, second = Article.objects.order_by("id")
    assert first.story_id is None and second.story_id is None  # one source's two copies: ingest's rule too
    assert stories_reconcile([first.pk, second.pk]) == set()

    Article.objects.filter(pk=first.pk).update(status=Article.Status.HIDDEN)
    other = make_source(serve_feed(feed_server, "/other.xml", [
        item("英伟达新推理平台（转载）", _paragraphs(REPOST_PORTAL), link="https://y.example.cn/1")]), name="转载站")
    fetch(other)
    late = Article.objects.get(source=other)
    assert late.story_id == second.pk  # the oldest *published* copy of another source
    assert stories_reconcile([late.pk]) == set()  # folded once; nothing left to do
