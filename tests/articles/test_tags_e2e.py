"""Tags through the real flow: aliases join spellings, names are normalized
before creation, editors' aliases / rules / merges take effect on pages."""
from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from django.test import Client

from articles import counters
from articles.models import Article, Tag, TagAlias, TagFollow
from tests.articles.e2e import fetch, item, make_source, page, serve_feed

pytestmark = pytest.mark.django_db


def tag_page(client, tag: Tag) -> str:
    return page(client, f"/tags/{quote(tag.slug)}/")


def cards(html: str) -> int:
    return html.count('<li class="card">')


def superuser_client(django_user_model) -> Client:
    editor = django_user_model.objects.create_superuser("editor", "e@example.cn", "pw-editor-123")
    client = Client()
    client.force_login(editor)
    return client


def test_nvidia_spellings_are_one_tag_with_a_stored_count(feed_server, client):
    url = serve_feed(feed_server, "/f.xml", [
        item("英伟达发布新一代推理平台", "<p>英伟达在年度大会上发布了面向数据中心的推理平台，单机柜集成七十二颗加速器。</p>",
             link="https://n.example.cn/1"),
        item("NVIDIA 公布第三财季业绩", "<p>季度营收再创新高，数据中心业务贡献了大部分收入。</p>",
             link="https://n.example.cn/2", categories=["Nvidia"]),
        item("nvidia 驱动更新修复游戏卡顿", "<p>新版驱动修复了多款游戏的卡顿问题，并改进了视频编码。</p>",
             link="https://n.example.cn/3", categories=["ＮＶＩＤＩＡ", "英偉達"]),
    ])
    fetch(make_source(url))
    assert Tag.objects.filter(name__iregex=r"^(nvidia|ｎｖｉｄｉａ|英伟达|英偉達)$").count() == 1
    tag = Tag.objects.get(name="NVIDIA")
    assert tag.articles_count == 3 == Article.objects.filter(tags=tag).count()
    html = tag_page(client, tag)
    assert cards(html) == 3
    assert re.search(r"文章 3 · 浏览量", html)


def test_traditional_tag_names_are_simplified(feed_server, client):
    url = serve_feed(feed_server, "/f.xml", [
        item("開源大模型發佈", "<p>多家公司宣佈將模型權重開源，開發者社區反響熱烈。</p>",
             link="https://n.example.cn/1", categories=["開源", "雲原生"]),
        item("云原生数据库开源", "<p>这款数据库基于云原生架构设计，现已开源并接受社区贡献。</p>",
             link="https://n.example.cn/2", categories=["#开源#", "云原生"]),
    ])
    fetch(make_source(url))
    assert not Tag.objects.filter(name__in=["開源", "雲原生"]).exists()
    assert Tag.objects.get(name="开源").articles_count == 2
    assert Tag.objects.get(name="云原生").articles_count == 2
    assert cards(tag_page(client, Tag.objects.get(name="开源"))) == 2


def test_case_and_script_variants_never_create_near_duplicates(feed_server, client, django_user_model):
    variants = ["Rust", "rust", "RUST", "Ｒｕｓｔ", "#Rust#", "【rust】", " Rust  "]
    url = serve_feed(feed_server, "/f.xml", [
        item(f"系统编程语言新版本发布 {i}", f"<p>第 {i} 篇：编译器改进了增量构建速度，标准库新增异步接口。</p>",
             link=f"https://n.example.cn/{i}", categories=[v, "Wi-Fi 7" if i % 2 else "wifi7"])
        for i, v in enumerate(variants)
    ])
    fetch(make_source(url))
    rust = Tag.objects.filter(name__iexact="rust")
    assert rust.count() == 1 and Tag.objects.filter(name__icontains="ｒｕｓｔ").count() == 0
    assert rust.get().articles_count == len(variants)
    assert Tag.objects.filter(name__iregex=r"^wi-?fi ?7$").count() == 1

    # Nor can an editor create one by hand in the admin.
    editor = superuser_client(django_user_model)
    response = editor.post("/admin/articles/tag/add/", {
        "name": "ＲＵＳＴ", "slug": "", "description": "",
        "aliases-TOTAL_FORMS": "0", "aliases-INITIAL_FORMS": "0", "aliases-MIN_NUM_FORMS": "0", "aliases-MAX_NUM_FORMS": "1000",
    })
    assert response.status_code == 200 and "已有同义标签" in response.content.decode()
    assert Tag.objects.filter(name__iexact="rust").count() == 1


def test_invisible_characters_never_make_a_look_alike_or_nameless_tag(feed_server, client):
    """Zero-width spaces, soft hyphens, BOMs and direction overrides in feed categories: "芯\u200b片"
    is the tag 芯片, not a second one that looks the same, and a category of nothing visible is no tag
    (its slug would be empty: a link to no page)."""
    invisible = ["芯\u200b片", "\u202e芯片", "芯\u00ad片\ufeff", "\ufeff", "\u200b\u200c"]
    url = serve_feed(feed_server, "/f.xml", [
        item(f"国产芯片新品发布 {i}", f"<p>第 {i} 篇：新一代处理器性能提升，功耗下降，面向数据中心。</p>",
             link=f"https://n.example.cn/{i}", categories=[v]) for i, v in enumerate(invisible)
    ] + [item("芯片产能扩张", "<p>多家厂商宣布扩产计划，先进制程产能将在明年释放。</p>",
              link="https://n.example.cn/plain", categories=["芯片"])])
    fetch(make_source(url))
    assert Article.objects.count() == len(invisible) + 1
    chips = Tag.objects.filter(name__contains="片")
    assert [t.name for t in chips] == ["芯片"] and chips.get().articles_count == len(invisible) + 1
    assert not Tag.objects.filter(slug="").exists()
    assert not [t.name for t in Tag.objects.all() if not t.name.isprintable()]
    assert cards(tag_page(client, chips.get())) == len(invisible) + 1
    assert client.get("/").status_code == 200


def test_editor_alias_joins_graphics_card_to_gpu(feed_server, client, django_user_model):
    gpu_text = "<p>这款 GPU 采用新架构，能效比上一代提升明显。</p>"
    card_text = "<p>新款显卡搭载大容量显存，首发价格较上一代下调，显卡市场竞争加剧。</p>"
    url = serve_feed(feed_server, "/f.xml", [
        item("GPU 新架构解析", gpu_text, link="https://n.example.cn/1"),
        item("中端显卡价格下调", card_text, link="https://n.example.cn/2"),
    ])
    source = make_source(url)
    fetch(source)
    gpu = Tag.objects.get(name="GPU")
    before = Article.objects.get(url="https://n.example.cn/2")
    assert not before.tags.filter(pk=gpu.pk).exists()  # 显卡 is not GPU until an editor says so

    editor = superuser_client(django_user_model)
    response = editor.post("/admin/articles/tagalias/add/", {"alias": " 顯卡 ", "tag": gpu.pk})
    assert response.status_code == 302
    assert TagAlias.objects.get(alias="显卡").tag == gpu  # stored normalized

    serve_feed(feed_server, "/f.xml", [
        item("GPU 新架构解析", gpu_text, link="https://n.example.cn/1"),
        item("中端显卡价格下调", card_text, link="https://n.example.cn/2"),
        item("旗舰显卡评测", "<p>旗舰显卡在 4K 分辨率下表现出色，显卡功耗也有所降低。</p>", link="https://n.example.cn/3"),
    ])
    fetch(source)
    newest = Article.objects.get(url="https://n.example.cn/3")
    assert list(newest.tags.values_list("name", flat=True)) == ["GPU"]
    assert not Tag.objects.filter(name="显卡").exists()
    html = tag_page(client, gpu)
    assert "旗舰显卡评测" in html and re.search(r"文章 2 · 浏览量", html)


def test_editor_tag_rule_regex_adds_a_tag(feed_server, client, django_user_model):
    editor = superuser_client(django_user_model)
    response = editor.post("/admin/articles/tagrule/add/", {
        "pattern": r"RTX\s?50[6-9]0", "is_regex": "on", "tag_name": "#GeForce 50#", "active": "on",
    })
    assert response.status_code == 302
    bad = editor.post("/admin/articles/tagrule/add/", {"pattern": "RTX(", "is_regex": "on", "tag_name": "x", "active": "on"})
    assert bad.status_code == 200 and "正则" in bad.content.decode()

    url = serve_feed(feed_server, "/f.xml", [
        item("RTX 5090 首发评测", "<p>新卡在光追游戏中的帧率明显领先。</p>", link="https://n.example.cn/1"),
        item("RTX5070 值得买吗", "<p>中端新卡的性价比分析。</p>", link="https://n.example.cn/2"),
        item("RTX 4090 降价", "<p>上一代旗舰开始清库存。</p>", link="https://n.example.cn/3"),
    ])
    fetch(make_source(url))
    tag = Tag.objects.get(name="GeForce 50")
    assert set(Article.objects.filter(tags=tag).values_list("url", flat=True)) == {
        "https://n.example.cn/1", "https://n.example.cn/2"}
    html = page(client, f"/articles/{Article.objects.get(url='https://n.example.cn/1').pk}/")
    assert f'href="/tags/{quote(tag.slug)}/"' in html and "GeForce 50" in html


def test_merging_tags_moves_articles_follows_and_stats(feed_server, client, django_user_model):
    url = serve_feed(feed_server, "/f.xml", [
        item("推理芯片出货量增长", "<p>多家厂商的推理加速卡出货量环比增长。</p>", link="https://n.example.cn/1",
             categories=["推理芯片"]),
        item("推理芯片新品发布", "<p>新品主打低功耗边缘推理。</p>", link="https://n.example.cn/2", categories=["推理芯片"]),
        item("AI加速卡市场报告", "<p>报告显示加速卡市场集中度提高。</p>", link="https://n.example.cn/3",
             categories=["AI加速卡", "推理芯片"]),
        item("AI加速卡供应紧张", "<p>先进封装产能限制了加速卡供应。</p>", link="https://n.example.cn/4", categories=["AI加速卡"]),
    ])
    source = make_source(url)
    fetch(source)
    keep, old = Tag.objects.get(name="推理芯片"), Tag.objects.get(name="AI加速卡")
    assert (keep.articles_count, old.articles_count) == (3, 2)

    # Followers: one follows both, one only the tag that goes away.
    for username, slugs in (("both", [keep.slug, old.slug]), ("old_only", [old.slug])):
        reader = Client()
        reader.force_login(django_user_model.objects.create_user(username, password="pw-reader-123"))
        for slug in slugs:
            assert reader.post(f"/tags/{quote(slug)}/follow/", {"action": "follow"}).status_code == 302
    # Views: three readers open article 4 (tagged only with the old tag), then the counters flush.
    article4 = Article.objects.get(url="https://n.example.cn/4")
    for _ in range(3):
        Client().get(f"/articles/{article4.pk}/")
    counters.flush_reads()
    keep.refresh_from_db()
    old.refresh_from_db()
    assert (keep.followers_count, old.followers_count) == (1, 2)
    assert old.views_count == 3 and keep.views_count == 0
    old_slug = old.slug

    editor = superuser_client(django_user_model)
    response = editor.post("/admin/articles/tag/", {"action": "merge_into_first", "_selected_action": [keep.pk, old.pk]})
    assert response.status_code == 302

    assert not Tag.objects.filter(pk=old.pk).exists()
    keep.refresh_from_db()
    assert keep.articles_count == 4 == Article.objects.filter(tags=keep).count()
    assert keep.followers_count == 2 == TagFollow.objects.filter(tag=keep).count()
    assert keep.views_count == 3
    assert client.get(f"/tags/{quote(old_slug)}/").status_code == 404
    html = tag_page(client, keep)
    assert cards(html) == 4 and re.search(r"关注 <span class=\"followers\" data-followers>2</span> · 文章 4 · 浏览量 3", html)

    # The old name now means the survivor: a new item under it does not resurrect the tag.
    serve_feed(feed_server, "/f.xml", [item("AI加速卡价格走势", "<p>渠道价格小幅回落。</p>", link="https://n.example.cn/5",
                                            categories=["ai加速卡"])])
    fetch(source)
    assert not Tag.objects.filter(name__iexact="AI加速卡").exists()
    assert Article.objects.get(url="https://n.example.cn/5").tags.filter(pk=keep.pk).exists()
    keep.refresh_from_db()
    assert keep.articles_count == 5


def test_the_tag_vocabulary_is_reused_until_tags_or_aliases_change():
    from django.db import transaction

    from articles.tags import tag_get_or_create, tag_vocabulary
    from articles.text.tagging import tag_key

    first = tag_vocabulary()
    assert tag_vocabulary() is first  # nothing changed: the same object, no reload
    tag = tag_get_or_create(name="量子计算")
    assert tag_vocabulary().get(tag_key("量子计算")) == "量子计算"
    Tag.objects.filter(pk=tag.pk).update(name="量子芯片")  # an editor's rename, even without signals
    renamed = tag_vocabulary()
    assert renamed.get(tag_key("量子芯片")) == renamed.get(tag_key("量子计算")) == "量子芯片"  # the old name: its alias
    TagAlias.objects.create(alias=tag_key("Quantum"), tag=tag)
    assert tag_vocabulary().get(tag_key("Quantum")) == "量子芯片"
    try:
        with transaction.atomic():
            tag_get_or_create(name="光子芯片")
            assert tag_key("光子芯片") in tag_vocabulary()
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert tag_key("光子芯片") not in tag_vocabulary()  # a rolled-back tag is not remembered


def test_names_resolved_under_a_vocabulary_are_not_asked_for_again_until_it_changes():
    """Ingest resolves each entry's tag names; a worker's fetches share most of them. What
    was found is kept with the vocabulary it was found under, and dropped with it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from articles.tags import tag_get_or_create, tag_merge, tag_vocabulary, tags_resolve_many

    chips, gpu = tag_get_or_create(name="芯片"), tag_get_or_create(name="GPU")
    vocabulary = tag_vocabulary()
    assert tags_resolve_many(["芯片", "gpu", "没有这个标签"], vocabulary=vocabulary) == {"芯片": chips, "gpu": gpu}
    with CaptureQueriesContext(connection) as queries:
        assert tags_resolve_many(["芯片", "gpu"], vocabulary=vocabulary) == {"芯片": chips, "gpu": gpu}
    assert not queries.captured_queries
    with CaptureQueriesContext(connection) as queries:  # a name nothing answered to is asked for again
        assert tags_resolve_many(["没有这个标签"], vocabulary=vocabulary) == {}
    assert queries.captured_queries
    with CaptureQueriesContext(connection) as queries:  # no vocabulary, no memo
        assert tags_resolve_many(["芯片"]) == {"芯片": chips}
    assert queries.captured_queries

    accelerators = tag_get_or_create(name="加速卡")
    tag_merge(source=gpu, target=accelerators)  # an editor merges GPU away: a new vocabulary, a new memo
    changed = tag_vocabulary()
    assert changed is not vocabulary
    assert tags_resolve_many(["芯片", "gpu"], vocabulary=changed) == {"芯片": chips, "gpu": accelerators}

    # A tag made after the vocabulary was read, resolved under it, then deleted: counts and max
    # ids are back to what they were, but not the id sequence, so that vocabulary is gone for good.
    late = tag_get_or_create(name="光刻机")
    assert tags_resolve_many(["光刻机"], vocabulary=changed) == {"光刻机": late}
    late.delete()
    assert tag_vocabulary() is not changed
    assert tags_resolve_many(["光刻机"], vocabulary=tag_vocabulary()) == {}
