"""The whole pure pipeline on the model page, in the documented order:
clean_html → normalize_html → check_spam → extract_attribution → suggest_tags."""
from __future__ import annotations

import re
from pathlib import Path

from articles.text.attribution import extract_attribution
from articles.text.normalize import normalize_html, normalize_title
from articles.text.sanitize import clean_html, html_to_text
from articles.text.simhash import shingle_tokens, simhash
from articles.text.spam import check_spam
from articles.text.tagging import DEFAULT_ALIASES, build_vocabulary, suggest_tags
from articles.text.tokenizer import keywords, search_tokens
from newsroom.imagesign import unsign_image_url

MODEL_PAGE = Path(__file__).parent / "fixtures" / "model_page.html"
PAGE_URL = "https://www.elec-mirror.example/article/2025/1119.html"
RAW_TITLE = "英偉達(dá)發(fā)布新一代AI推理平台"
TAG_NAMES = ["NVIDIA", "GPU", "AI", "开源", "大模型", "芯片", "数据中心", "华为", "AMD", "苹果", "昇腾"]


def run_pipeline():
    raw = MODEL_PAGE.read_text(encoding="utf-8")
    body = clean_html(raw, base_url=PAGE_URL)
    body = normalize_html(body, convert_traditional=True)
    title = normalize_title(RAW_TITLE, convert_traditional=True)
    verdict = check_spam(body, title=title)
    attribution = extract_attribution(verdict.html)
    text = html_to_text(attribution.html)
    tags = suggest_tags(title=title, text=text, vocabulary=build_vocabulary(TAG_NAMES, DEFAULT_ALIASES))
    return raw, title, verdict, attribution, text, tags


def test_model_page_spam_line_is_removed():
    raw, _, verdict, attribution, text, _ = run_pipeline()
    assert "百家樂" in raw  # the injected line is really there …
    assert len(verdict.removed) == 1 and "百家乐" in verdict.removed[0]
    for word in ("葡京", "百家乐", "六合彩", "时时彩", "赌场"):
        assert word not in attribution.html and word not in text
    assert not verdict.should_moderate and not verdict.title_is_spam


def test_model_page_is_simplified_without_pinyin():
    _, title, _, attribution, text, _ = run_pipeline()
    assert title == "英伟达发布新一代AI推理平台"
    assert "系统消息" in text and "评论与回复" in text
    assert not re.search(r"\([a-zü]*[āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ][a-zü]*\)", attribution.html)
    for traditional in ("英偉達", "發", "數", "統", "評論", "開源", "雲", "產"):
        assert traditional not in text
    assert "(LLM)" in text and "(SLO)" in text  # real parentheses survive


def test_model_page_markup_is_clean():
    _, _, _, attribution, _, _ = run_pipeline()
    body = attribution.html
    assert "flag" not in body and "class=" not in body and "<b" not in body  # leftovers unwrapped
    assert "<script" not in body and "onclick" not in body and "javascript:" not in body and "<form" not in body
    assert "hm.baidu.com" not in body and "pixel.gif" not in body and "data:" not in body and "loading.gif" not in body
    proxied = [unsign_image_url(t) for t in re.findall(r'src="/img/([^"/]+)/"', body)]
    assert proxied == [
        "https://mmbiz.qpic.cn/mmbiz_jpg/Xy12AbCdEf/640?wx_fmt=jpeg&from=appmsg",
        "https://mmbiz.qpic.cn/mmbiz_png/Xy12AbCdEf/640?wx_fmt=png",
    ]
    assert 'src="https://www.elec-mirror.example/uploads/2025/11/rack.jpg"' in body  # <base href> honoured
    assert 'href="https://www.elec-mirror.example/news/nvidia-gtc.html" rel="nofollow noopener noreferrer"' in body
    assert body.count('referrerpolicy="no-referrer"') == 3


def test_model_page_attribution_extracted_and_removed():
    _, _, _, attribution, text, _ = run_pipeline()
    assert attribution.original_title == "英伟达发布新一代推理平台，性能提升30倍"
    assert attribution.origin_account == "芯视界"
    assert attribution.author == "周明"
    assert "原文标题" not in text and "文章出处" not in text and "转载请注明出处" not in text


def test_model_page_tags():
    *_, tags = run_pipeline()
    assert tags[0] == "NVIDIA"
    assert {"NVIDIA", "AI", "GPU", "开源", "数据中心"} <= set(tags)
    assert not {"华为", "苹果", "AMD", "昇腾"} & set(tags)


def test_model_page_keywords_and_index_tokens_have_no_markup_or_pinyin():
    raw, title, _, _, text, _ = run_pipeline()
    for words in (keywords(f"{title} {text}", top_k=20), keywords(raw, top_k=30)):
        lowered = {w.lower() for w in words}
        assert not lowered & {"class", "flag", "flag-5", "b", "sh", "ng", "gu", "li", "tǒng"}
    assert "英伟达" in keywords(f"{title} {text}", top_k=5)
    tokens = set(search_tokens(text))
    assert {"英伟达", "nvidia", "blackwell", "gpu", "推理", "开源"} <= tokens
    assert not tokens & {"class", "flag", "tǒng", "fù"}


def test_model_page_repost_hash_is_stable():
    *_, text, _ = run_pipeline()
    assert simhash(shingle_tokens(text)) == simhash(shingle_tokens(text + "\n点击上方蓝字关注我们"))
