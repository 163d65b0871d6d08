"""clean_html: the allowlist is the security boundary; lazy images, URLs, leftovers."""
from __future__ import annotations

import re

import pytest
from lxml import html as lxml_html

from articles.text.sanitize import clean_html, html_to_text, text_to_html
from newsroom.imagesign import unsign_image_url

BASE = "https://www.example.com/news/2025/article.html"

# Each entry must come out with no script, handler, dangerous URL or widget.
XSS_CORPUS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<img src=x onerror=alert(1)>",
    "<img src=\"https://ok.example/a.jpg\" ONERROR='alert(1)'>",
    "<img src=`javascript:alert(1)`>",
    "<img src=\"jav&#x09;ascript:alert(1)\">",
    "<img data-src=\"javascript:alert(1)\">",
    "<img src=\"data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+\">",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<a href=\"JaVaScRiPt:alert(1)\">x</a>",
    "<a href=\" javascript:alert(1)\">x</a>",
    "<a href=\"java\nscript:alert(1)\">x</a>",
    "<a href=\"jav&#97;script:alert(1)\">x</a>",
    "<a href=\"&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)\">x</a>",
    "<a href=\"&#x6A;avascript&colon;alert(1)\">x</a>",
    "<a href=\"vbscript:msgbox(1)\">x</a>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>",
    "<a href=\"data:text/html,<script>alert(1)</script>\">x</a>",
    "<svg onload=alert(1)><script>alert(1)</script></svg>",
    "<svg><a xlink:href=\"javascript:alert(1)\"><text>x</text></a></svg>",
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>",
    "<math href=\"javascript:alert(1)\">x</math>",
    "<style>body{background:url(javascript:alert(1))}</style>",
    "<p style=\"background:url(javascript:alert(1))\">x</p>",
    "<div style=\"width: expression(alert(1))\">x</div>",
    "<iframe src=\"https://evil.example/\"></iframe>",
    "<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>",
    "<object data=\"https://evil.example/x.swf\"></object><embed src=\"https://evil.example/x.swf\">",
    "<form action=\"https://evil.example/\"><input name=q><button formaction=javascript:alert(1)>go</button></form>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
    "<link rel=stylesheet href=\"https://evil.example/x.css\">",
    "<base href=\"javascript:alert(1)//\"><a href=\"x\">rel</a>",
    "<body onload=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<video><source onerror=alert(1)></video>",
    "<audio src=x onerror=alert(1)>",
    "<p onmouseover=\"alert(1)\">hover</p>",
    "<a href=\"https://ok.example/\" onclick=\"alert(1)\" target=\"_blank\">ok</a>",
    "<!--<img src=x onerror=alert(1)>-->",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\"></noscript>",
    "<template><script>alert(1)</script></template>",
    "<textarea><script>alert(1)</script></textarea>",
    "<xmp><script>alert(1)</script></xmp>",
    "<table background=\"javascript:alert(1)\"><tr><td>x</td></tr></table>",
    "<img srcset=\"javascript:alert(1) 1x\">",
    "<a href=\"//evil.example/%0Ajavascript:alert(1)\">x</a>",
    "<b class='flag-5' onclick=alert(1)>NVIDIA</b>",
]

_FORBIDDEN_MARKUP = re.compile(
    r"<\s*/?\s*(script|style|iframe|object|embed|form|input|button|textarea|meta|link|base|svg|math|video|audio"
    r"|template|noscript|details|xmp)\b",
    re.I,
)
_ALLOWED = {
    "p": set(), "br": set(), "h2": set(), "h3": set(), "h4": set(), "h5": set(), "h6": set(), "ul": set(),
    "ol": {"start"}, "li": set(), "blockquote": set(), "pre": set(), "code": {"class"}, "em": set(), "strong": set(),
    "b": set(), "i": set(), "u": set(), "s": set(), "sub": set(), "sup": set(), "table": set(), "thead": set(),
    "tbody": set(), "tfoot": set(), "tr": set(), "th": {"colspan", "rowspan", "scope"}, "td": {"colspan", "rowspan"},
    "caption": set(), "figure": set(), "figcaption": set(), "hr": set(),
    "img": {"src", "alt", "title", "width", "height", "referrerpolicy", "loading"},
    "a": {"href", "title", "rel"},
}


def assert_safe(out: str) -> None:
    """Every element and attribute is on the allowlist; every URL is http(s),
    mailto or our image proxy; no dangerous markup even in text form."""
    assert not _FORBIDDEN_MARKUP.search(out), out
    root = lxml_html.fragment_fromstring(out or "<p></p>", create_parent="div")
    for el in root.iter():
        if el is root:
            continue
        assert isinstance(el.tag, str), out  # no comments
        assert el.tag in _ALLOWED, (el.tag, out)
        assert set(el.attrib) <= _ALLOWED[el.tag], (el.tag, dict(el.attrib))
        for name in ("href", "src"):
            value = el.get(name)
            if value is not None:
                assert value.startswith(("https://", "http://", "mailto:", "/img/")), value
                assert not re.search(r"[\x00-\x20]", value), value
        if el.tag == "a":
            assert el.get("rel") == "nofollow noopener noreferrer"


@pytest.mark.parametrize("payload", XSS_CORPUS)
def test_xss_corpus_nothing_dangerous_survives(payload):
    out = clean_html(payload, base_url=BASE)
    assert_safe(out)
    # The cleaner is idempotent on its own output.
    assert clean_html(out, base_url=BASE) == out


def test_xss_corpus_all_at_once():
    assert_safe(clean_html("\n".join(XSS_CORPUS), base_url=BASE))


def test_dangerous_urls_are_removed_not_rewritten():
    for payload in ('<a href="javascript:alert(1)">x</a>', '<a href=" JaVa&#x09;Script:alert(1)">x</a>',
                    '<img src="data:image/png;base64,AAAA">', '<a href="data:text/html,x">x</a>'):
        out = clean_html(payload, base_url=BASE)
        assert "javascript" not in out.lower() and "data:" not in out, out


def test_structure_is_kept():
    html = (
        "<h1>大标题</h1><h3>小节</h3><p>段落<em>强调</em><strong>加粗</strong><sub>2</sub><sup>3</sup></p>"
        "<ul><li>一</li><li>二</li></ul><ol start=\"3\"><li>三</li></ol><blockquote>引用</blockquote>"
        "<pre><code class=\"language-python\">print(1)</code></pre><hr>"
        "<table><caption>表</caption><thead><tr><th scope=\"col\">A</th></tr></thead>"
        "<tbody><tr><td colspan=\"2\" rowspan=\"x\">1</td></tr></tbody></table>"
        "<figure><img src=\"https://ok.example/a.jpg\" alt=\"图\" title=\"t\"><figcaption>说明</figcaption></figure>"
    )
    out = clean_html(html, base_url=BASE)
    assert "<h2>大标题</h2>" in out  # h1 belongs to our page title
    for fragment in ("<h3>小节</h3>", "<em>强调</em>", "<strong>加粗</strong>", "<sub>2</sub>", "<li>一</li>",
                     '<ol start="3">', "<blockquote>", '<code class="language-python">', "<hr>", "<caption>表</caption>",
                     '<th scope="col">', '<td colspan="2">', "<figcaption>说明</figcaption>", 'alt="图"'):
        assert fragment in out, fragment
    assert "rowspan" not in out  # non-numeric value dropped


def test_external_links_get_rel_and_relative_links_are_absolutized():
    out = clean_html('<p><a href="/about?x=1" title="关于">关于</a> <a href="mailto:a@b.cn">信</a></p>', base_url=BASE)
    assert '<a href="https://www.example.com/about?x=1" title="关于" rel="nofollow noopener noreferrer">' in out
    assert 'href="mailto:a@b.cn"' in out
    assert "target" not in out


def test_base_href_is_honoured():
    html = '<html><head><base href="https://cdn.example.org/static/"></head><body><p><img src="a.png"><a href="p.html">p</a></p></body></html>'
    out = clean_html(html, base_url=BASE)
    assert 'src="https://cdn.example.org/static/a.png"' in out
    assert 'href="https://cdn.example.org/static/p.html"' in out


def test_relative_urls_without_base_are_dropped_not_left_pointing_at_us():
    out = clean_html('<p><a href="/admin/">x</a><img src="/a.png"></p>', base_url="")
    assert "href" not in out and "<img" not in out and "x" in out


def test_anchor_only_links_are_unwrapped():
    out = clean_html('<p><a href="#top">回到顶部</a></p>', base_url=BASE)
    assert out == "<p>回到顶部</p>"


def test_lazy_images_are_resolved_and_hotlinked_hosts_go_through_the_proxy():
    html = (
        '<p><img data-src="https://mmbiz.qpic.cn/mmbiz_png/abc/640?wx_fmt=png" src="data:image/gif;base64,AAAA"></p>'
        '<p><img data-original="//wx1.sinaimg.cn/large/x.jpg" src="/static/loading.gif"></p>'
        '<p><img data-actualsrc="https://img.ithome.com/newsuploadfiles/a.jpg"></p>'
        '<p><img data-lazy-src="pics/b.jpg" src="pics/placeholder.png"></p>'
        '<p><img srcset="https://ok.example/s.jpg 320w, https://ok.example/l.jpg 1280w, https://ok.example/m.jpg 640w"></p>'
    )
    out = clean_html(html, base_url=BASE)
    proxied = re.findall(r'src="/img/([^"/]+)/"', out)
    assert [unsign_image_url(t) for t in proxied] == [
        "https://mmbiz.qpic.cn/mmbiz_png/abc/640?wx_fmt=png",
        "https://wx1.sinaimg.cn/large/x.jpg",
        "https://img.ithome.com/newsuploadfiles/a.jpg",
    ]
    assert 'src="https://www.example.com/news/2025/pics/b.jpg"' in out
    assert 'src="https://ok.example/l.jpg"' in out  # largest srcset candidate
    assert "data:" not in out and "loading.gif" not in out and "placeholder" not in out
    assert out.count('referrerpolicy="no-referrer"') == 5 and out.count('loading="lazy"') == 5


def test_proxy_can_be_switched_off():
    out = clean_html('<img data-src="https://mmbiz.qpic.cn/a/640">', base_url=BASE, proxy_images=False)
    assert 'src="https://mmbiz.qpic.cn/a/640"' in out and 'referrerpolicy="no-referrer"' in out


def test_tracking_pixels_and_tracker_hosts_are_dropped():
    html = (
        '<p>正文<img src="https://ok.example/pixel.gif" width="1" height="1">'
        '<img src="https://hm.baidu.com/hm.gif?si=abc"><img src="https://www.google-analytics.com/collect?v=1">'
        '<img src="https://feeds.feedburner.com/~r/x/~4/abc"><img src="https://ok.example/t.gif" style="width:1px;height:1px">'
        '<img src="https://ok.example/real.jpg" width="640" height="360"></p>'
    )
    out = clean_html(html, base_url=BASE)
    assert out.count("<img") == 1 and "real.jpg" in out and 'width="640"' in out


def test_portal_leftovers_are_unwrapped():
    html = "<p>由<b class='flag-5'>NVIDIA</b>与<span class=\"flag-3\">AMD</span>共同推动，&lt;b class='flag-5'&gt;GPU&lt;/b&gt;需求旺盛</p>"
    out = clean_html(html, base_url=BASE)
    assert out == "<p>由NVIDIA与AMD共同推动，GPU需求旺盛</p>"


def test_hidden_seo_blocks_are_dropped_but_a_hidden_article_wrapper_is_not():
    html = '<div style="display:none">澳门葡京,百家乐</div><div id="js_content" style="visibility: hidden;"><p>正文一</p><p>正文二</p></div>'
    out = clean_html(html, base_url=BASE)
    assert out == "<p>正文一</p><p>正文二</p>"
    assert "葡京" not in clean_html('<p hidden>澳门葡京</p><p>正文</p>', base_url=BASE)
    wrapper = '<div style="display:none"><p>' + "正文很长。" * 50 + "</p></div>"
    assert "正文很长" in clean_html(wrapper, base_url=BASE)


def test_layout_divs_become_paragraphs_and_loose_text_is_wrapped():
    html = "<div>第一段</div><div>第二段<br>第二行</div><section>散落文字<p>段落</p>尾巴</section>"
    out = clean_html(html, base_url=BASE)
    assert out == "<p>第一段</p><p>第二段<br>第二行</p><p>散落文字</p><p>段落</p><p>尾巴</p>"


def test_noscript_fallback_image_is_used_when_there_is_no_lazy_image():
    out = clean_html('<p>图<noscript><img src="https://ok.example/real.jpg"></noscript></p>', base_url=BASE)
    assert 'src="https://ok.example/real.jpg"' in out
    both = clean_html(
        '<p><img data-src="https://ok.example/real.jpg"><noscript><img src="https://ok.example/real.jpg"></noscript></p>',
        base_url=BASE,
    )
    assert both.count("<img") == 1


def test_empty_input_and_plain_text():
    assert clean_html("", base_url=BASE) == ""
    assert clean_html("   ", base_url=BASE) == ""
    assert clean_html("只是文字 & 符号 <3", base_url=BASE) == "<p>只是文字 &amp; 符号 &lt;3</p>"


def test_html_to_text_is_block_aware():
    html = "<h2>标题</h2><p>第一段<b>加粗</b>文字</p><p>第二段<br>第二行</p><ul><li>甲</li><li>乙</li></ul><table><tr><td>A</td><td>B</td></tr></table><script>x()</script>&amp;"
    assert html_to_text(html) == "标题\n第一段加粗文字\n第二段\n第二行\n甲\n乙\nA B\n&"


def test_html_to_text_plain_input():
    assert html_to_text("  一行\n\n  二行 ") == "一行\n二行"
    assert html_to_text("") == ""


def test_text_to_html_escapes_and_makes_paragraphs():
    assert text_to_html("a<b>\nc") == "<p>a&lt;b&gt;</p><p>c</p>"
    assert text_to_html("第一段\n续行\n\n第二段") == "<p>第一段<br>续行</p><p>第二段</p>"
    assert text_to_html("") == ""


def test_the_same_html_cleans_to_the_same_bytes_in_every_process():
    # nh3 orders the attributes it adds by a hash map seeded per Cleaner (per process):
    # new Cleaners stand in for new processes.
    from articles.text import sanitize

    html = ('<p><img src="https://example.com/a.jpg" alt="图"> 正文'
            '<img loading="eager" referrerpolicy="unsafe-url" src="https://example.com/b.jpg"></p>')
    outputs = set()
    for _ in range(12):
        sanitize._cleaner.cache_clear()
        outputs.add(clean_html(html, base_url="https://example.com/"))
    assert len(outputs) == 1
    out = outputs.pop()
    assert out.count('loading="lazy" referrerpolicy="no-referrer"') == 2
    assert "eager" not in out and "unsafe-url" not in out


def test_image_proxy_tokens_do_not_change_with_time_and_old_tokens_still_open(monkeypatch):
    import time

    from django.core import signing

    from newsroom.imagesign import sign_image_url

    url = "https://mmbiz.qpic.cn/mmbiz_jpg/abc/640"
    first = sign_image_url(url)
    monkeypatch.setattr(time, "time", lambda: 4_000_000_000.0)  # decades later
    assert sign_image_url(url) == first
    assert unsign_image_url(first) == url
    stored_before = signing.dumps(url, salt="newsroom.imageproxy", compress=True)  # the timestamped form
    assert unsign_image_url(stored_before) == url
    assert unsign_image_url(first[:-3] + "abc") is None
    assert unsign_image_url(stored_before[:-3] + "abc") is None
