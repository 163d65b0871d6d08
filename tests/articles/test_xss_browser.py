"""Hostile markup through feeds and `import_article`, rendered in headless
Chromium: nothing runs, no handler attribute and no javascript: URL survives."""
from __future__ import annotations

import pytest

from articles.models import Article, Tag
from tests.articles.e2e import fetch, import_article, item, make_source, serve_feed
from tests.browser import chromium_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROSE = (
    "<p>国产服务器厂商发布了新一代液冷整机柜，单柜功率密度提升到一百二十千瓦，面向大模型训练集群。</p>"
    "<p>厂商表示，新产品采用冷板式液冷方案，数据中心的电源使用效率可以降低到一点一以下，运维成本随之下降。</p>"
)

# Each payload, if it ran, would set window.__xss (or open a dialog).
PAYLOADS = [
    "<script>window.__xss='script'</script>",
    "<img src=x onerror=\"window.__xss='img-onerror'\">",
    "<img src=\"https://img.example.cn/a.png\" onload=\"window.__xss='img-onload'\">",
    "<svg onload=\"window.__xss='svg'\"><script>window.__xss='svg-script'</script></svg>",
    "<a href=\"javascript:window.__xss='js-href'\">点我</a>",
    "<a href=\"jav&#x09;ascript:window.__xss='tab-href'\">点我</a>",
    "<a href=\" JaVaScRiPt:window.__xss='case-href'\">点我</a>",
    "<a href=\"&#106;avascript:window.__xss='entity-href'\">点我</a>",
    "<a href=\"data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;\">数据</a>",
    "<a href=\"vbscript:msgbox(1)\">vb</a>",
    "<iframe src=\"javascript:top.__xss='iframe'\"></iframe>",
    "<iframe srcdoc=\"&lt;script&gt;parent.__xss='srcdoc'&lt;/script&gt;\"></iframe>",
    "<math><mtext><table><mglyph><style><img src=x onerror=\"window.__xss='mxss'\"></style></mglyph></table></mtext></math>",
    "<noscript><p title=\"</noscript><img src=x onerror=window.__xss='noscript'>\"></p></noscript>",
    "<details open ontoggle=\"window.__xss='details'\"><summary>详情</summary>内容</details>",
    "<form action=\"javascript:window.__xss='form'\"><button formaction=\"javascript:window.__xss='formaction'\">提交</button></form>",
    "<object data=\"javascript:window.__xss='object'\"></object><embed src=\"javascript:window.__xss='embed'\">",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:window.__xss='meta'\">",
    "<div style=\"background:url(javascript:window.__xss='css')\" onmouseover=\"window.__xss='hover'\">悬停</div>",
    "<input autofocus onfocus=\"window.__xss='autofocus'\">",
    "<video><source onerror=\"window.__xss='video'\"></video>",
    "<p onclick=\"window.__xss='click'\" ONMOUSEENTER=\"window.__xss='enter'\">段落</p>",
    "\"><script>window.__xss='breakout'</script>",
    "<img src=`x`onerror=window.__xss='backtick'>",
    "<svg><a xlink:href=\"javascript:window.__xss='xlink'\"><text x=\"0\" y=\"15\">x</text></a></svg>",
    "<base href=\"javascript:/\"><a href=\"relative\">相对链接</a>",
    "<template><script>window.__xss='template'</script></template>",
    "<img src=\"x\" onerror=\"alert('dialog')\">",
    "<scr<script>ipt>window.__xss='nested'</scr</script>ipt>",
    "<!--><script>window.__xss='comment'</script>-->",
    "<style>*{background:url('javascript:alert(1)')}</style><link rel=stylesheet href=\"javascript:alert(1)\">",
]
HOSTILE_BODY = PROSE + "".join(f"<div>{p}</div>" for p in PAYLOADS) + PROSE

INSPECT = """() => {
  const handlers = [], jsUrls = [];
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      const value = attr.value.replace(/[\\u0000-\\u0020]/g, '').toLowerCase();
      if (name.startsWith('on')) handlers.push(el.tagName + '@' + name);
      if (value.startsWith('javascript:') || value.startsWith('vbscript:') || value.startsWith('data:text/html')
          || value.includes('url(javascript:')) jsUrls.push(el.tagName + '@' + name + '=' + attr.value);
    }
  }
  return {flag: window.__xss === undefined ? null : String(window.__xss), handlers, jsUrls,
          scripts: [...document.querySelectorAll('article script, article iframe, article object, article embed, article form, article style')].length};
}"""


def assert_nothing_runs(browser_page, url: str, dialogs: list[str]) -> None:
    browser_page.goto(url, wait_until="networkidle")
    # Give handlers a chance: hover, click and focus everything inside the article.
    for el in browser_page.locator("article.article-body *").all()[:200]:
        try:
            el.hover(timeout=500)
        except Exception:
            pass  # hidden or detached elements cannot be hovered
    found = browser_page.evaluate(INSPECT)
    assert found["flag"] is None, f"a payload ran on {url}: {found['flag']}"
    assert found["handlers"] == [], found["handlers"]
    assert found["jsUrls"] == [], found["jsUrls"]
    assert found["scripts"] == 0
    assert dialogs == []


def test_hostile_feed_and_page_render_inert_in_chromium(feed_server, live_server):
    feed_url = serve_feed(feed_server, "/hostile.xml", [
        item("液冷整机柜发布<script>window.__xss='title'</script><img src=x onerror=alert(1)>", HOSTILE_BODY,
             link="https://servers.example.cn/2025/liquid.html", categories=["液冷", "<img src=x onerror=alert(2)>"]),
        item("纯摘要条目", "", description=PROSE + PAYLOADS[1] + PAYLOADS[4], link="https://servers.example.cn/2025/s.html"),
        item("恶意原文链接的条目", PROSE, link="javascript:window.__xss='item-link'", guid="hostile-link"),
    ])
    assert fetch(make_source(feed_url, name="<b onmouseover=alert(3)>恶意源</b>"))["new"] == 3

    page_url = feed_server.add("/post/hostile.html", (
        "<!doctype html><html><head><meta charset='utf-8'><title>液冷整机柜深度解析</title>"
        "<script>window.__xss='head'</script><meta name='keywords' content='液冷,服务器'></head>"
        "<body onload=\"window.__xss='body'\"><article><h1>液冷整机柜深度解析</h1>"
        + PROSE * 3 + "".join(f"<p>{p}</p>" for p in PAYLOADS) + PROSE * 2
        + "</article></body></html>"
    ), content_type="text/html; charset=utf-8")
    imported = Article.objects.get(pk=import_article(page_url))
    assert "液冷" in imported.body

    articles = list(Article.objects.order_by("id"))
    assert len(articles) == 4 and all(a.status == Article.Status.PUBLISHED for a in articles)
    for article in articles:
        assert "javascript:" not in article.url.lower()
    tag = Tag.objects.get(name="液冷")

    dialogs: list[str] = []
    with chromium_page() as browser_page:
        browser_page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        for article in articles:
            assert_nothing_runs(browser_page, f"{live_server.url}/articles/{article.pk}/", dialogs)
            assert "液冷" in browser_page.locator("article.article-body").inner_text() or article.title == "纯摘要条目"
        for path in ("/", f"/tags/{tag.slug}/", "/search/?q=液冷", f"/sources/{articles[0].source.slug}/"):
            assert_nothing_runs(browser_page, live_server.url + path, dialogs)
        # The visible title is the text, with the markup gone, not executed.
        browser_page.goto(f"{live_server.url}/articles/{articles[0].pk}/")
        assert browser_page.locator("h1").inner_text().startswith("液冷整机柜发布")
