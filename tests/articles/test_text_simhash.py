"""Near-duplicates: one announcement from three sites groups; same-topic stories don't."""
from __future__ import annotations

import itertools

from articles.text.simhash import bands, hamming, is_near_duplicate, shingle_tokens, simhash
from articles.text.tokenizer import search_tokens

from .fixtures import reposts

REPOSTS = [reposts.REPOST_ITHOME, reposts.REPOST_WECHAT, reposts.REPOST_PORTAL]
OTHERS = [reposts.EARNINGS, reposts.RIVAL_CHIP]


def _hash(text: str) -> int:
    return simhash(shingle_tokens(text))


def _shared_body_share(text: str) -> float:
    return len(reposts.ANNOUNCEMENT) / len(text)


def test_fixture_really_has_different_chrome():
    for text in REPOSTS:
        assert 0.7 <= _shared_body_share(text) < 0.9
    assert len(set(REPOSTS)) == 3


def test_reposts_with_different_chrome_are_grouped():
    hashes = [_hash(t) for t in [reposts.ANNOUNCEMENT, *REPOSTS]]
    for a, b in itertools.combinations(hashes, 2):
        assert is_near_duplicate(a, b), hamming(a, b)


def test_different_stories_on_the_same_topic_are_not_grouped():
    story = _hash(reposts.REPOST_ITHOME)
    others = [_hash(t) for t in OTHERS]
    for other in others:
        assert not is_near_duplicate(story, other)
        assert hamming(story, other) > 8  # not a near miss
    assert not is_near_duplicate(*others)


def test_reposts_share_a_band_for_the_index_lookup():
    hashes = [_hash(t) for t in REPOSTS]
    for a, b in itertools.combinations(hashes, 2):
        assert set(enumerate(bands(a))) & set(enumerate(bands(b)))


def test_value_is_a_signed_int64_and_stable():
    value = _hash(reposts.ANNOUNCEMENT)
    assert -(2**63) <= value < 2**63
    assert value == _hash(reposts.ANNOUNCEMENT)
    # blake2b feature hashes: a fixed value, not dependent on PYTHONHASHSEED
    assert simhash(["英伟达", "英伟达", "推理"]) == simhash(["推理", "英伟达", "英伟达"])
    assert simhash(["nvidia"]) == simhash(["nvidia", "的", "了", "a"])  # grammar words ignored


def test_signed_values_cover_the_high_bit():
    values = {simhash([f"词{i}", f"word{i}"]) for i in range(64)}
    assert any(v < 0 for v in values) and any(v > 0 for v in values)


def test_hamming_works_on_signed_and_unsigned():
    assert hamming(-1, 0) == 64
    assert hamming(-1, 2**64 - 1) == 0
    assert hamming(0b1011, 0b0001) == 2


def test_empty_input():
    assert simhash([]) == 0
    assert shingle_tokens("") == []


def test_bands_are_16_bit_and_reassemble():
    value = _hash(reposts.EARNINGS)
    parts = bands(value)
    assert all(0 <= p <= 0xFFFF for p in parts)
    assert sum(p << (16 * i) for i, p in enumerate(parts)) == value & (2**64 - 1)


def test_shingle_tokens_drop_edge_chrome_and_datelines():
    tokens = shingle_tokens(reposts.REPOST_ITHOME)
    assert "广告" not in tokens and "甄选" not in tokens
    assert tokens[:3] == search_tokens("英伟达宣布推出")[:3]
    assert "英伟达" in tokens and "blackwell" in tokens


def test_chrome_removal_never_eats_most_of_a_short_text():
    text = "点击上方蓝字关注我们\n英伟达发布新芯片\n推荐阅读：往期精选"
    assert "英伟达" in shingle_tokens(text)
