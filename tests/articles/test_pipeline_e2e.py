"""The model page through the real flow: a feed on a local HTTP server →
`fetch` → database → the article page a reader sees."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest

from articles.models import Article, Tag
from tests.articles.e2e import article_body, attribution_block, fetch, item, make_source, page, serve_feed, text_of

pytestmark = pytest.mark.django_db

MODEL_PAGE = Path(__file__).parent / "fixtures" / "model_page.html"
RAW_TITLE = "英偉達(dá)發(fā)布新一代AI推理平台"
PINYIN_RE = re.compile(r"\([a-zü]*[āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ][a-zü]*\)")


def test_model_page_is_cleaned_end_to_end(feed_server, client):
    url = serve_feed(feed_server, "/elec.xml", [item(
        RAW_TITLE, MODEL_PAGE.read_text(encoding="utf-8"),
        link="https://www.elec-mirror.example/article/2025/1119.html",
    )], title="電子發燒友鏡像")
    source = make_source(url)
    outcome = fetch(source)
    assert outcome["new"] == 1

    article = Article.objects.get(source=source)
    assert article.status == Article.Status.PUBLISHED  # one spam line stripped, not a spam article
    html = page(client, f"/articles/{article.pk}/")
    assert re.search(r"<h1>\s*英伟达发布新一代AI推理平台\s*</h1>", html)

    body = article_body(html)
    text = text_of(body)
    for spam in ("葡京", "百家乐", "百家樂", "六合彩", "时时彩", "赌场"):
        assert spam not in body
    assert not PINYIN_RE.search(html)
    for traditional in ("英偉達", "發", "數", "統", "評論", "開源", "雲", "產"):
        assert traditional not in text
    assert "系统消息" in text and "评论与回复" in text and "开源" in text
    assert "(LLM)" in text and "(SLO)" in text  # real parentheses survive
    assert not text.startswith("英伟达发布新一代AI推理平台")  # the page's own <h1> headline is not repeated
    # Markup is ours: no scripts, handlers, portal leftovers or tracking pixels.
    for bad in ("<script", "onclick", "javascript:", "flag-5", "<form", "hm.baidu.com", "pixel.gif", "data:image"):
        assert bad not in body
    assert "/img/" in body and 'referrerpolicy="no-referrer"' in body  # hotlinked WeChat images via the proxy

    # Attribution lines left the body and sit in the attribution block / byline.
    for boiler in ("原文标题", "文章出处", "转载请注明出处", "微信号"):
        assert boiler not in body
    block = text_of(attribution_block(html))
    assert "原文标题：英伟达发布新一代推理平台，性能提升30倍" in block
    assert "芯视界" in block
    assert "作者：周明" in text_of(re.search(r'<p class="meta">(.*?)</p>', html, re.S).group(1))

    tags = list(article.tags.values_list("name", flat=True))
    assert "NVIDIA" in tags and "GPU" in tags and "开源" in tags
    assert not {"英伟达", "nvidia", "開源", "gpu"} & set(tags)  # canonical names only
    for name in ("NVIDIA", "GPU", "开源"):
        tag = Tag.objects.get(name=name)
        assert tag.articles_count == 1
        assert f'href="/tags/{quote(tag.slug)}/"' in html


def test_source_without_conversion_keeps_traditional(feed_server, client):
    traditional = (
        "<p>開源社區發佈了新版本的推理框架，開發者可以在雲端部署大模型，系統(tǒng)穩定性明顯提升。</p>"
        "<p>該專案由多家廠商共同維護，未來將支援更多硬體平台與作業系統。</p>"
    )
    url_tw = serve_feed(feed_server, "/tw.xml", [item("開源推理框架發佈新版本", traditional,
                                                      link="https://tw.example/a/1")])
    url_cn = serve_feed(feed_server, "/cn.xml", [item("開源推理框架發佈新版本", traditional,
                                                      link="https://cn.example/a/1")])
    keep = make_source(url_tw, name="台灣科技", convert_traditional=False)
    convert = make_source(url_cn, name="简体科技")
    fetch(keep)
    fetch(convert)

    kept = page(client, f"/articles/{Article.objects.get(source=keep).pk}/")
    assert re.search(r"<h1>\s*開源推理框架發佈新版本\s*</h1>", kept)
    kept_text = text_of(article_body(kept))
    assert "開源社區發佈" in kept_text and "系統穩定性" in kept_text
    assert "(tǒng)" not in kept_text  # pinyin artifacts go either way

    converted = page(client, f"/articles/{Article.objects.get(source=convert).pk}/")
    assert re.search(r"<h1>\s*开源推理框架发布新版本\s*</h1>", converted)
    assert "开源社区发布" in text_of(article_body(converted))
    # Tag names are Simplified whatever the source: one 开源 tag for both articles.
    assert Tag.objects.filter(name__in=["开源", "開源"]).count() == 1
    assert Tag.objects.get(name="开源").articles_count == 2
