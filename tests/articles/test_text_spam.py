"""Spam lines: lexicon + line shape + editor rules; normal tech news untouched."""
from __future__ import annotations

from articles.text import spam
from articles.text.spam import SpamVerdict, check_spam

SPAM_LINE = "澳门葡京娱乐,真人百家乐平台,六合彩开奖结果,时时彩计划网,棋牌游戏下载,线上赌场推荐"
NEWS = (
    "<p>英伟达今天发布了新一代推理芯片，性能提升 30 倍。</p>"
    "<p>首批客户包括微软、谷歌、亚马逊、甲骨文、戴尔和联想等公司。</p>"
    "<p>分析师认为，推理算力需求仍在快速增长。</p>"
)


def test_injected_spam_line_is_removed_and_article_kept():
    verdict = check_spam(f"<p>{SPAM_LINE}</p>{NEWS}", title="英伟达发布新一代推理芯片")
    assert isinstance(verdict, SpamVerdict)
    assert verdict.removed == [SPAM_LINE]
    assert verdict.html == NEWS
    assert 0 < verdict.spam_ratio < 0.5
    assert not verdict.title_is_spam and not verdict.should_moderate
    assert verdict.score > 0


def test_spam_between_br_lines_removes_only_that_line():
    html = f"<p>第一行正文内容。<br>{SPAM_LINE}<br>第三行正文内容。</p>"
    verdict = check_spam(html, title="标题")
    assert verdict.html == "<p>第一行正文内容。<br>第三行正文内容。</p>"
    last = check_spam(f"<p>正文内容在这里。<br>{SPAM_LINE}</p>", title="标题")
    assert last.html == "<p>正文内容在这里。</p>"


def test_loose_spam_text_and_list_items():
    html = f"<ul><li>正常条目一</li><li>{SPAM_LINE}</li></ul>"
    assert check_spam(html, title="t").html == "<ul><li>正常条目一</li></ul>"


def test_dense_run_on_spam_without_commas():
    verdict = check_spam("<p>澳门新葡京娱乐城真人百家乐注册送彩金</p><p>正常的一段新闻内容，讲述芯片行业。</p>", title="t")
    assert verdict.removed == ["澳门新葡京娱乐城真人百家乐注册送彩金"]


def test_normal_news_mentioning_lottery_once_is_not_spam():
    html = "<p>中国福利彩票发行中心今天宣布，将采用基于国产芯片的新一代售票终端。</p>" + NEWS
    verdict = check_spam(html, title="福利彩票终端换用国产芯片")
    assert verdict.removed == [] and verdict.html == html
    assert not verdict.title_is_spam and not verdict.should_moderate


def test_product_list_inside_a_sentence_is_not_spam():
    html = "<p>本次发布的产品包括骁龙旗舰平台、天玑移动芯片、麒麟手机处理器、昇腾推理加速卡、鸿蒙车机系统等型号。</p>"
    assert check_spam(html, title="t").removed == []


def test_keyword_line_of_tech_terms_is_not_spam():
    html = "<p>英伟达,数据中心,人工智能,大模型推理,高带宽内存,先进封装</p>"
    assert check_spam(html, title="t").removed == []


def test_news_sentence_about_a_gambling_crackdown_is_kept():
    html = "<p>警方捣毁一个利用境外服务器运营网络赌博、六合彩、时时彩的犯罪团伙。</p>"
    assert check_spam(html, title="警方破获网络赌博案").removed == []


def test_spam_title_goes_to_moderation():
    verdict = check_spam(NEWS, title="澳门新葡京娱乐城官方网站")
    assert verdict.title_is_spam and verdict.should_moderate


def test_traditional_or_fullwidth_editor_rules_match_normalized_text():
    verdict = check_spam("<p>联系我们购买正版软件激活码</p>" + NEWS, title="t", rules=[("購買正版軟件激活碼", False, 6.0)])
    assert verdict.removed == ["联系我们购买正版软件激活码"]


def test_mostly_spam_article_goes_to_moderation():
    html = f"<p>{SPAM_LINE}</p><p>{SPAM_LINE}，百家乐</p><p>短正文。</p>"
    verdict = check_spam(html, title="正常标题")
    assert verdict.spam_ratio > 0.5 and verdict.should_moderate


def test_scattered_spam_left_behind_goes_to_moderation():
    html = "".join(f"<p>今天介绍真人百家乐和六合彩开奖的新玩法第{i}期，内容请看下文。</p>" for i in range(3))
    verdict = check_spam(html, title="新玩法介绍")
    assert verdict.removed == [] and verdict.should_moderate


def test_editor_rules_plain_and_regex():
    html = "<p>欢迎光临，加V：abc12345 领取福利</p>" + NEWS
    weak = check_spam(html, title="t", rules=[(r"加v[:：]\s*\w+", True, 1.0)])
    assert weak.removed == []  # low weight is evidence, not a verdict
    strong = check_spam(html, title="t", rules=[(r"加v[:：]\s*\w+", True, 6.0)])
    assert strong.removed == ["欢迎光临，加V：abc12345 领取福利"]
    plain = check_spam("<p>超级好运来平台,幸运转盘,好运来注册,好运来下载,好运来官网</p>", title="t", rules=[("好运来", False, 1.0)])
    assert len(plain.removed) == 1


def test_invalid_editor_regex_is_ignored():
    verdict = check_spam(NEWS, title="t", rules=[("([unclosed", True, 9.0)])
    assert verdict.removed == [] and verdict.html == NEWS


def test_compiled_matchers_are_cached_per_rule_set():
    rules = (("好运来", False, 1.0), (r"加v\d+", True, 6.0))
    check_spam(NEWS, title="t", rules=rules)
    before = (spam._automaton.cache_info().hits, spam._regexes.cache_info().hits)
    check_spam(NEWS, title="t", rules=list(rules))
    after = (spam._automaton.cache_info().hits, spam._regexes.cache_info().hits)
    assert after[0] == before[0] + 1 and after[1] == before[1] + 1


def test_clean_article_fast_path_returns_input_untouched():
    verdict = check_spam(NEWS, title="英伟达发布新芯片")
    assert verdict == SpamVerdict(score=0.0, title_is_spam=False, spam_ratio=0.0, removed=[], html=NEWS, should_moderate=False)


def test_empty_body():
    verdict = check_spam("", title="")
    assert verdict.html == "" and not verdict.should_moderate
