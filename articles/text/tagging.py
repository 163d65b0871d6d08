"""Step 6 of the pipeline: tags from the tag vocabulary (with aliases).

Names are normalized before anything is created (CHINESE.md: t2s and case
before get_or_create, or 開源/开源 and NVIDIA/nvidia become twins). Two forms:

* ``normalize_tag_name`` — the *display* form stored as Tag.name: NFKC,
  Simplified, trimmed, no surrounding #【】 decoration, case kept (NVIDIA, GPU).
* ``tag_key`` — the *match* key used for alias lookups: the display form
  case-folded, with spaces, hyphens, underscores and middle dots removed
  (``Wi-Fi 7`` and ``wifi7`` meet). 英伟达 and NVIDIA keep different keys; the
  alias table (``DEFAULT_ALIASES`` + editors' TagAlias rows) joins them.

``suggest_tags`` walks the segmented title and text and looks up runs of up to
four tokens in the vocabulary (``tag_key(alias or name) → canonical name``), so
multi-token names (GeForce RTX, 人工 + 智能) match without substring false
positives ("AI" inside "email").
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property, lru_cache

from newsroom.speedups import speedups as _speedups

from .memo import Memo
from .normalize import strip_pinyin, to_simplified, to_simplified_many
from .tokenizer import segment

__all__ = ["DEFAULT_ALIASES", "Vocabulary", "build_vocabulary", "normalize_tag_name", "suggest_tags", "tag_key"]

TagRule = tuple[str, bool, str]

# alias → canonical tag name: the shipped vocabulary (articles.tags merges it
# under the database's tags and TagAlias rows, which win). Editors extend or
# override it in the admin. 显卡 (a graphics card) is deliberately not GPU here:
# a datacenter accelerator is no 显卡; editors who want them joined add the alias.
DEFAULT_ALIASES: dict[str, str] = {
    # vendors
    "英伟达": "NVIDIA", "nvidia": "NVIDIA", "辉达": "NVIDIA", "輝達": "NVIDIA",
    "超威": "AMD", "超微半导体": "AMD", "amd": "AMD",
    "英特尔": "Intel", "intel": "Intel",
    "高通": "高通", "Qualcomm": "高通",
    "联发科": "联发科", "MediaTek": "联发科",
    "台积电": "台积电", "TSMC": "台积电",
    "三星": "三星", "Samsung": "三星",
    "苹果": "苹果", "Apple": "苹果",
    "微软": "微软", "Microsoft": "微软",
    "谷歌": "谷歌", "Google": "谷歌",
    "华为": "华为", "Huawei": "华为",
    "小米": "小米", "Xiaomi": "小米",
    "字节跳动": "字节跳动", "ByteDance": "字节跳动",
    "阿里云": "阿里云", "Alibaba Cloud": "阿里云", "aliyun": "阿里云",
    "腾讯云": "腾讯云", "Tencent Cloud": "腾讯云",
    "百度": "百度", "Baidu": "百度",
    "深度求索": "DeepSeek", "deepseek": "DeepSeek",
    "openai": "OpenAI",
    # chips and platforms
    "昇腾": "昇腾", "Ascend": "昇腾",
    "鸿蒙": "鸿蒙", "HarmonyOS": "鸿蒙", "鸿蒙OS": "鸿蒙",
    "骁龙": "骁龙", "Snapdragon": "骁龙",
    "天玑": "天玑", "Dimensity": "天玑",
    "麒麟": "麒麟",
    "Blackwell": "Blackwell",
    "Hopper": "Hopper",
    "CUDA": "CUDA",
    # concepts
    "开源": "开源", "開源": "开源", "open source": "开源",
    "gpu": "GPU", "图形处理器": "GPU",
    "人工智能": "AI", "ai": "AI",
    "大模型": "大模型", "大语言模型": "大模型", "LLM": "大模型", "llm": "大模型",
    "芯片": "芯片", "晶片": "芯片",
    "半导体": "半导体",
    "算力": "算力",
    "数据中心": "数据中心",
    "自动驾驶": "自动驾驶",
    "智能体": "智能体", "AI Agent": "智能体",
    "机器人": "机器人",
}

_STRIP_EDGES = " \t\r\n#＃【】[]［］()（）《》〈〉<>「」『』“”\"'‘’·•,，。、;；:：!！?？|｜/\\-_~*"
_KEY_DROP_RE = re.compile(r"[\s\-_·•・.]+")
_ALL_HAN_RE = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff]+$")
_MAX_NGRAM = 4
_TITLE_WEIGHT = 3.0
_RULE_WEIGHT = 10.0
_MIN_SCORE = 2.0  # one title mention, or two body mentions


@lru_cache(maxsize=4096)
def normalize_tag_name(name: str) -> str:
    """Display form of a tag name: NFKC, pinyin artifacts removed, Simplified,
    spaces collapsed, decoration (#, 【】, quotes) stripped; case is kept."""
    if not name:
        return ""
    return _display_form(to_simplified(_before_t2s(name)))


def _before_t2s(name: str) -> str:
    if not name.isprintable():
        # Invisible characters (zero-width spaces, soft hyphens, BOMs, direction overrides, controls)
        # would make a tag that looks like another ("芯\u200b片" beside 芯片), or one of no visible
        # name at all, whose slug is empty. Whitespace stays: it separates words.
        name = "".join(c for c in name if c.isprintable() or c.isspace())
    return strip_pinyin(unicodedata.normalize("NFKC", name))


def _display_form(simplified: str) -> str:
    return " ".join(simplified.split()).strip(_STRIP_EDGES)[:100]


def _tag_key(name: str) -> str:
    return _KEY_DROP_RE.sub("", normalize_tag_name(name).casefold())


# tag_key answers, per process: every ingest keys the whole tag vocabulary and
# every token of every article, and the answer for a string never changes.
_KEYS_MAX = 200_000
_KEYS = Memo(_tag_key, _KEYS_MAX)


def tag_key(name: str) -> str:
    """Case-folded match key of a (possibly raw) name: NVIDIA/nvidia/Ｎｖｉｄｉａ
    share one; 英伟达 has its own (an alias joins them)."""
    return _KEYS[name]


def tag_keys(names: list[str]) -> list[str]:
    """``tag_key`` of each name: the names not keyed yet share one OpenCC call
    (an article's new words, one call each, cost more than the conversion)."""
    keys = _KEYS
    known = list(map(keys.get, names))
    if None not in known:  # an article's words are mostly keyed already
        return known
    missing = [name for name in dict.fromkeys(names) if name and name not in keys]
    if len(missing) > 1:
        for name, simplified in zip(missing, to_simplified_many([_before_t2s(n) for n in missing])):
            keys.remember(name, _KEY_DROP_RE.sub("", _display_form(simplified).casefold()))
    return list(map(keys.__getitem__, names))


class Vocabulary(dict):
    """``tag_key → canonical name`` that also knows the prefixes of its keys, so
    suggest_tags gives up on a run of tokens as soon as it can start no key.
    Filled once, then only read (the prefixes are computed on first use)."""

    @cached_property
    def prefixes(self) -> frozenset[str]:
        # "" too: a token whose key is empty continues a run without adding to it.
        return frozenset({""} | {key[:end] for key in self for end in range(1, len(key) + 1)})


def build_vocabulary(names: Iterable[str], aliases: Mapping[str, str] | None = None) -> dict[str, str]:
    """``tag_key(alias or name) → canonical name`` from tag names and an alias map."""
    vocab: dict[str, str] = {}
    for name in names:
        display = normalize_tag_name(name)
        if display:
            vocab[tag_key(display)] = display
    for alias, canonical in (aliases or {}).items():
        key, display = tag_key(alias), normalize_tag_name(canonical)
        if key and display:
            vocab[key] = display
    return vocab


@lru_cache(maxsize=32)
def _compiled_rules(rules: tuple[TagRule, ...]) -> tuple[tuple[re.Pattern[str], str], ...]:
    out = []
    for pattern, is_regex, tag_name in rules:
        if not pattern or not tag_name:
            continue
        try:
            regex = re.compile(pattern if is_regex else re.escape(to_simplified(pattern)), re.IGNORECASE)
        except re.error:
            continue  # an editor's broken regex must not break ingestion
        out.append((regex, tag_name))
    return tuple(out)


def _inner_matches(token: str, vocabulary: Mapping[str, str]) -> list[str]:
    """Tags inside a compound the dictionary keeps whole (开源社区 → 开源),
    longest first, non-overlapping."""
    found: list[str] = []
    taken = [False] * len(token)
    for size in range(len(token) - 1, 1, -1):
        for start in range(len(token) - size + 1):
            if any(taken[start : start + size]):
                continue
            canonical = vocabulary.get(token[start : start + size])
            if canonical:
                found.append(canonical)
                taken[start : start + size] = [True] * size
    return found


def _matches(tokens: list[str], vocabulary: Mapping[str, str]) -> list[str]:
    """Canonical names for the longest vocabulary run starting at each token."""
    keys = tag_keys(tokens)
    prefixes = vocabulary.prefixes if isinstance(vocabulary, Vocabulary) else None
    if prefixes is not None and _speedups is not None:
        return _speedups.tag_runs(keys, vocabulary, prefixes, _MAX_NGRAM)  # the loop below, compiled
    found: list[str] = []
    i = 0
    while i < len(keys):
        if prefixes is None:
            n, canonical = _longest(keys, i, vocabulary)
        elif keys[i] in prefixes:
            n, canonical = _longest_by_prefix(keys, i, vocabulary)
        else:  # most tokens start no key: no run to grow
            n, canonical = 0, None
        if canonical:
            found.append(canonical)
            i += n
        else:
            if len(keys[i]) >= 3 and _ALL_HAN_RE.match(keys[i]):
                found.extend(_inner_matches(keys[i], vocabulary))
            i += 1
    return found


def _longest(keys: list[str], i: int, vocabulary: Mapping[str, str]) -> tuple[int, str | None]:
    """The longest run of up to _MAX_NGRAM keys from ``i`` that is a vocabulary key: (length, canonical)."""
    for n in range(min(_MAX_NGRAM, len(keys) - i), 0, -1):
        canonical = vocabulary.get("".join(keys[i : i + n]))
        if canonical:
            return n, canonical
    return 0, None


def _longest_by_prefix(keys: list[str], i: int, vocabulary: Vocabulary) -> tuple[int, str | None]:
    """_longest, growing the run only while it is a prefix of some key (most tokens start none)."""
    best: tuple[int, str | None] = (0, None)
    run = ""
    for n in range(1, min(_MAX_NGRAM, len(keys) - i) + 1):
        run += keys[i + n - 1]
        if run not in vocabulary.prefixes:
            break
        canonical = vocabulary.get(run)
        if canonical:
            best = (n, canonical)
    return best


def suggest_tags(
    *,
    title: str,
    text: str,
    vocabulary: Mapping[str, str],
    rules: Sequence[TagRule] = (),
    limit: int = 8,
) -> list[str]:
    """Canonical tag names for an article, best first.

    Score = 3 per title mention + 1 + log2(n) for n body mentions; a tag needs 2
    (one title mention or two body mentions). Editor rules (pattern, is_regex,
    tag_name) matching title or text always apply. Ties keep first appearance.
    """
    scores: dict[str, float] = {}
    first: dict[str, int] = {}
    order = 0

    def add(name: str, score: float) -> None:
        nonlocal order
        scores[name] = scores.get(name, 0.0) + score
        if name not in first:
            first[name] = order
            order += 1

    if vocabulary:
        for canonical in _matches(segment(title or ""), vocabulary):
            add(canonical, _TITLE_WEIGHT)
        body_counts: dict[str, int] = {}
        for canonical in _matches(segment(text or ""), vocabulary):
            body_counts[canonical] = body_counts.get(canonical, 0) + 1
        for canonical, n in body_counts.items():
            add(canonical, 1.0 + math.log2(n))

    if rules:
        haystack = f"{title or ''}\n{text or ''}"
        for regex, tag_name in _compiled_rules(tuple(rules)):
            if regex.search(haystack):
                display = normalize_tag_name(tag_name)
                add(vocabulary.get(tag_key(display), display) if display else "", _RULE_WEIGHT)

    ranked = sorted((n for n, s in scores.items() if n and s >= _MIN_SCORE), key=lambda n: (-scores[n], first[n]))
    return ranked[:limit]
