"""The one Chinese tokenizer: indexing, tagging, keywords and search queries.

rjieba (Rust jieba, ~30× the pure-Python one) with our user dictionary
(articles/data/userdict.txt) so that 英伟达, 昇腾, 大模型 stay whole — the stock
dictionary splits 英伟达 into 英/伟达 and a search for it then finds nothing.
Every caller must go through this module so that documents and queries are
cut the same way.

The segmenter is a lazily built per-process singleton. rjieba releases the GIL
while cutting and raises "Already borrowed" if a word is added meanwhile, so
new words never mutate the live instance: ``load_user_words`` builds a fresh
segmenter and swaps the reference (copy-on-write). Readers never lock.
"""
from __future__ import annotations

import copy
import logging
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path

import rjieba

from newsroom.speedups import speedups as _speedups

from .memo import Memo
from .normalize import fold_width, strip_pinyin

__all__ = [
    "idf", "idf_lookup", "keywords", "load_user_words", "search_tokens", "segment", "set_user_word_loader",
    "user_dict_path", "warm_tokenizer",
]

log = logging.getLogger(__name__)

_USERDICT = Path(__file__).resolve().parent.parent / "data" / "userdict.txt"
# Sum of frequencies in jieba's stock dictionary (dict.txt): the IDF denominator.
_DICT_TOTAL = 60_101_967
# A word the stock dictionary never saw (≈ jieba.analyse's median IDF, a bit
# above). Our curated user words get the same value on purpose: a tag name
# added at runtime then does not change any word's IDF (stored SimHashes use it).
_IDF_UNKNOWN = 12.0
_IDF_USER = _IDF_UNKNOWN
_IDF_MIN, _IDF_MAX = 2.0, 14.0

_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_ALL_HAN_RE = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff]+$")
_TAG_RE = re.compile(r"</?[a-zA-Z][^<>]*>|&[a-zA-Z#0-9]+;")
_LINE_CACHE = 2048  # lines (paragraphs): the reuse is within one article, a few MB at most


def user_dict_path() -> Path:
    return _USERDICT


def _read_user_dict(path: Path) -> list[tuple[str, int | None]]:
    entries: list[tuple[str, int | None]] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        bits = line.split()
        freq = int(bits[1]) if len(bits) > 1 and bits[1].isdigit() else None
        entries.append((bits[0], freq))
    return entries


def _teaches_jieba(word: str) -> bool:
    """Whether adding ``word`` changes rjieba's cuts: only a word with Han characters does
    (jieba never splits a Latin run)."""
    return _HAN_RE.search(word) is not None


class _Segmenter:
    """One immutable-after-construction rjieba instance plus what we know about it."""

    def __init__(self, entries: Iterable[tuple[str, int | None]]) -> None:
        self.jieba = rjieba.Jieba()
        self.user_words: set[str] = set()  # lowercased
        self.novel: set[str] = set()  # user words absent from the stock dictionary (lowercased)
        self._idf: dict[str, float] = {}
        self._idf_lock = threading.Lock()
        for word, freq in entries:
            self._add(word, freq)
        # One article's lines are cut for the index, the SimHash, its tags and its
        # keywords: each line once. Per instance, so new words invalidate it.
        self.cut_line = lru_cache(maxsize=_LINE_CACHE)(self._cut_line)
        self.lower_line = lru_cache(maxsize=_LINE_CACHE)(self._lower_line)
        self.search_line = lru_cache(maxsize=_LINE_CACHE)(self._search_line)

    def _cut_line(self, line: str) -> tuple[str, ...]:
        return tuple(filter(None, map(_WORDS.__getitem__, self.jieba.cut(line))))  # "" (punctuation) dropped, at C speed

    def _lower_line(self, line: str) -> tuple[str, ...]:
        return tuple(map(str.lower, self.cut_line(line)))

    def _search_line(self, line: str) -> tuple[str, ...]:
        has_word = self.jieba.has_word
        out: list[str] = []
        for token in self.lower_line(line):
            if len(token) >= 3 and _ALL_HAN_RE.match(token):
                for n in (2, 3):
                    if len(token) > n:
                        out.extend(sub for sub in (token[i : i + n] for i in range(len(token) - n + 1)) if has_word(sub))
            elif "-" in token and token.isascii():
                out.extend(part for part in token.split("-") if part)
            out.append(token)
        return tuple(out)

    def _add(self, word: str, freq: int | None) -> None:
        key = word.lower()
        self.user_words.add(key)
        if not _teaches_jieba(word):
            # Latin runs are never split by jieba: nothing to teach it, but the
            # word still counts as a known tech term for IDF.
            self.novel.add(key)
            return
        if not self.jieba.has_word(word):
            self.novel.add(key)
        elif freq is None:
            return  # already whole in the stock dictionary
        self.jieba.add_word(word, freq, None)

    def with_unsegmented(self, words: list[str]) -> "_Segmenter":
        """This segmenter knowing more words that teach jieba nothing (``_teaches_jieba``): they
        only join the known words, at the IDF an unknown word has anyway. The copy shares the
        rjieba instance and the caches (what they hold does not change), so no rebuild, and the
        live instance stays untouched: only its word sets are copied before ``_add``."""
        assert not any(map(_teaches_jieba, words)), words
        clone = copy.copy(self)
        clone.user_words, clone.novel = set(self.user_words), set(self.novel)
        for word in words:
            clone._add(word, None)
        return clone

    def knows(self, word: str) -> bool:
        return word.lower() in self.user_words or self.jieba.has_word(word)

    def idf(self, token: str) -> float:
        cached = self._idf.get(token)
        if cached is not None:
            return cached
        if token in self.novel:
            value = _IDF_USER
        elif _HAN_RE.search(token) and self.jieba.has_word(token):
            # For a dictionary word, suggest_freq returns its corpus frequency.
            freq = max(self.jieba.suggest_freq(token), 1)
            value = min(max(math.log(_DICT_TOTAL / freq), _IDF_MIN), _IDF_MAX)
        else:
            value = _IDF_UNKNOWN
        with self._idf_lock:
            self._idf[token] = value
        return value


_state: _Segmenter | None = None
_runtime_words: dict[str, int | None] = {}
_lock = threading.Lock()


# Where the runtime words (tag names) come from: registered by the app
# (articles.apps) so every process that segments — web, worker, commands —
# learns the tag vocabulary once, on first use, without this module touching
# the database itself.
_word_loader: Callable[[], Iterable[str]] | None = None
_loader_done = False
_loader_retry_at = 0.0
_LOADER_RETRY_SECONDS = 30.0
_loader_lock = threading.Lock()


def set_user_word_loader(loader: Callable[[], Iterable[str]] | None) -> None:
    """Register the callable that yields words to teach the tokenizer once per
    process (on first use). A loader that fails (no database yet) is retried
    after a pause; meanwhile segmentation goes on with the shipped dictionary."""
    global _word_loader, _loader_done, _loader_retry_at
    _word_loader = loader
    _loader_done = loader is None
    _loader_retry_at = 0.0


def _run_word_loader() -> None:
    global _loader_done, _loader_retry_at
    loader = _word_loader
    if loader is None or time.monotonic() < _loader_retry_at:
        return
    if not _loader_lock.acquire(blocking=False):
        return  # another thread is loading; cut with what we have
    try:
        if _loader_done:
            return
        try:
            words = list(loader())
        except Exception as exc:  # no database (yet): retry later, never fail a cut
            _loader_retry_at = time.monotonic() + _LOADER_RETRY_SECONDS
            log.debug("tokenizer word loader failed, retrying later: %s", exc)
            return
        _loader_done = True
        load_user_words(words)
    finally:
        _loader_lock.release()


def _segmenter() -> _Segmenter:
    if not _loader_done and _word_loader is not None:
        _run_word_loader()
    state = _state
    if state is None:
        with _lock:
            state = _state if _state is not None else _build()
    return state


def _build() -> _Segmenter:
    # Caller holds _lock.
    global _state
    entries = _read_user_dict(_USERDICT) + list(_runtime_words.items())
    _state = _Segmenter(entries)
    return _state


def load_user_words(words: Iterable[str]) -> int:
    """Teach the tokenizer extra words (tag names) at runtime; returns how many
    were new. Cheap when nothing is new or the new words have no Han character;
    otherwise rebuilds (~0.1 s)."""
    global _state
    candidates = []
    for word in words:
        word = (word or "").strip()
        # Words with spaces can never come out of the segmenter whole.
        if word and len(word) <= 30 and not any(ch.isspace() for ch in word):
            candidates.append(word)
    if not candidates:
        return 0
    with _lock:
        current = _state if _state is not None else _build()
        new = [w for w in dict.fromkeys(candidates) if not current.knows(w)]
        if not new:
            return 0
        for word in new:
            _runtime_words[word] = None
        if any(map(_teaches_jieba, new)):
            _build()
        else:  # Latin tag names (Kubernetes, RISC-V): a copy knowing them, not a ~0.1 s rebuild
            _state = current.with_unsegmented(new)
    return len(new)


def warm_tokenizer() -> None:
    """Build the segmenter now, in this thread: on first use it reads the tag
    vocabulary from the database (the word loader), which a thread that only
    computes must not do."""
    _segmenter()


def idf(token: str) -> float:
    """Estimated inverse document frequency of a (lowercased) token."""
    return _segmenter().idf(token)


def idf_lookup() -> Callable[[str], float]:
    """``idf`` of the current segmenter, for callers weighting many tokens at once."""
    return _segmenter().idf


def idf_table() -> tuple[dict[str, float], Callable[[str], float]]:
    """The current segmenter's IDF cache (read it, never write it) and its ``idf``, which
    fills it: for compiled callers weighting many tokens (``idf`` for those not in it yet)."""
    seg = _segmenter()
    return seg._idf, seg.idf


def _strip_token(token: str) -> str:
    # jieba keeps "." and "-" inside Latin runs ("Wi-Fi", "4.5"); at the edges
    # they are sentence punctuation ("GPU." / "-R1").
    return token.strip().strip(".-_'\"")


_ALNUM_RE = re.compile(r"[^\W_]")  # exactly the characters str.isalnum() accepts


def _is_word(token: str) -> bool:
    return _ALNUM_RE.search(token) is not None


def _word(raw: str) -> str:
    """Raw segmenter output → the word it is ("" for punctuation and whitespace)."""
    token = _strip_token(raw)
    return token if token and _is_word(token) else ""


_WORD_MEMO = 200_000
# _word of each raw token, per process: the same few thousand strings come out of every article.
_WORDS = Memo(_word, _WORD_MEMO)


def _lines(text: str) -> list[str]:
    # jieba never joins words across a line break: cutting line by line gives the
    # same tokens as cutting the whole text, and lets every caller share the cuts.
    return fold_width(text).split("\n") if text else []


def _cut(text: str, seg: _Segmenter) -> list[str]:
    """Surface tokens (original case), punctuation and whitespace dropped."""
    out: list[str] = []
    for line in _lines(text):
        out.extend(seg.cut_line(line))
    return out


def segment(text: str) -> list[str]:
    """Words of ``text``: user dictionary applied, punctuation/whitespace
    dropped, Latin lowercased (5G, 3nm, RTX4090 stay one token)."""
    seg = _segmenter()
    out: list[str] = []
    for line in _lines(text):
        out.extend(seg.lower_line(line))
    return out


def search_tokens(text: str) -> list[str]:
    """What goes into the index and into queries: ``segment`` plus, for Chinese
    words of 3+ characters, their dictionary sub-words (2 chars; 3 chars for
    words of 4+), like jieba's cut_for_search — so 推理 finds 推理芯片; and the
    parts of hyphenated Latin tokens, so deepseek finds deepseek-r1."""
    seg = _segmenter()
    out: list[str] = []
    for line in _lines(text):
        out.extend(seg.search_line(line))
    return out


# --- keywords -------------------------------------------------------------------

_STOPWORDS = frozenset(
    """
    的 了 在 是 和 与 及 等 也 都 就 将 被 把 对 从 到 为 以 而 之 其 该 此 这 那 有 个 上 下 中 内 外 后 前 或 并 但 又
    我们 你们 他们 她们 它们 自己 这个 那个 这些 那些 一个 一些 一种 一款 一项 一次 没有 可以 已经 就是 还是 以及 或者
    因为 所以 但是 如果 不过 而且 并且 其中 目前 表示 进行 通过 对于 关于 此外 同时 之后 之前 以上 以下 什么 如何 这样
    那样 其他 其它 不会 不是 能够 可能 不断 非常 更加 很多 许多 主要 重要 以来 日前 近日 此次 本次 这次 来说 来看 表明
    显示 认为 提供 包括 实现 相关 方面 问题 情况 需要 今天 昨天 今年 去年 明年 目前 现在 当前 已 未 还 更 最 很 再 才
    年 月 日 时 分 记者 报道 消息 据悉 了解 据了解 获悉 文章 原文 标题 出处 来源 作者 编辑 责任编辑 微信 公众号 微信号
    关注 转载 声明 点击 阅读 免责声明 版权 欢迎 添加 注明 本文 全文 图片 视频 网友 用户 大家 问题 今日 时间 数据 带来
    成为 使用 采用 支持 推出 发布会 宣布 进一步 方式 领域 能力 方案 全新 首款 多个 其中 之一 以及 不仅 同比 环比
    the a an of to in and or for with on is are be by as at from that this it its was were will can has have not but
    which who what when where how you we they he she our your their more than also into about over new one two
    """.split()
)
_NUMERIC_RE = re.compile(r"^[\d.,%+\-]+$")


def _keyword_candidate(token: str) -> bool:
    if len(token) < 2 or token in _STOPWORDS or _NUMERIC_RE.match(token):
        return False
    return not (token.isascii() and len(token) == 2 and token.isdigit())


def _strip_markup(text: str) -> str:
    if "<" in text and _TAG_RE.search(text):
        from .sanitize import html_to_text

        return html_to_text(text)
    return text


def keywords(text: str, top_k: int = 10) -> list[str]:
    """Top words by TF × estimated IDF (stock dictionary frequencies; our user
    words count as specific). HTML is stripped first so markup such as
    ``<b class='flag-5'>`` never yields "class"/"flag", and mirror pinyin
    ``系統(tǒng)`` never yields "tǒng" fragments. Returns the most common
    surface form of each word ("NVIDIA", not "nvidia")."""
    if not text or top_k <= 0:
        return []
    seg = _segmenter()
    # Pinyin artifacts would otherwise surface as "sh", "ng", "gu" (CHINESE.md).
    # Each surface form counted at C speed, in order of first appearance; then per form.
    forms_counted = Counter(_cut(strip_pinyin(_strip_markup(text)), seg))
    if _speedups is not None:  # the loop and the ranking below, compiled
        return _speedups.keyword_rank(forms_counted, _STOPWORDS, seg._idf, seg.idf, top_k)
    counts: dict[str, int] = {}  # in order of first appearance
    surfaces: dict[str, dict[str, int]] = {}
    for surface, n in forms_counted.items():
        key = surface.lower()
        forms = surfaces.get(key)
        if forms is None:
            if not _keyword_candidate(key):
                continue
            counts[key] = 0
            forms = surfaces[key] = {}
        counts[key] += n
        forms[surface] = n
    # A stable sort: equal scores keep the order of first appearance; max() keeps the
    # first of equally common surface forms.
    scored = sorted(counts, key=lambda k: -counts[k] * seg.idf(k))
    return [max(surfaces[k], key=surfaces[k].get) for k in scored[:top_k]]
