"""The one tokenizer: user dictionary, search sub-words, keywords, runtime words."""
from __future__ import annotations

import threading

from articles.text import tokenizer
from articles.text.tokenizer import keywords, load_user_words, search_tokens, segment


def test_brand_and_tech_words_stay_whole():
    tokens = segment("英伟达发布Blackwell GPU，华为昇腾910B芯片与大模型推理算力")
    for word in ("英伟达", "blackwell", "gpu", "华为", "昇腾", "910b", "芯片", "大模型", "推理", "算力"):
        assert word in tokens
    assert "伟达" not in tokens and "英" not in tokens


def test_numbers_with_units_and_model_names_are_single_tokens():
    tokens = segment("支持5G与Wi-Fi 7，采用3nm工艺，对标RTX4090")
    assert {"5g", "wi-fi", "3nm", "rtx4090"} <= set(tokens)


def test_punctuation_and_whitespace_are_dropped_and_latin_lowercased():
    tokens = segment("  NVIDIA，发布！！ GPU.  （测试）—— ")
    assert tokens == ["nvidia", "发布", "gpu", "测试"]


def test_fullwidth_latin_is_the_same_token_as_ascii():
    assert segment("ＧＰＵ") == segment("GPU") == ["gpu"]


def test_search_tokens_add_dictionary_subwords_so_short_queries_match_long_words():
    tokens = search_tokens("推理芯片性能提升")
    assert "推理芯片" in tokens
    assert "推理" in tokens and "芯片" in tokens
    # a query is cut the same way: every query term is in the document's tokens
    assert set(search_tokens("推理")) <= set(tokens)
    assert set(search_tokens("推理芯片")) <= set(tokens)


def test_search_tokens_split_hyphenated_latin():
    tokens = search_tokens("DeepSeek-R1 发布")
    assert "deepseek-r1" in tokens and "deepseek" in tokens and "r1" in tokens


def test_search_tokens_query_and_document_agree_for_brand_names():
    doc = set(search_tokens("英伟达昇腾鸿蒙大模型"))
    for query in ("英伟达", "昇腾", "鸿蒙", "大模型"):
        assert set(search_tokens(query)) <= doc


def test_keywords_ignore_markup_and_pinyin_artifacts():
    html = (
        "<p><b class='flag-5'>NVIDIA</b> 发布 Blackwell 架构 GPU。<b class='flag-5'>NVIDIA</b> 表示，"
        "新 GPU 在大模型推理上的性能是 Hopper 的 30 倍。系統(tǒng)消息：評論與回復(fù)。</p>"
    )
    words = keywords(html, top_k=15)
    lowered = {w.lower() for w in words}
    assert "NVIDIA" in words and "GPU" in words  # most common surface form kept
    assert not lowered & {"class", "flag", "flag-5", "b", "p"}
    assert not lowered & {"tǒng", "fù", "sh", "ng", "gu"}


def test_keywords_rank_specific_words_above_common_ones():
    text = "英伟达发布推理芯片。英伟达称推理芯片性能提升。我们认为这是一个重要的发布。"
    words = keywords(text, top_k=3)
    assert words[0] in ("英伟达", "推理芯片")
    assert "我们" not in keywords(text, top_k=10) and "一个" not in keywords(text, top_k=10)


def test_keywords_top_k_and_empty_input():
    assert keywords("", 5) == []
    assert len(keywords("英伟达 华为 小米 百度 腾讯 阿里云 字节跳动", top_k=3)) == 3


def test_load_user_words_teaches_new_tag_names():
    assert "量子位芯" not in segment("量子位芯发布")
    assert load_user_words(["量子位芯", "英伟达", "   ", "two words"]) == 1
    assert "量子位芯" in segment("量子位芯发布")
    assert load_user_words(["量子位芯"]) == 0  # already known: no rebuild


def test_latin_tag_names_are_known_without_a_rebuild(monkeypatch):
    """A tag name without Han characters teaches jieba nothing (it never splits a Latin run):
    the segmenter that knows it is a copy sharing the rjieba instance, not a ~0.1 s rebuild.
    A Han name still rebuilds, and the live instance is never changed."""
    built = []
    real = tokenizer.rjieba.Jieba
    monkeypatch.setattr(tokenizer.rjieba, "Jieba", lambda: built.append(1) or real())
    before = tokenizer._segmenter()
    text = "Zorbanetes 1.31 发布，Q7xk 与 RIZC-V 版本跟进"
    cut_before = segment(text)
    assert load_user_words(["Zorbanetes", "Q7xk", "RIZC-V"]) == 3
    after = tokenizer._segmenter()
    assert built == [] and after is not before and after.jieba is before.jieba
    assert after.knows("zorbanetes") and after.knows("rizc-v") and not before.knows("q7xk")
    assert segment(text) == cut_before and tokenizer.idf("q7xk") == before.idf("q7xk")
    assert load_user_words(["zorbanetes", "Q7XK"]) == 0
    assert load_user_words(["鸿蒙星河版"]) == 1 and built == [1]
    assert "鸿蒙星河版" in segment("鸿蒙星河版发布")


def test_segmenter_is_a_process_singleton():
    first = tokenizer._segmenter()
    segment("英伟达")
    assert tokenizer._segmenter() is first


def test_segmenting_while_words_are_added_is_safe():
    # rjieba raises "Already borrowed" if a word is added during a cut on the
    # same instance; load_user_words must never mutate the live one.
    text = "英伟达发布推理芯片，性能提升三十倍。" * 5000
    errors: list[BaseException] = []

    def cut() -> None:
        try:
            for _ in range(3):
                segment(text)
        except BaseException as exc:  # pragma: no cover - the failure we guard against
            errors.append(exc)

    threads = [threading.Thread(target=cut) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(5):
        load_user_words([f"并发新词{i}号"])
    for t in threads:
        t.join()
    assert errors == []
