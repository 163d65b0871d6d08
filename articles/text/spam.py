"""Step 3 of the pipeline: find and strip injected SEO spam.

Injected spam (CHINESE.md) is a *line shape* — many short comma-separated
gambling/adult phrases and no sentence punctuation — confirmed by lexicon hits
(Aho-Corasick over our shipped lexicon plus editor rules). Each line (block or
``<br>``-separated part, see ``_blocks``) is judged on its own:

* keyword-list shape + enough lexicon weight            → spam
* no list shape, but dense heavy hits and not prose     → spam
* an editor rule with weight ≥ STRONG_RULE_WEIGHT        → spam (editor's call)

A single low-weight word in a sentence (彩票, 澳门) never removes anything.
The article goes to moderation when its title is spam, when most of its text
was spam, or when what is left still carries a lot of scattered spam weight.
"""
from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import ahocorasick

from ._blocks import LineDoc
from .normalize import normalize_title

__all__ = ["STRONG_RULE_WEIGHT", "SpamVerdict", "check_spam", "lexicon_path"]

log = logging.getLogger(__name__)

_LEXICON_PATH = Path(__file__).resolve().parent.parent / "data" / "spam_lexicon.txt"
STRONG_RULE_WEIGHT = 5.0
MODERATE_RATIO = 0.5  # share of body text removed that makes an article "mostly spam"
RESIDUAL_SCORE = 6.0  # weight still left in the body after stripping that needs a human

SpamRule = tuple[str, bool, float]

_SENTENCE_END_RE = re.compile(r"[。！？!?]")
_LIST_SPLIT_RE = re.compile(r"[，、,]+")
_SPACE_SPLIT_RE = re.compile(r"[\s|｜/／]+")


@dataclass
class SpamVerdict:
    score: float  # total weight of lexicon/rule hits in title + body (evidence, unbounded)
    title_is_spam: bool
    spam_ratio: float  # share of the body's text removed as spam, 0..1
    removed: list[str] = field(default_factory=list)  # text of each removed line
    html: str = ""  # body with spam lines removed
    should_moderate: bool = False


@dataclass
class _Judgement:
    score: float
    coverage: float  # share of the line's characters inside hits
    shape: bool
    strong: bool  # an editor rule of weight >= STRONG_RULE_WEIGHT matched


def lexicon_path() -> Path:
    return _LEXICON_PATH


# --- matchers (cached: built once, or once per distinct editor-rule set) ----------

_lexicon: dict[str, float] | None = None
_lexicon_lock = threading.Lock()


def _load_lexicon() -> dict[str, float]:
    global _lexicon
    if _lexicon is None:
        with _lexicon_lock:
            if _lexicon is None:
                terms: dict[str, float] = {}
                for raw in _LEXICON_PATH.read_text(encoding="utf-8").splitlines():
                    line = raw.strip()
                    if not line or line.startswith("#"):
                        continue
                    bits = line.split()
                    weight = float(bits[-1]) if len(bits) > 1 and _is_number(bits[-1]) else 1.0
                    phrase = "".join(bits[:-1] if len(bits) > 1 and _is_number(bits[-1]) else bits)
                    key = _match_key(phrase)
                    if key:
                        terms[key] = max(weight, terms.get(key, 0.0))
                _lexicon = terms
    return _lexicon


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _match_key(text: str) -> str:
    # Editors may type Traditional or full-width: match on what normalize() produces.
    return normalize_title(text).lower()


@lru_cache(maxsize=16)
def _automaton(plain_rules: tuple[tuple[str, float], ...]) -> ahocorasick.Automaton:
    terms = dict(_load_lexicon())
    for phrase, weight in plain_rules:
        key = _match_key(phrase)
        if key:
            terms[key] = max(weight, terms.get(key, 0.0))
    automaton = ahocorasick.Automaton()
    for term, weight in terms.items():
        automaton.add_word(term, (len(term), weight))
    automaton.make_automaton()
    return automaton


@lru_cache(maxsize=16)
def _regexes(regex_rules: tuple[tuple[str, float], ...]) -> tuple[tuple[re.Pattern[str], float], ...]:
    compiled = []
    for pattern, weight in regex_rules:
        try:
            compiled.append((re.compile(pattern, re.IGNORECASE), weight))
        except re.error:
            log.warning("spam rule is not a valid regex, ignored: %r", pattern)
    return tuple(compiled)


def _split_rules(rules: Sequence[SpamRule]) -> tuple[tuple[tuple[str, float], ...], tuple[tuple[str, float], ...]]:
    plain = tuple(sorted((p, float(w)) for p, is_regex, w in rules if not is_regex and p and p.strip()))
    regex = tuple(sorted((p, float(w)) for p, is_regex, w in rules if is_regex and p))
    return plain, regex


# --- judging one line -------------------------------------------------------------


def _hits(text: str, automaton: ahocorasick.Automaton, regexes: Sequence[tuple[re.Pattern[str], float]]):
    """(start, end, weight) of each match; matches inside a longer one are dropped."""
    found: list[tuple[int, int, float]] = []
    if len(automaton):
        for end, (length, weight) in automaton.iter(text):
            found.append((end - length + 1, end + 1, weight))
    for pattern, weight in regexes:
        for m in pattern.finditer(text):
            if m.end() > m.start():
                found.append((m.start(), m.end(), weight))
    found.sort(key=lambda h: (h[0], -(h[1] - h[0])))
    kept: list[tuple[int, int, float]] = []
    reach = -1
    for start, end, weight in found:
        if end <= reach:
            continue  # contained in an earlier, longer hit (六合彩开奖 ⊃ 六合彩)
        kept.append((start, end, weight))
        reach = max(reach, end)
    return kept


def _covered_chars(hits: Sequence[tuple[int, int, float]]) -> int:
    covered, reach = 0, 0
    for start, end, _ in hits:
        start = max(start, reach)
        if end > start:
            covered += end - start
            reach = end
    return covered


def _list_shape(text: str) -> bool:
    """≥5 comma-separated segments of 3–15 characters and no sentence end —
    the shape of an injected keyword line (CHINESE.md)."""
    if _SENTENCE_END_RE.search(text):
        return False
    segments = [s.strip() for s in _LIST_SPLIT_RE.split(text) if s.strip()]
    if len(segments) < 5:
        segments = [s for s in _SPACE_SPLIT_RE.split(text) if s]
    if len(segments) < 5:
        return False
    listy = [s for s in segments if 3 <= len(s) <= 15]
    short_enough = [s for s in segments if 2 <= len(s) <= 15]
    return len(listy) >= 5 and len(short_enough) >= 0.8 * len(segments)


def _judge(text: str, automaton: ahocorasick.Automaton, regexes: Sequence[tuple[re.Pattern[str], float]]) -> _Judgement:
    key = text.lower()
    hits = _hits(key, automaton, regexes)
    chars = len(key.replace(" ", "")) or 1
    return _Judgement(
        score=sum(w for _, _, w in hits),
        coverage=min(_covered_chars(hits) / chars, 1.0),
        shape=_list_shape(text),
        # The shipped lexicon stays below this weight: only editors make rules strong.
        strong=any(w >= STRONG_RULE_WEIGHT for _, _, w in hits),
    )


def _line_is_spam(j: _Judgement, text: str) -> bool:
    if j.strong:
        return True
    if j.shape and (j.score >= 2.0 or (j.score >= 1.0 and j.coverage >= 0.2)):
        return True
    # Dense spam written as one run-on phrase ("澳门新葡京娱乐城真人百家乐注册送彩金").
    # A news sentence about a gambling crackdown ends with 。 and is spared
    # unless it is nearly all spam phrases.
    if j.score >= 4.0 and j.coverage >= 0.4:
        return not _SENTENCE_END_RE.search(text) or j.coverage >= 0.6
    return False


def _title_is_spam(j: _Judgement) -> bool:
    return j.strong or (j.shape and j.score >= 1.0) or (j.score >= 2.0 and j.coverage >= 0.3)


# --- public -----------------------------------------------------------------------


def check_spam(html: str, *, title: str, rules: Sequence[SpamRule] = ()) -> SpamVerdict:
    """Judge and strip spam lines from sanitized, normalized body HTML.

    ``rules`` are editor rules ``(pattern, is_regex, weight)``; the compiled
    automaton/regexes are cached per distinct rule set, so pass the same tuple
    for a whole ingest run.
    """
    plain, regex = _split_rules(rules)
    automaton = _automaton(plain)
    regexes = _regexes(regex)
    title_j = _judge(title or "", automaton, regexes)
    title_spam = bool(title and title.strip()) and _title_is_spam(title_j)

    if not html or not _hits(html.lower(), automaton, regexes):
        # Fast path: nothing in the lexicon anywhere in the body.
        return SpamVerdict(score=round(title_j.score, 2), title_is_spam=title_spam, spam_ratio=0.0,
                           removed=[], html=html or "", should_moderate=title_spam)

    doc = LineDoc(html)
    total_chars = removed_chars = 0
    body_score = residual_score = 0.0
    residual_hits_chars = 0
    removed: list[str] = []
    for line in doc.lines:
        j = _judge(line.text, automaton, regexes)
        chars = len(line.text.replace(" ", ""))
        total_chars += chars
        body_score += j.score
        if _line_is_spam(j, line.text):
            doc.remove(line)
            removed.append(line.text)
            removed_chars += chars
        else:
            residual_score += j.score
            residual_hits_chars += int(j.coverage * chars)

    ratio = removed_chars / total_chars if total_chars else 0.0
    kept_chars = total_chars - removed_chars
    residual_dense = residual_score >= RESIDUAL_SCORE and kept_chars and residual_hits_chars / kept_chars >= 0.1
    return SpamVerdict(
        score=round(title_j.score + body_score, 2),
        title_is_spam=title_spam,
        spam_ratio=round(ratio, 4),
        removed=removed,
        html=doc.html() if removed else html,
        should_moderate=title_spam or ratio >= MODERATE_RATIO or bool(residual_dense),
    )
