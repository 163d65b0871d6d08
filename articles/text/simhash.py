"""Step 5 (near-duplicates): 64-bit SimHash over segmented text.

Reposts of one vendor announcement share the body and differ in their chrome:
a dateline ("IT之家 11 月 19 日消息，"), a follow-us header, a footer with
"推荐阅读" and a disclaimer. Measured on our repost fixtures, a plain
frequency-weighted SimHash puts such copies 5–11 bits apart, far from the
Hamming-3 neighbourhood the database bands can find. So:

* ``shingle_tokens(text)`` drops chrome lines at the edges of the text
  (short lines, follow/disclaimer/recommendation lines, at most 35 % of it) and
  the dateline prefix of the first line, then tokenizes with ``search_tokens``;
* ``simhash`` weights each word by frequency × estimated IDF, so the story's
  own repeated terms (英伟达, Blackwell, 推理) carry the hash and stray words
  do not. One-character words and function words are ignored.

With both, the copies land 0–2 bits apart and different stories on the same
topic 18+. Feature hashes use blake2b: Python's ``hash()`` is salted per
process and would make stored values meaningless across workers.

The value is a *signed* int64 (fits a PostgreSQL bigint). Two hashes within
Hamming distance 3 share at least one of the four 16-bit ``bands`` (pigeonhole),
which is what the database index looks up.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

from newsroom.speedups import speedups as _speedups

__all__ = ["DEFAULT_THRESHOLD", "bands", "hamming", "is_near_duplicate", "shingle_tokens", "simhash"]

DEFAULT_THRESHOLD = 3
_BITS = 64
_MASK = (1 << _BITS) - 1

# Grammar words: frequent everywhere, so they pull every hash toward the same value.
_IGNORED = frozenset(
    """
    的 了 在 是 和 与 及 等 也 都 就 将 被 把 对 从 到 为 以 而 之 其 该 此 这 那 有 个 一 上 下 中 或 并 但 又
    我们 他们 这个 一个 没有 可以 已经 就是 以及 或者 因为 所以 但是 如果 其中 目前 表示 进行 通过 对于 关于 此外 同时
    the a an of to in and or for with on is are be by as at from that this it
    """.split()
)


def _feature_hash(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "big")


_cached_hash = lru_cache(maxsize=65536)(_feature_hash)  # words recur across articles


_BYTE_SIGNS = tuple(tuple(1.0 if (byte >> bit) & 1 else -1.0 for bit in range(8)) for byte in range(256))


@lru_cache(maxsize=65536)
def _feature_signs(token: str) -> tuple[float, ...]:
    """The token's hash bits as +1.0 / -1.0, low bit first (cached: words recur across articles)."""
    signs: tuple[float, ...] = ()
    for byte in _feature_hash(token).to_bytes(8, "little"):
        signs += _BYTE_SIGNS[byte]
    return signs


def _to_signed(value: int) -> int:
    value &= _MASK
    return value - (1 << _BITS) if value >> (_BITS - 1) else value


def _is_feature(token: str) -> bool:
    return len(token) >= 2 and token not in _IGNORED


# All 64 bit-sums at once: each token adds weight × (its set bits spread into 64
# lanes of one big int), so a token costs one C-level multiply-add, not 64 Python ones.
_SCALE = 1 << 32  # weights as integers: 32 fractional bits
_LANE = 96  # bits per lane: room for the sum of any number of scaled weights we will see


@lru_cache(maxsize=1)
def _byte_lanes() -> tuple[tuple[int, ...], ...]:
    """[i][byte]: the lanes of the 8 bits of hash byte i (little-endian) set in ``byte``
    (~1 MB, made on the first hash, not at import)."""
    return tuple(
        tuple(sum(1 << (_LANE * (8 * i + bit)) for bit in range(8) if (byte >> bit) & 1) for byte in range(256))
        for i in range(8)
    )


@lru_cache(maxsize=65536)
def _feature_lanes(token: str) -> int:
    lanes = 0
    for table, byte in zip(_byte_lanes(), _feature_hash(token).to_bytes(8, "little")):
        lanes |= table[byte]
    return lanes


def _float_bit(weighted: list[tuple[float, str]], bit: int) -> bool:
    # weight × ±1.0 is exactly ±weight, summed in token order: the reference definition.
    total = 0.0
    for weight, token in weighted:
        total += weight * _feature_signs(token)[bit]
    return total > 0


def simhash(tokens: Iterable[str]) -> int:
    """Charikar SimHash of ``tokens`` weighted by frequency × IDF, as a signed
    int64. Feed it ``shingle_tokens(text)`` (see the module docstring).

    Bit b is set when the weights of the tokens with hash bit b outweigh the
    rest. That is decided in integers for all bits at once; a bit too close to
    call there (within the rounding of the scaled weights, far wider than the
    float sum's own error) is decided by the float sum in token order, so the
    value is exactly the plain float loop's and stored hashes stay valid."""
    from .tokenizer import idf_lookup, idf_table

    if _speedups is not None:  # all of it, compiled: the counting and weighing below, and the float loop
        cache, idf = idf_table()
        tokens = tokens if isinstance(tokens, list) else list(tokens)
        return _to_signed(_speedups.simhash_tokens(tokens, _IGNORED, cache, idf, _cached_hash))
    idf = idf_lookup()
    weighted = [(count * idf(token), token) for token, count in Counter(tokens).items() if _is_feature(token)]
    if not weighted:
        return 0
    acc = 0
    total = 0
    for weight, token in weighted:
        scaled = int(weight * _SCALE)
        acc += scaled * _feature_lanes(token)
        total += scaled
    # Truncation costs < 1 per token in each sum; the float loop's error is ~2^-52 of the total.
    margin = 4 * len(weighted) + (total >> 24)
    value = 0
    lanes = acc.to_bytes(_LANE * _BITS // 8, "little")  # one conversion, not 64 shifts of a 6,144-bit int
    width = _LANE // 8
    for bit in range(_BITS):
        diff = 2 * int.from_bytes(lanes[bit * width : (bit + 1) * width], "little") - total  # ≈ (set − unset) × _SCALE
        if diff > margin or (diff >= -margin and _float_bit(weighted, bit)):
            value |= 1 << bit
    return _to_signed(value)


def hamming(a: int, b: int) -> int:
    """Number of differing bits; accepts signed or unsigned 64-bit values."""
    return ((a ^ b) & _MASK).bit_count()


def is_near_duplicate(a: int, b: int, threshold: int = DEFAULT_THRESHOLD) -> bool:
    return hamming(a, b) <= threshold


def bands(value: int) -> tuple[int, int, int, int]:
    """The four 16-bit bands (0..65535), low bits first, for candidate lookup."""
    b0, b1, b2, b3 = ((value >> (16 * i)) & 0xFFFF for i in range(4))
    return b0, b1, b2, b3


# --- chrome removal -------------------------------------------------------------

_CHROME_MARKERS = (
    "关注", "点赞", "在看", "转发", "推荐阅读", "往期", "声明", "版权", "转载", "阅读原文", "热点文章", "更多精彩",
    "更多内容", "编辑：", "编辑:", "作者：", "作者:", "来源：", "来源:", "本文来自", "经授权", "回放", "二维码", "扫码",
    "下期再见", "原文链接", "相关阅读", "延伸阅读", "责任编辑",
)
_CHROME_LINE_MAX = 40  # body paragraphs are longer; edge lines this short are chrome
_CHROME_BUDGET = 0.35  # never drop more than this share of the text
_EDGE_LINES = 4
_DATELINE_RES = tuple(
    re.compile(p)
    for p in (
        r"^[^，。,\n]{0,24}?\d{1,2}\s*月\s*\d{1,2}\s*日\s*(?:电|讯|消息|报道)?\s*[，,：:\s]\s*",  # IT之家 11 月 19 日消息，
        r"^[【\[][^】\]\n]{1,16}[】\]]\s*",  # 【TechWeb】
        r"^[^，。,\n]{0,16}?(?:消息|报道|讯)\s*(?:[（(][^）)\n]{0,16}[）)])?\s*[，,：:\s]?\s*",  # 集微网消息，/ …报道（文/李明）
        r"^据[^，。,\n]{0,20}[，,]\s*",  # 据外媒报道，
        r"^(?:近日|日前|今日|今天|昨日|昨天)\s*[，,]?\s*",
    )
)


def _is_chrome(line: str) -> bool:
    return len(line) < _CHROME_LINE_MAX or any(marker in line for marker in _CHROME_MARKERS)


def _strip_chrome(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    budget = _CHROME_BUDGET * sum(map(len, lines))
    dropped = 0
    for edge in (0, -1):
        for _ in range(_EDGE_LINES):
            if len(lines) > 1 and _is_chrome(lines[edge]) and dropped + len(lines[edge]) <= budget:
                dropped += len(lines.pop(edge))
            else:
                break
    if lines:
        first = lines[0]
        for _ in range(3):  # datelines stack: "【X】11月19日消息，据外媒报道，"
            before = first
            for pattern in _DATELINE_RES:
                first = pattern.sub("", first, count=1)
            if first == before:
                break
        lines[0] = first
    return "\n".join(lines)


def shingle_tokens(text: str) -> list[str]:
    """Features for ``simhash`` from plain text (``html_to_text`` output, one
    line per block): edge chrome and the dateline removed, then the same
    tokens the search index uses."""
    from .tokenizer import search_tokens

    return search_tokens(_strip_chrome(text))
