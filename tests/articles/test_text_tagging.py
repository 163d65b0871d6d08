"""Tag names, keys, aliases and suggestions against the vocabulary."""
from __future__ import annotations

from articles.text.tagging import DEFAULT_ALIASES, build_vocabulary, normalize_tag_name, suggest_tags, tag_key

TAGS = ["NVIDIA", "GPU", "AI", "开源", "大模型", "芯片", "数据中心", "华为", "AMD", "GeForce RTX", "Wi-Fi 7", "苹果"]


def vocab() -> dict[str, str]:
    return build_vocabulary(TAGS, DEFAULT_ALIASES)


def test_normalize_tag_name_display_form():
    assert normalize_tag_name("  #開源#  ") == "开源"
    assert normalize_tag_name("【英偉達】") == "英伟达"
    assert normalize_tag_name("ＮＶＩＤＩＡ") == "NVIDIA"
    assert normalize_tag_name("GPU") == "GPU"  # acronyms keep their case
    assert normalize_tag_name("nvidia") == "nvidia"  # display as given; the key does matching
    assert normalize_tag_name("Wi-Fi   7") == "Wi-Fi 7"
    assert normalize_tag_name("系統(tǒng)") == "系统"
    assert normalize_tag_name("昇騰") == "昇腾"
    assert normalize_tag_name("《大模型》") == "大模型"
    assert normalize_tag_name("   ") == ""


def test_tag_key_is_case_and_script_insensitive():
    assert tag_key("NVIDIA") == tag_key("nvidia") == tag_key("Ｎｖｉｄｉａ") == "nvidia"
    assert tag_key("開源") == tag_key("#开源") == "开源"
    assert tag_key("Wi-Fi 7") == tag_key("wifi7")
    assert tag_key("英伟达") != tag_key("NVIDIA")  # joined by the alias table, not by the key


def test_default_aliases_join_spellings():
    v = vocab()
    assert {v[tag_key(a)] for a in ("英伟达", "NVIDIA", "nvidia", "輝達")} == {"NVIDIA"}
    assert v[tag_key("開源")] == "开源"
    assert {v[tag_key(a)] for a in ("GPU", "gpu", "图形处理器")} == {"GPU"}
    assert tag_key("显卡") not in v  # an editor's choice (TagAlias), not shipped
    assert v[tag_key("人工智能")] == "AI"
    for alias, canonical in DEFAULT_ALIASES.items():
        assert normalize_tag_name(canonical) == canonical  # seeds are already normalized
        assert tag_key(alias)


def test_suggest_tags_title_weighs_more_and_returns_canonical_names():
    tags = suggest_tags(
        title="英伟达发布新款图形处理器",
        text="这款 GPU 采用新架构。AMD 也在开发同类产品。AMD 预计明年推出。华为被提到一次。",
        vocabulary=vocab(),
    )
    assert set(tags[:2]) == {"NVIDIA", "GPU"}  # title mentions first
    assert "AMD" in tags  # two body mentions
    assert "华为" not in tags  # one passing mention is not enough


def test_traditional_and_compound_words_match():
    tags = suggest_tags(title="開源大模型", text="人工智能公司宣布开源社区计划，开源社区反响热烈。", vocabulary=vocab())
    assert "开源" in tags and "大模型" in tags and tags.count("开源") == 1
    assert "AI" not in tags  # 人工智能 once in the body


def test_multi_token_names_match_without_substring_false_positives():
    v = vocab()
    assert suggest_tags(title="GeForce RTX 新品", text="", vocabulary=v) == ["GeForce RTX"]
    assert suggest_tags(title="支持 Wi-Fi 7 的路由器", text="", vocabulary=v) == ["Wi-Fi 7"]
    assert suggest_tags(title="email 与 paint 更新", text="detail maintain", vocabulary=v) == []


def test_editor_rules_add_tags_and_resolve_aliases():
    rules = [("Blackwell", False, "英伟达"), (r"B\d{3}\s*芯片", True, "芯片"), ("([bad", True, "x")]
    tags = suggest_tags(title="B200 芯片出货", text="基于 Blackwell 架构", vocabulary=vocab(), rules=rules)
    assert set(tags[:2]) == {"NVIDIA", "芯片"}
    new = suggest_tags(title="x", text="量子计算突破", vocabulary=vocab(), rules=[("量子计算", False, "#量子計算#")])
    assert new == ["量子计算"]  # a new tag name comes back normalized


def test_limit_and_empty():
    text = "NVIDIA GPU AI 开源 大模型 芯片 数据中心 华为 AMD 苹果"
    assert len(suggest_tags(title=text, text="", vocabulary=vocab(), limit=3)) == 3
    assert suggest_tags(title="", text="", vocabulary=vocab()) == []
    assert suggest_tags(title="英伟达", text="", vocabulary={}) == []
