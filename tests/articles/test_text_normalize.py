"""Pinyin artifacts, Traditional→Simplified, widths and whitespace; text nodes only."""
from __future__ import annotations

from articles.text.normalize import normalize_html, normalize_text, normalize_title, strip_pinyin, to_simplified


def test_strip_pinyin_removes_mirror_annotations():
    assert strip_pinyin("系統(tǒng)消息") == "系統消息"
    assert strip_pinyin("評論與回復(fù)") == "評論與回復"
    assert strip_pinyin("數(shù)據(jù)中心和運(yùn)算") == "數據中心和運算"
    assert strip_pinyin("聯（lián）想") == "聯想"  # full-width parentheses too
    assert strip_pinyin("發(fā zhǎn)展") == "發展"  # several syllables


def test_strip_pinyin_keeps_real_parentheses():
    for text in ("大语言模型(LLM)", "服务等级目标(SLO)", "人工智能(ai)", "价格(约 999 元)", "GPU(nvidia)", "函数f(x)", "(tǒng) at start"):
        assert strip_pinyin(text) == text


def test_to_simplified():
    assert to_simplified("英偉達發佈開源數據中心") == "英伟达发布开源数据中心"
    assert to_simplified("NVIDIA GPU") == "NVIDIA GPU"
    assert to_simplified("") == ""


def test_brand_names_opencc_would_damage_are_protected():
    # Plain t2s maps 昇 → 升: Huawei's 昇腾 would become 升腾.
    assert to_simplified("華為昇騰910B與昇思框架") == "华为昇腾910B与昇思框架"
    assert to_simplified("昇腾") == "昇腾"
    assert to_simplified("旭日東昇") == "旭日东升"  # the character alone still converts


def test_pinyin_is_stripped_before_conversion():
    assert normalize_title("系統(tǒng)消息，評論與回復(fù)") == "系统消息，评论与回复"


def test_normalize_text_widths_whitespace_and_zero_width():
    text = "ＮＶＩＤＩＡ\u3000发布　ＲＴＸ５０９０，售价１９９９美元！\u200b真的？（预计）＃１％"
    assert normalize_text(text) == "NVIDIA 发布 RTX5090，售价1999美元！真的？（预计）#1%"
    assert normalize_text("  a \t b \n\n\n\n c\xa0d  ") == "a b\n\nc d"
    assert normalize_text("") == ""


def test_direction_overrides_never_reach_a_reader():
    """A right-to-left override makes "\u202egpj.exe" read as "exe.jpg" ("Trojan Source" does the
    same to code): titles, prose and code lose the explicit direction controls."""
    assert normalize_title("新品\u202egpj.exe\u202c发布") == "新品gpj.exe发布"
    assert normalize_text("a\u2066b\u2069c\u202dd") == "abcd"
    out = normalize_html("<p>正文\u202e反向\u202c</p><pre><code>if admin\u202e\u2066:\u2069\u2066 # ok</code></pre>")
    assert out == "<p>正文反向</p><pre><code>if admin: # ok</code></pre>"


def test_normalize_title_is_one_line():
    assert normalize_title("  英偉達(dá)\n發佈  新GPU ") == "英伟达 发布 新GPU"


def test_normalize_title_without_conversion():
    assert normalize_title("系統(tǒng)消息", convert_traditional=False) == "系統消息"


def test_normalize_html_touches_text_nodes_only():
    html = (
        '<p>英偉達(dá)發佈<a href="https://ex.example/系統(tǒng)?q=%E7%B3%BB&amp;x=ＡＢ" title="t">'
        "系統(tǒng)</a>，ＧＰＵ</p>"
        '<p><img src="https://mmbiz.qpic.cn/a(tǒng).jpg" alt="圖片(tú)"></p>'
    )
    out = normalize_html(html)
    assert "<p>英伟达发布" in out and ">系统</a>，GPU</p>" in out
    # URLs are byte-for-byte what they were: no conversion, no pinyin strip, no re-encoding
    assert 'href="https://ex.example/系統(tǒng)?q=%E7%B3%BB&amp;x=ＡＢ"' in out
    assert 'src="https://mmbiz.qpic.cn/a(tǒng).jpg"' in out
    assert 'alt="图片"' in out  # alt is reader-visible text


def test_normalize_html_keeps_code_verbatim():
    html = "<pre><code>x  =  &quot;開源&quot;\n  y</code></pre><p>開源  代碼</p>"
    out = normalize_html(html)
    assert "<pre><code>x  =  \"開源\"\n  y</code></pre>" in out
    assert "<p>开源 代码</p>" in out


def test_normalize_html_collapses_layout_whitespace_and_source_wrapping():
    html = "<p>\n  第一行中文\n  接着写  </p>\n\n<ul>\n <li> 甲 </li>\n</ul>"
    assert normalize_html(html) == "<p>第一行中文接着写</p><ul><li>甲</li></ul>"


def test_normalize_html_per_source_switch():
    assert normalize_html("<p>開源</p>", convert_traditional=False) == "<p>開源</p>"
    assert normalize_html("<p>開源(kāi)</p>", convert_traditional=False) == "<p>開源</p>"


def test_normalize_html_empty():
    assert normalize_html("") == ""
    assert normalize_html("  ") == ""


# --- texts t2s would leave alone skip OpenCC (normalize._T2SNoop) ---------------------


def _t2s_pieces():
    from articles.text import normalize

    normalize._get_converter()
    noop = normalize._t2s_noop_check
    assert noop is not None, "the t2s dictionaries were not read: every text is converted (slow)"
    phrases = sorted(key for key, _ in noop._phrases.items())
    return noop, phrases


def test_the_skip_knows_the_converters_phrases_and_changing_characters():
    noop, phrases = _t2s_pieces()
    # 瞭 alone stays 瞭 (not a changing character), but the phrase 一目瞭然 becomes 一目了然.
    assert len(phrases) > 100 and "一目瞭然" in phrases and "乾坤" in phrases
    assert "發" in noop._changing and "瞭" not in noop._changing
    assert noop("英伟达发布开源数据中心") and noop("瞭") and not noop("一目瞭然") and not noop("發佈")
    assert to_simplified("一目瞭然") == "一目了然" and to_simplified("瞭") == "瞭"
    assert to_simplified("天氣乾燥") == "天气干燥" and to_simplified("乾坤") == "乾坤"


def test_skipping_gives_what_converting_every_text_gives(monkeypatch):
    import random

    from articles.text import normalize

    noop, phrases = _t2s_pieces()
    rnd = random.Random(7)
    # Simplified prose, characters that map to others, characters that map to themselves alone
    # but not inside a phrase, phrases and their halves, Latin, the protected brand names.
    plain = [*"英伟达发布开源数据中心的一上不中么了着里后干目然", "瞭", "彷", "GPU ", "昇腾", "\n"]
    rare = (["乾", "藉", "發", "臺", "雲", "昇騰"] + rnd.sample(phrases, 60)
            + [p[: len(p) // 2] for p in rnd.sample(phrases, 40)] + [p[len(p) // 2 :] for p in rnd.sample(phrases, 40)])
    texts = ["".join(rnd.choice(rare if rnd.random() < 0.03 else plain) for _ in range(rnd.randint(1, 40)))
             for _ in range(3000)]
    fast = [to_simplified(t) for t in texts]
    fast_many = normalize.to_simplified_many(texts)
    skipped = sum(map(noop, texts))
    monkeypatch.setattr(normalize, "_t2s_noop_check", None)  # convert every text, as before the skip
    assert fast == [to_simplified(t) for t in texts] == fast_many == normalize.to_simplified_many(texts)
    assert 300 < skipped < 2700  # both kinds were tried


def test_unreadable_dictionaries_mean_every_text_is_converted(monkeypatch, caplog):
    from articles.text import normalize

    class Elsewhere:  # an OpenCC whose config points at no dictionaries we can read
        config = "/nonexistent/t2s.json"

        @staticmethod
        def convert(text):
            return normalize._get_converter().convert(text)

    with caplog.at_level("WARNING", logger="articles.text.normalize"):
        assert normalize._t2s_noop(Elsewhere()) is None
    assert "every non-ASCII text is converted" in caplog.text
    monkeypatch.setattr(normalize, "_t2s_noop_check", None)
    assert to_simplified("天氣乾燥") == "天气干燥" and to_simplified("英伟达") == "英伟达"
    assert normalize.to_simplified_many(["發佈", "GPU", "一目瞭然"]) == ["发布", "GPU", "一目了然"]
