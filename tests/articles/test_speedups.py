"""The compiled kernels (native/newsroom_speedups.c) give exactly what their Python
versions give: stored search vectors and SimHashes must not depend on whether the
machine that wrote them had a C compiler.

The module is imported directly: a build that broke fails these tests, it does not
quietly fall back to the slower Python versions."""
from __future__ import annotations

import random

import newsroom_speedups
import pytest

from articles import search
from articles.text import simhash as simhash_module
from articles.text import tagging, tokenizer
from articles.text.tokenizer import search_tokens


def test_the_kernel_is_the_one_the_pipeline_uses():
    assert search._speedups is newsroom_speedups
    assert simhash_module._speedups is newsroom_speedups
    assert tagging._speedups is newsroom_speedups
    assert tokenizer._speedups is newsroom_speedups


def test_compiled_limits_are_the_python_ones():
    assert newsroom_speedups.constants() == {
        "MAX_POSITION": search._MAX_POSITION,
        "WRAP_JOINED": search._WRAP_JOINED,
        "CLAMP": search._CLAMP,
        "MAX_POSITIONS_PER_LEXEME": search._MAX_POSITIONS_PER_LEXEME,
        "MAX_LEXEME_BYTES": search._MAX_LEXEME_BYTES,
    }


# Characters where the two could part ways: Han inside and at the edges of the ranges
# (U+3400, U+F900; U+20000 is past them, a "Latin" run for both), Latin with digits,
# Unicode digits and numerals (², ٣, Ⅷ: alphanumeric, some not decimal), a lowercase
# that grows (İ), underscores and hyphens (not word characters), quotes and backslashes
# (escaped in the literal), full-width forms (folded first), whitespace of several kinds.
_ALPHABET = [*"英伟达推理芯片的是模型a1B2_ -'\\\n\t.,，。", "\u3400", "\u4dbf", "\u9fff", "\uf900", "\ufaff",
             "Ⅷ", "²", "٣", "İ", "\U00020000", "ß", "Ｒ", "\u3000", "\xa0", "é"]


def _random_text(rnd: random.Random, size: int) -> str:
    run = rnd.choice([1, 3, 300, 20_000])
    parts: list[str] = []
    length = 0
    while length < size:
        ch = rnd.choice(_ALPHABET)
        part = ch * rnd.randint(1, run) if rnd.random() < 0.1 else ch
        parts.append(part)
        length += len(part)
    return "".join(parts)[:size]


def _both(**fields) -> tuple[str, str]:
    return search.build_vector(**fields), search._build_vector_py(**fields)


@pytest.mark.parametrize("seed", range(6))
def test_search_vectors_of_random_texts_are_the_python_builders(seed):
    rnd = random.Random(seed)
    for n in range(40):
        # Sizes from a word to past MAX_INDEX_CHARS; some long enough to wrap positions several times.
        text = _random_text(rnd, rnd.choice([0, 5, 60, 700, 6_000, 40_000 if n % 8 == 0 else 3_000, 70_000 if n == 0 else 9]))
        title = text[: rnd.randint(0, 80)]
        words = ["", "英伟达", "a'b", "x\\y", "推理", "z" * 60, "é" * 51, "Ⅷ²", "_"]
        tokens = [rnd.choice(words) for _ in range(rnd.choice([0, 30, 400, 17_000 if n % 10 == 0 else 50]))]
        compiled, python = _both(title=title, body_text=text, title_tokens=tokens[:7], body_tokens=tokens)
        assert compiled == python, (seed, n, text[:60])


def test_search_vectors_of_real_article_text_are_the_python_builders():
    from tests.articles.test_text_fastpaths import TEXTS

    for text in [*TEXTS, "O'Reilly 发布 C:\\temp 工具。" + "英伟达芯片。" * 4000]:
        title = "英伟达 Blackwell 推理芯片：It's here"
        compiled, python = _both(title=title, body_text=text, title_tokens=search_tokens(title),
                                 body_tokens=search_tokens(text))
        assert compiled == python


def test_the_kernel_refuses_what_the_builder_never_passes():
    with pytest.raises(TypeError):
        newsroom_speedups.build_vector("a", "b", [1], [])
    with pytest.raises(TypeError):
        newsroom_speedups.build_vector(b"a", "b", [], [])
    with pytest.raises(TypeError):
        newsroom_speedups.simhash_tokens([1, "ab"], frozenset(), {}, float, hash)
    with pytest.raises(TypeError):
        newsroom_speedups.tag_runs(["a", None], {}, frozenset(), 4)


def _simhash_python(tokens, monkeypatch) -> int:
    with monkeypatch.context() as patch:
        patch.setattr(simhash_module, "_speedups", None)
        return simhash_module.simhash(tokens)


@pytest.mark.parametrize("seed", range(4))
def test_simhashes_are_the_python_ones(seed, monkeypatch):
    rnd = random.Random(seed)
    # Few distinct words repeated: sums that cancel exactly, where the order of additions shows.
    vocabulary = ["英伟达", "推理芯片", "甲乙丙丁", "戊己庚辛", "壬癸子丑", "寅卯辰巳", "模型", "rtx5090", "blackwell", "的"]
    for _ in range(60):
        words = vocabulary[: rnd.randint(1, len(vocabulary))] + [f"词{rnd.randint(0, 5000)}" for _ in range(rnd.randint(0, 300))]
        tokens = [rnd.choice(words) for _ in range(rnd.randint(0, 600))]
        assert simhash_module.simhash(tokens) == _simhash_python(tokens, monkeypatch)


def test_simhash_of_nothing_to_weigh_is_zero_either_way(monkeypatch):
    assert simhash_module.simhash(["的", "a"]) == _simhash_python(["的", "a"], monkeypatch) == 0
    assert newsroom_speedups.simhash_tokens([], frozenset(), {}, float, hash) == 0


def _matches_python(tokens, vocabulary, monkeypatch) -> list[str]:
    with monkeypatch.context() as patch:
        patch.setattr(tagging, "_speedups", None)
        return tagging._matches(tokens, vocabulary)


@pytest.mark.parametrize("seed", range(4))
def test_tag_runs_are_the_python_matches(seed, monkeypatch):
    """Runs of up to four tokens, prefixes that lead nowhere, compounds holding tags
    (longest first, never overlapping), Han at the edges of the ranges, empty keys."""
    rnd = random.Random(seed)
    pieces = ["英伟达", "推理", "芯片", "开源", "社区", "大模型", "rtx", "5090", "deep", "seek", "r1", "的", "", " ",
              "\u3400甲", "乙\u9fff", "\uf900丙", "数据中心", "光刻机", "A", "b-c", "Ｎ", "云"]
    for _ in range(40):
        names = {"".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 4))) for _ in range(rnd.randint(1, 40))}
        vocabulary = tagging.Vocabulary(tagging.build_vocabulary(names))
        if rnd.random() < 0.3:
            vocabulary[rnd.choice(list(vocabulary) or ["x"])] = ""  # a key whose name is empty: no match
        for _ in range(20):
            tokens = [rnd.choice(pieces + [n for n in names if len(n) < 8]) for _ in range(rnd.randint(0, 60))]
            assert tagging._matches(tokens, vocabulary) == _matches_python(tokens, vocabulary, monkeypatch)


def test_tag_runs_of_real_article_text_are_the_python_matches(monkeypatch):
    from articles.tags import _default_vocabulary
    from articles.text.tokenizer import segment

    vocabulary = tagging.Vocabulary(_default_vocabulary())
    text = ("英伟达发布Blackwell推理芯片，数据中心需求旺盛；开源社区的大模型DeepSeek-R1在昇腾上运行。"
            "台积电3nm工艺、光刻机与HBM内存供不应求，AMD、Intel和高通也在AI PC上发力。") * 3
    tokens = segment(text)
    found = tagging._matches(tokens, vocabulary)
    assert found and found == _matches_python(tokens, vocabulary, monkeypatch)


def _keywords_python(text, top_k, monkeypatch) -> list[str]:
    with monkeypatch.context() as patch:
        patch.setattr(tokenizer, "_speedups", None)
        return tokenizer.keywords(text, top_k=top_k)


@pytest.mark.parametrize("seed", range(4))
def test_keywords_are_the_python_ones(seed, monkeypatch):
    """Surface forms of one word in several cases (the most common one, the first of
    equals), stopwords, numbers of every kind (3.5%, ٣٤, -1), one-character words,
    equal scores (first appearance first), top_k past the candidates and zero."""
    rnd = random.Random(seed)
    words = ["英伟达", "NVIDIA", "Nvidia", "nvidia", "推理", "芯片", "的", "我们", "3.5%", "٣٤", "-1", "12", "ab", "AB",
             "Ab", "a", "模型", "大模型", "Blackwell", "blackwell", "GPU", "gpu", "数据中心", "İstanbul", "ß", "the", "x1"]
    for _ in range(60):
        text = " ".join(rnd.choice(words) for _ in range(rnd.randint(0, 120)))
        for top_k in (0, 1, 5, 15, 100):
            assert tokenizer.keywords(text, top_k=top_k) == _keywords_python(text, top_k, monkeypatch), (text, top_k)


def test_keywords_of_real_article_text_are_the_python_ones(monkeypatch):
    text = ("英伟达发布Blackwell推理芯片，NVIDIA称数据中心需求旺盛；nvidia的GPU在大模型训练中领先。"
            "台积电3nm工艺、光刻机与HBM内存供不应求，AMD、Intel和高通也在AI PC上发力，价格上涨3.5%。") * 4
    found = tokenizer.keywords(text, top_k=15)
    assert found and found == _keywords_python(text, 15, monkeypatch)
