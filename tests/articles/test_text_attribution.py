"""Attribution lines → fields, removed from the body; prose untouched."""
from __future__ import annotations

from articles.text.attribution import Attribution, extract_attribution

BODY = "<p>英伟达今天发布了新一代推理芯片。</p><p>首批产品将于明年上市。</p>"


def test_model_page_attribution_block():
    html = (
        BODY + "<p>原文标题：英伟达发布新一代推理芯片，性能提升30倍</p>"
        "<p>文章出处：【微信号：xinshijie_tech，微信公众号：芯视界】欢迎添加关注！文章转载请注明出处。</p>"
    )
    result = extract_attribution(html)
    assert isinstance(result, Attribution)
    assert result.original_title == "英伟达发布新一代推理芯片，性能提升30倍"
    assert result.origin_account == "芯视界"
    assert result.html == BODY


def test_source_author_editor_on_one_line():
    result = extract_attribution(BODY + "<p>来源：IT之家　作者：张三　责任编辑：李四</p>")
    assert result.origin_account == "IT之家" and result.author == "张三"
    assert result.html == BODY


def test_lines_inside_a_br_separated_block():
    html = "<p>正文第一行。<br>作者：王五<br>来源：快科技</p>"
    result = extract_attribution(html)
    assert result.author == "王五" and result.origin_account == "快科技"
    assert result.html == "<p>正文第一行。</p>"


def test_wechat_account_wins_over_plain_source():
    html = BODY + "<p>来源：网络</p><p>文章出处：【微信号：abc_tech，微信公众号：半导体观察】</p>"
    assert extract_attribution(html).origin_account == "半导体观察"


def test_origin_without_wechat_name_uses_source_text():
    result = extract_attribution(BODY + "<p>文章出处：电子发烧友网</p>")
    assert result.origin_account == "电子发烧友网"


def test_statement_and_reposting_boilerplate_removed():
    html = (
        BODY + "<p>声明：本文由入驻作者撰写，观点仅代表作者本人，转载请注明出处。</p>"
        "<p>免责声明：如有侵权请联系删除。</p><p>点击上方蓝字关注我们</p>"
    )
    assert extract_attribution(html).html == BODY


def test_inline_byline_gives_author_but_line_stays():
    html = "<p>电子发烧友网报道（文/周明）近日，英伟达发布了新一代推理平台。</p>"
    result = extract_attribution(html)
    assert result.author == "周明" and result.html == html


def test_byline_forms():
    assert extract_attribution("<p>文 | 赵六</p>" + BODY).author == "赵六"
    assert extract_attribution("<p>撰文：钱七，编辑：孙八</p>" + BODY).author == "钱七"


def test_prose_that_mentions_labels_is_kept():
    html = (
        "<p>数据来源：IDC，2025 年第三季度全球出货量统计。</p>"
        "<p>作者在文中写道，这款芯片的推理性能相比上一代提升了三十倍，能耗则显著下降，业内普遍认为这将改变数据中心的采购格局。</p>"
        "<p>该公司声明称，新产品将于明年上市，并且不会调整既有产品的价格策略，此前的传闻并不属实。</p>"
    )
    result = extract_attribution(html)
    assert result.html == html
    assert result == Attribution(html=html)


def test_first_value_wins():
    html = "<p>作者：甲</p>" + BODY + "<p>作者：乙</p>"
    result = extract_attribution(html)
    assert result.author == "甲" and result.html == BODY


def test_empty():
    assert extract_attribution("") == Attribution()
