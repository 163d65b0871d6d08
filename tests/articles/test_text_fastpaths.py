"""The text pipeline's fast paths give exactly what the straightforward versions
give: stored SimHashes, tags and index words must not move when the code gets faster."""
from __future__ import annotations

import re
from collections import Counter

import pytest

from articles.text import simhash as simhash_module
from articles.text import tokenizer
from articles.text.normalize import FULLWIDTH_TO_ASCII, fold_width
from articles.text.tagging import DEFAULT_ALIASES, Vocabulary, build_vocabulary, suggest_tags
from articles.text.tokenizer import idf, keywords, search_tokens

TEXTS = [
    "英伟达发布 GeForce RTX 5090 显卡，Blackwell 架构，推理性能大幅提升。\n人工 智能 与大模型推动数据中心建设。",
    "IT之家 11 月 19 日消息，华为昇腾芯片生态大会召开。\n\n关注我们\n昇腾伙伴发布 DeepSeek-R1 推理方案，Wi-Fi 7 路由器同步亮相。",
    "系統(tǒng)消息：ＯｐｅｎＡＩ 发布新模型，open source 社区反响热烈，开源社区活跃。\r\n第二行 GPU. -R1",
    "",
]


def _reference_simhash(tokens) -> int:
    """The bit-by-bit loop SimHashes were first stored with."""
    counts = Counter(t for t in tokens if simhash_module._is_feature(t))
    if not counts:
        return 0
    vector = [0.0] * 64
    for token, count in counts.items():
        weight = count * idf(token)
        h = simhash_module._feature_hash(token)
        for bit in range(64):
            if (h >> bit) & 1:
                vector[bit] += weight
            else:
                vector[bit] -= weight
    value = 0
    for bit, total in enumerate(vector):
        if total > 0:
            value |= 1 << bit
    return simhash_module._to_signed(value)


@pytest.mark.parametrize("text", TEXTS)
def test_simhash_matches_the_bit_by_bit_loop(text):
    tokens = simhash_module.shingle_tokens(text * 3)
    assert simhash_module.simhash(tokens) == _reference_simhash(tokens)


def test_simhash_with_exactly_cancelling_weights_matches_too():
    # Unknown words all weigh the same: sums that cancel exactly are where summation order would show.
    tokens = ["甲乙丙丁", "戊己庚辛", "壬癸子丑", "寅卯辰巳"] * 2 + ["午未申酉"]
    assert simhash_module.simhash(tokens) == _reference_simhash(tokens)


@pytest.mark.parametrize("text", TEXTS)
def test_line_by_line_cuts_equal_whole_text_cuts(text):
    seg = tokenizer._segmenter()
    whole = [t for t in (tokenizer._strip_token(raw) for raw in seg.jieba.cut(text.translate(FULLWIDTH_TO_ASCII)))
             if t and any(ch.isalnum() for ch in t)]
    assert tokenizer._cut(text, seg) == whole
    seg.cut_line.cache_clear()  # again, every raw token now answered by the per-process memo
    assert tokenizer._cut(text, seg) == whole
    lines = text.split("\n")
    assert search_tokens(text) == [t for line in lines for t in search_tokens(line)]


def test_fold_width_skips_only_texts_translate_leaves_alone():
    for code in range(0x20, 0x10000):
        if 0xD800 <= code < 0xE000:
            continue
        for text in (chr(code), f"英伟达{chr(code)}GPU"):
            assert fold_width(text) == text.translate(FULLWIDTH_TO_ASCII), hex(code)
    assert fold_width("ＯｐｅｎＡＩ\u200b发布，（新）") == "OpenAI发布，（新）"


@pytest.mark.parametrize("text", [
    "英伟达 发布", " NVIDIA ", "两个  空格", "换\n行", "中\n文", "tab\there", "nbsp\u00a0x", "全角\u3000空格",
    "\x1c分隔", "零宽\u200b字符", "ＦＵＬＬ  ｗｉｄｔｈ", "", " ", "第一行，\n  第二行",
])
def test_text_node_fast_paths_give_the_plain_collapse(text):
    from articles.text.normalize import _WRAP_BETWEEN_HAN_RE, _finish_fragment_text

    assert _finish_fragment_text(text) == re.sub(r"\s+", " ", _WRAP_BETWEEN_HAN_RE.sub("", text.translate(FULLWIDTH_TO_ASCII)))


def test_keywords_rank_by_tf_idf_then_first_appearance_with_the_commonest_surface_form():
    text = "NVIDIA 发布推理芯片。nvidia 的推理芯片。NVIDIA 推理芯片量产。昇腾 昇腾"
    got = keywords(text, top_k=5)
    seg_counts = Counter(w.lower() for w in tokenizer._cut(text, tokenizer._segmenter()) if tokenizer._keyword_candidate(w.lower()))
    first = {}
    for position, w in enumerate(tokenizer._cut(text, tokenizer._segmenter())):
        first.setdefault(w.lower(), position)
    expected = sorted(seg_counts, key=lambda k: (-seg_counts[k] * idf(k), first[k]))[:5]
    assert [w.lower() for w in got] == expected
    assert "NVIDIA" in got and "nvidia" not in got


def test_prefix_matching_finds_what_the_plain_lookup_finds():
    plain = build_vocabulary(["GeForce RTX", "人工智能", "开源", "Wi-Fi 7", "DeepSeek", "GPU"], DEFAULT_ALIASES)
    fast = Vocabulary(plain)
    found = set()
    for text in TEXTS:
        for title in ("", "英伟达 GeForce RTX 新品", "开源社区的人工智能"):
            tags = suggest_tags(title=title, text=text, vocabulary=fast)
            assert tags == suggest_tags(title=title, text=text, vocabulary=plain)
            found.update(tags)
    assert {"NVIDIA", "GeForce RTX", "开源", "AI", "昇腾"} <= found
    assert fast.prefixes is fast.prefixes  # built once per vocabulary


def _reference_vector(*, title: str, body_text: str, title_tokens: list[str], body_tokens: list[str]) -> str:
    """The straightforward builder the stored vectors were first written with: every
    gram an entry, positions wrapping to 1 before PostgreSQL's limit, gathered per
    lexeme (first weight of a position, at most 256 positions), sorted."""
    from articles.search import _ALNUM_PART_RE, _MAX_LEXEME_BYTES, _MAX_POSITION, MAX_INDEX_CHARS, _quote, _runs

    def grams(text, pos, weight):
        out = []
        for run, is_han, joined in _runs(text):
            if not joined:
                pos += 1
                if pos + len(run) > _MAX_POSITION:
                    pos = 1
            elif pos + len(run) > _MAX_POSITION + 300:
                pos = 1
            if is_han:
                if len(run) == 1:
                    out.append((run, pos, weight))
                    pos += 1
                    continue
                for i in range(len(run) - 1):
                    out.append((run[i : i + 2], min(pos + i, 16383), weight))
                out.append((run[-1], min(pos + len(run) - 2, 16383), weight))
                pos += len(run) - 1
            else:
                out.append((run, pos, weight))
                parts = _ALNUM_PART_RE.findall(run)
                if len(parts) > 1:
                    out.extend((part, pos, weight) for part in parts)
                pos += 1
        return out, pos

    entries, pos = grams(title, 1, "A")
    body, pos = grams(body_text[:MAX_INDEX_CHARS], pos + 2, "B")
    entries += body
    pos += 2
    for weight, tokens in (("A", title_tokens), ("B", body_tokens)):
        for token in tokens:
            if token:
                entries.append((token, min(pos, 16383), weight))
                pos += 1
    by_lexeme: dict[str, dict[int, str]] = {}
    for lexeme, pos, weight in entries:
        if len(lexeme.encode("utf-8")) > _MAX_LEXEME_BYTES:
            continue
        positions = by_lexeme.setdefault(lexeme, {})
        if pos not in positions and len(positions) < 256:
            positions[pos] = weight
    return " ".join(_quote(lexeme) + ":" + ",".join(f"{p}{w}" for p, w in sorted(positions.items()))
                    for lexeme, positions in by_lexeme.items())


@pytest.mark.parametrize("text", [
    *TEXTS,
    "O'Reilly 发布 C:\\temp 工具，“引号”与‘单引号’。" + "x" * 300 + " 测 " + "b" * 60 + "-" + "c" * 160,
    "英伟达芯片。" * 4000,  # long enough to wrap the positions: several segments share every lexeme
    "推理" * 9000 + "。尾巴 rtx5090 a1a",  # one Han run past PostgreSQL's last position: its end is clamped
    "芯片 " * 7000 + "，" + "模型推理，" * 5000,  # joined runs wrap later than runs after a gap
    "\n".join(f"第{i}段：英伟达 H{i % 300} 与 AMD MI{i % 7}，推理芯片。" for i in range(2500)),  # > 256 positions, weights A and B
])
def test_search_vectors_match_the_straightforward_builder(text):
    from articles.search import _build_vector_py, build_vector

    title = "英伟达 Blackwell 推理芯片：It's here " + text[:40]
    fields = {"title": title, "body_text": text, "title_tokens": search_tokens(title), "body_tokens": search_tokens(text)}
    reference = _reference_vector(**fields)
    assert build_vector(**fields) == reference  # the compiled kernel (tests/articles/test_speedups.py)
    assert _build_vector_py(**fields) == reference  # the Python version, where no kernel is built


def test_one_opencc_call_for_many_texts_converts_each_as_its_own_call_would():
    from articles.text.normalize import to_simplified, to_simplified_many

    texts = ["系統消息：", "昇騰處理器", "", "Open Source", "軟", "體開發", "乾隆皇帝看著這個軟體", "\ue000已有分隔符"]
    assert to_simplified_many(texts) == [to_simplified(t) for t in texts]
    assert to_simplified_many(texts[:-1]) == [to_simplified(t) for t in texts[:-1]]
    # Text nodes are converted apart: 軟|體 is not the phrase 軟體 across two nodes.
    assert to_simplified_many(["軟", "體"]) == [to_simplified("軟"), to_simplified("體")]


@pytest.mark.parametrize("html", [
    "", "<p>无标签</p>", "纯文本没有尖括号", "<p>" + "英伟达&amp;AMD " * 80 + "</p><p>尾</p>",
    "<p>" + "x" * 300 + "&am<b>p;</b>后面</p>", "<img src='" + "a" * 400 + "'><p>图后&nbsp;正文</p>",
    "<p>" + "甲" * 255 + "&#x4e2d<i>;</i>" + "乙" * 300 + "</p>", "<p title='a>b'>" + "丙" * 400 + "</p>",
])
def test_markup_text_head_is_a_start_of_the_whole_text(html):
    from articles.text._blocks import markup_text, markup_text_head

    for size in (0, 1, 10, 256, 1000):
        assert markup_text(html).startswith(markup_text_head(html, size))


BODIES = [
    ("<p><strong>来源</strong>：IT之家</p><p>英伟达发布新芯片，推理性能大幅提升。</p>", "英伟达发布新芯片"),
    ("<p>原文标题&nbsp;：测试</p><p>正文</p>", "测试标题很长"),
    ("<table><tr><td>作者</td><td>：张三</td></tr></table><p>正文</p>", ""),
    ("<p>电子发烧友网报道（文/周明）正文内容</p>", ""),
    ("<p>转载请注明出处。</p><p>正文</p>", ""),
    ("<h2>英伟达 发布 <b>新</b>芯片</h2><p>正文</p>", "英伟达发布新芯片"),
    ("<p>&lt;英伟达&gt;发布新芯片</p><p>正文</p>", "<英伟达>发布新芯片"),
    ("<p>文中提到的芯片与中文社区。</p><p>正文没有署名</p>", "芯片与中文社区"),
    ("<p>正文第一段</p><p>英伟达发布新芯片</p>", "英伟达发布新芯片"),
    ("<p>英伟达发布新芯片</p>" + "<p>正文很长的段落。</p>" * 100, "英伟达发布新芯片"),
    ("<p>" + "<b></b>" * 200 + "英伟达&amp;发布新芯片</p><p>正文</p>", "英伟达&发布新芯片"),
]


@pytest.mark.parametrize("body,title", BODIES)
def test_attribution_and_title_fast_paths_change_nothing(body, title, monkeypatch):
    from articles import ingest
    from articles.text import attribution

    fast = vars(attribution.extract_attribution(body))
    fast_drop = ingest._drop_leading_title(body, title)
    monkeypatch.setattr(attribution, "_may_attribute", lambda html: True)
    monkeypatch.setattr(ingest, "_text_opens_with", lambda body, key: True)
    assert vars(attribution.extract_attribution(body)) == fast
    assert ingest._drop_leading_title(body, title) == fast_drop


@pytest.mark.parametrize("html", [
    "", "   ", "text first<p>then a block</p>tail", "<p>a<b>b</b></p><div><img src=x.png>c</div>",
    "<li>loose</li><td>cell</td>", "<!-- note --><p>x</p>", "&lt;b class='flag-5'&gt; 英伟达",
])
def test_fragments_parse_as_lxml_html_does_with_classes_chosen_in_c(html):
    from lxml import html as lxml_html

    from articles.text._blocks import HTML_PARSER, fragment

    ours = fragment(html)
    theirs = lxml_html.fragment_fromstring(html, create_parent="div")
    assert lxml_html.tostring(ours, encoding="unicode") == lxml_html.tostring(theirs, encoding="unicode")
    # The root, and so every element, lives in a document of our parser: no Python lookup per element.
    assert ours.getroottree().parser is HTML_PARSER
    assert all(isinstance(el, lxml_html.HtmlElement) for el in ours.iter() if isinstance(el.tag, str))


def test_inner_html_is_each_child_serialized_after_the_escaped_text():
    """One serialization of the root, its tags cut off, gives what lxml.html.tostring of
    each child gave after the escaped leading text: entities, raw non-ASCII, comments,
    void elements, a Content-Type <meta> dropped, and a root with attributes."""
    import html as html_lib

    from lxml import html as lxml_html

    from articles.text._blocks import fragment, inner_html

    def per_child(root):
        parts = [html_lib.escape(root.text, quote=False)] if root.text else []
        return "".join(parts + [lxml_html.tostring(c, encoding="unicode", with_tail=True) for c in root])

    samples = ["", "只有文字 & <符号>", "<p>一\xa0段</p>尾巴<!-- 注释 --><br><img src='a.png' alt='x>y'>",
               '前<meta http-equiv="Content-Type" content="text/html"><p>后</p>', "<table><tr><td>格</td></tr></table>",
               "<p>a</p>" * 50 + "tail &amp; more"]
    for sample in samples:
        root = fragment(sample)
        assert inner_html(root) == per_child(root), sample
        root.set("title", "a>b")
        assert inner_html(root) == per_child(root), sample


def test_search_lines_are_their_tokens_terms_as_the_loop_made_them():
    """A line's index terms, the sub-words of each token then the token, in order (the loop
    the index was first built with), also when the line's words come from the word memo."""
    seg = tokenizer._segmenter()

    def reference(line):
        out = []
        for token in seg.lower_line(line):
            if len(token) >= 3 and tokenizer._ALL_HAN_RE.match(token):
                for n in (2, 3):
                    if len(token) > n:
                        out.extend(token[i : i + n] for i in range(len(token) - n + 1) if seg.jieba.has_word(token[i : i + n]))
            elif "-" in token and token.isascii():
                out.extend(part for part in token.split("-") if part)
            out.append(token)
        return tuple(out)

    lines = [line for text in TEXTS for line in text.split("\n")] + ["人工智能芯片推理平台 DeepSeek-R1 --x- a-b-"]
    for line in lines * 2:  # the second time every raw token from the memo
        assert seg._search_line(line) == reference(line), line


def test_word_memo_answers_as_the_function_and_stays_bounded():
    from articles.text.memo import Memo

    memo = Memo(tokenizer._word, 3)
    raws = [" GPU.", "，", "Wi-Fi", "-R1", "英伟达", "\n", "4.5"]
    assert [memo[raw] for raw in raws * 2] == [tokenizer._word(raw) for raw in raws * 2]
    assert len(memo) <= 3
    for n, raw in enumerate(raws):  # an answer computed elsewhere (a batch) is kept, within the bound
        assert memo.remember(raw, str(n)) == str(n) and memo[raw] == str(n)
        assert len(memo) <= 3


def test_tag_keys_in_a_batch_are_the_keys_one_by_one():
    from articles.text import tagging

    names = ["NVIDIA", "ｎｖｉｄｉａ", "英偉達", "人工智慧", "#大模型#", "【芯片】", "", "Wi-Fi 7", "臺積電", "NVIDIA"]
    tagging._KEYS.clear()
    batched = tagging.tag_keys(names)  # the unknown names share one OpenCC call
    tagging._KEYS.clear()
    assert batched == [tagging.tag_key(name) for name in names]
    assert tagging.tag_keys(names) == batched  # all known now: straight from the memo


def test_collapsing_whitespace_skips_only_texts_the_regex_leaves_alone():
    from articles.text.sanitize import _one_space

    for code in range(0x110000):
        if 0xD800 <= code < 0xE000:
            continue
        for text in (chr(code), f"a{chr(code)}b", f"a {chr(code)}", f"{chr(code)}{chr(code)}"):
            assert _one_space(text) == re.sub(r"\s+", " ", text), hex(code)


def test_placeholder_images_are_told_as_the_case_blind_pattern_tells_them():
    import random

    from articles.text.sanitize import _PLACEHOLDER_RE, _is_placeholder

    words = ["data:", "about:", "placeholder", "blank.gif", "blank.png", "loading.svg", "lazyload.png", "lazy.gif",
             "grey.gif", "gray.gif", "spacer.gif", "pixel.gif", "transparent.png", "/1x1.", "https://", "x", "/", ".",
             "ſpacer.gif", "\u212ax", "İ", "blan\u212a.gif"]
    rnd = random.Random(7)
    for _ in range(20_000):
        url = "".join(rnd.choice(words) for _ in range(rnd.randint(0, 4)))
        url = "".join(ch.upper() if rnd.random() < 0.3 else ch for ch in url)
        assert _is_placeholder(url) == (_PLACEHOLDER_RE.search(url) is not None), url


def test_host_suffixes_match_as_the_loop_over_them_did():
    from articles.text.sanitize import HOTLINK_HOSTS, TRACKER_HOSTS, _host_matches

    for host in ["qpic.cn", "mmbiz.QPIC.cn.", "xqpic.cn", "qpic.cn.evil.com", "t.co", "at.co", "x.t.co", "", "."]:
        for suffixes in (HOTLINK_HOSTS, TRACKER_HOSTS):
            bare = host.lower().rstrip(".")
            assert _host_matches(host, suffixes) == any(bare == s or bare.endswith("." + s) for s in suffixes), host


def test_tidy_patterns_match_as_the_single_patterns_did():
    """<br> runs and <br>s at a paragraph's edges, each pattern opening with its literal, remove
    exactly what the earlier patterns (a group or an alternation in front) removed."""
    import random

    from articles.text import sanitize

    old_run = re.compile(r"(?:<br>\s*){3,}")
    old_edge = re.compile(r"(<p>)(?:\s*<br>)+|(?:<br>\s*)+(</p>)")
    parts = ["<p>", "</p>", "<br>", "<br>", " ", "\n", "x", "<b>", "\t", "<p >", "<br/>", "</p >"]
    rnd = random.Random(11)
    for _ in range(50_000):
        html = "".join(rnd.choice(parts) for _ in range(rnd.randint(0, 14)))
        assert sanitize._BR_RUN_RE.sub("<br><br>", html) == old_run.sub("<br><br>", html), html
        new = sanitize._BLOCK_BR_CLOSE_RE.sub("</p>", sanitize._BLOCK_BR_OPEN_RE.sub("<p>", html))
        assert new == old_edge.sub(lambda m: m.group(1) or m.group(2), html), html


def test_block_edges_are_trimmed_as_the_single_pattern_trimmed_them():
    """Spaces inside the edges of block elements: the opening-tag pattern and the replaced closing
    tags remove exactly what one alternation (its second branch opening with " +") removed."""
    import random

    from articles.text.normalize import _trim_block_edges

    old = re.compile(r"(<(?:p|h[2-6]|li|td|th|blockquote|figcaption|caption)\b[^>]*>) +"
                     r"| +(</(?:p|h[2-6]|li|td|th|blockquote|figcaption|caption)>)")
    parts = ["<p>", "</p>", " ", " ", "  ", "x", "<p class='a'>", "<pre>", "</pre>", "</caption>",
             "</figcaption>", "<h2>", "</h2>", "<h1>", "</h1>", "<li >", "</li>", "<th>", "</td>", ">", "</"]
    rnd = random.Random(5)
    for _ in range(50_000):
        html = "".join(rnd.choice(parts) for _ in range(rnd.randint(0, 12)))
        assert _trim_block_edges(html) == old.sub(lambda m: m.group(1) or m.group(2), html).strip(), html


@pytest.mark.parametrize("html", [
    "<p>由<b class='&#102;lag-5'>NVIDIA</b>共同推动</p>",
    "<p>由<b class='fl&#x61;g-5'>NVIDIA</b>共同推动，&amp;lt;b class='flag-5'&gt;</p>",
    "<p>&lt;b class=&#39;flag-5&#39;&gt;GPU&lt;/b&gt;需求旺盛</p>",
    "<p>&lt;b class='&#102;lag-5'&gt;GPU&lt;/b&gt;</p>",
    "<p>&fjlig;lag-5 <b class='&fjlig;lag-1'>x</b></p>",
    "<p>没有任何标记</p>",
])
def test_portal_leftovers_are_looked_for_unless_the_markup_cannot_hold_them(monkeypatch, html):
    """The tree is searched for "flag-" only when the markup has it or a numeric reference
    (no named one decodes to f, l, a, g or -): the same HTML as searching every time."""
    from articles.text import sanitize

    fast = sanitize.clean_html(html, base_url="https://example.com/")
    calls = []
    real = sanitize._unwrap_flag_leftovers
    monkeypatch.setattr(sanitize, "_unwrap_flag_leftovers", lambda root: calls.append(1) or real(root))
    monkeypatch.setattr(sanitize, "_may_hold_flag_leftovers", lambda html: True)
    assert sanitize.clean_html(html, base_url="https://example.com/") == fast
    assert calls


def test_no_named_reference_decodes_to_a_character_of_the_flag_mark():
    from html.entities import html5

    from articles.text._blocks import fragment

    for name, value in html5.items():
        root = fragment(f"<p class='&{name}'>&{name}</p>")
        decoded = "".join(root.itertext()) + (root[0].get("class") or "")
        assert "flag-" not in decoded, name
        assert not (set(value) & set("flag-")) or name.startswith("fjlig"), name  # "fj": never "fl"
