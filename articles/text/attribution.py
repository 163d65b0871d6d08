"""Step 4 of the pipeline: attribution lines → fields, and out of the body.

Reposts carry lines such as::

    原文标题：英伟达发布新一代推理芯片
    文章出处：【微信号：abc_tech，微信公众号：芯视界】欢迎添加关注！文章转载请注明出处。
    来源：IT之家   作者：张三   责任编辑：李四
    声明：本文由入驻作者撰写，转载请注明出处……

They are shown by our page template from the extracted fields, so the body
must not repeat them. Only *lines* (see ``_blocks``) that begin with a label,
or short lines that are pure reposting boilerplate, are removed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ._blocks import LineDoc, markup_text

__all__ = ["Attribution", "extract_attribution"]


@dataclass
class Attribution:
    original_title: str = ""
    origin_account: str = ""  # 微信公众号 name when given, else the 来源/出处 text
    author: str = ""
    html: str = ""  # body without the attribution/boilerplate lines


_SEP = r"\s*[:：|｜丨]\s*"
_LABELS = {
    "原文标题": "title", "原标题": "title",
    "文章出处": "origin", "文章来源": "origin", "本文来源": "origin", "内容来源": "origin", "来源": "origin",
    "出处": "origin", "转载自": "origin", "转自": "origin",
    "作者": "author", "撰文": "author", "撰稿": "author", "撰稿人": "author", "文": "author",
    "责任编辑": "editor", "编辑": "editor", "责编": "editor", "审核": "editor", "校对": "editor", "排版": "editor",
    "声明": "statement", "免责声明": "statement", "版权声明": "statement", "特别声明": "statement",
}
# Longest label first so 原文标题 wins over 标题-like prefixes, 责任编辑 over 编辑.
_LABEL_ALT = "|".join(sorted(map(re.escape, _LABELS), key=len, reverse=True))
_LINE_START_RE = re.compile(rf"^[\s【\[（(]*(?P<label>{_LABEL_ALT})(?:{_SEP}|/)")
# Later labels on the same line ("来源：IT之家 作者：张三"): need a separator before.
_INNER_LABEL_RE = re.compile(rf"(?:^|[\s，,。；;|｜丨【\[（(])(?P<label>{_LABEL_ALT}){_SEP}")
_WECHAT_NAME_RE = re.compile(r"微信公众号\s*[:：]\s*([^】\]，,；;。！!\s]+)")
_WECHAT_ID_RE = re.compile(r"微信号\s*[:：]\s*([A-Za-z][-_A-Za-z0-9]{2,40})")
_BRACKET_RE = re.compile(r"【[^】]*】|\[[^\]]*\]")
_BOILERPLATE_MARKERS = (
    "欢迎添加关注", "转载请注明出处", "转载请注明来源", "转载请注明", "如有侵权", "如涉及侵权", "版权归原作者",
    "版权归作者所有", "仅代表作者", "不代表本站", "不代表本网站", "点击上方蓝字", "点击上方“", "长按二维码", "扫码关注",
    "扫描二维码关注", "未经授权禁止转载", "未经许可不得转载", "本文系转载", "本文为转载",
)
# "电子发烧友网报道（文/周明）" or "文 | 张三" inside one of the first lines.
_INLINE_BYLINE_RE = re.compile(r"[（(]\s*(?:文|作者|撰文)\s*[/／|｜丨:：]\s*([^）)\s]{1,20})\s*[）)]")
_BYLINE_LINES = 3
_BOILERPLATE_MAX = 160  # longer lines are prose that happens to mention reposting
_FIELD_MAX = 80  # an author/source value longer than this is a sentence, not a name
_TRIM = " \t：:，,。；;、|｜丨【】[]（）()《》<>“”\"'‘’「」『』!！?？"


def _clean_value(value: str) -> str:
    return " ".join(value.split()).strip(_TRIM)


def _segments(text: str, first_label: str, first_end: int) -> list[tuple[str, str]]:
    """(kind, value) for each label on a line that starts with a label."""
    out: list[tuple[str, str]] = []
    label, start = first_label, first_end
    for m in _INNER_LABEL_RE.finditer(text, first_end):
        out.append((_LABELS[label], text[start : m.start()]))
        label, start = m.group("label"), m.end()
    out.append((_LABELS[label], text[start:]))
    return out


def _origin_from(value: str) -> tuple[str, str]:
    """(公众号 name or '', plain source text) from a 出处/来源 value."""
    name_m = _WECHAT_NAME_RE.search(value)
    name = _clean_value(name_m.group(1)) if name_m else ""
    plain = _BRACKET_RE.sub(" ", value)
    for marker in _BOILERPLATE_MARKERS:
        plain = plain.split(marker)[0]
    plain = _clean_value(re.split(r"[，,。；;！!]", plain, maxsplit=1)[0])
    if not plain and not name:
        id_m = _WECHAT_ID_RE.search(value)
        plain = id_m.group(1) if id_m else ""
    return name, plain


def _is_boilerplate(text: str) -> bool:
    return len(text) <= _BOILERPLATE_MAX and any(marker in text for marker in _BOILERPLATE_MARKERS)


# Anything extract_attribution acts on, looked for in the body's text as a whole
# (a line's text is a stretch of it, tags dropped, whitespace collapsed).
_ANY_LABEL_RE = re.compile(rf"(?:{_LABEL_ALT})(?:{_SEP}|/)")


def _may_attribute(html: str) -> bool:
    text = markup_text(html)
    return bool(_ANY_LABEL_RE.search(text) or _INLINE_BYLINE_RE.search(text)
                or any(marker in text for marker in _BOILERPLATE_MARKERS))


def extract_attribution(html: str) -> Attribution:
    """Pull 原文标题 / 出处 (公众号) / 作者 out of the body and drop the
    attribution and reposting-boilerplate lines. The first value of each
    field wins."""
    result = Attribution(html=html or "")
    if not html or not html.strip() or not _may_attribute(html):
        return result  # fast path: no label, byline or boilerplate anywhere in the text
    doc = LineDoc(html)
    wechat_name = origin_text = ""
    removed_any = False
    for line in doc.lines:
        text = line.text
        start = _LINE_START_RE.match(text)
        if start is None:
            if _is_boilerplate(text):
                name, _ = _origin_from(text)
                wechat_name = wechat_name or name
                doc.remove(line)
                removed_any = True
            continue
        segments = _segments(text, start.group("label"), start.end())
        if not _accept(segments, text):
            continue
        for kind, value in segments:
            if kind == "title" and not result.original_title:
                result.original_title = _clean_value(value)
            elif kind == "origin":
                name, plain = _origin_from(value)
                wechat_name = wechat_name or name
                origin_text = origin_text or plain
            elif kind == "author" and not result.author:
                result.author = _clean_value(re.split(r"[，,。；;]", value, maxsplit=1)[0])[:_FIELD_MAX]
        doc.remove(line)
        removed_any = True
    if not result.author:
        for line in doc.lines[:_BYLINE_LINES]:
            byline = _INLINE_BYLINE_RE.search(line.text)
            if byline:
                result.author = _clean_value(byline.group(1))
                break
    result.origin_account = wechat_name or origin_text
    if removed_any:
        result.html = doc.html()
    return result


def _accept(segments: list[tuple[str, str]], text: str) -> bool:
    """A labelled line is attribution unless it is really a sentence: a short
    name-like value for 作者/来源, anything for 原文标题/出处/声明 boilerplate."""
    kind, value = segments[0]
    if kind in ("author", "editor"):
        return len(_clean_value(value)) <= _FIELD_MAX // 2 or len(segments) > 1
    if kind == "origin":
        return len(value) <= _FIELD_MAX or "微信" in value or _is_boilerplate(text)
    if kind == "statement":
        return _is_boilerplate(text) or any(w in text for w in ("转载", "版权", "侵权", "观点", "立场"))
    return kind == "title" and len(value) <= 200
