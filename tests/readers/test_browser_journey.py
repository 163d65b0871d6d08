"""A reader in headless Chromium: sign up, follow a tag (keyboard), see it in /me/,
bookmark, comment, search and open a highlighted result; a 390 px phone never scrolls sideways."""
from __future__ import annotations

import pytest

from articles.models import Article, Bookmark, Comment, Tag
from tests.browser import chromium_page
from tests.readers.conftest import make_source, store

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDE_BODY = (
    "<p>英伟达今天发布了新一代推理芯片，面向大模型推理，性能提升明显。</p>"
    "<p>详见 https://example.com/" + "a" * 120 + "</p>"
    "<table><tr>" + "".join(f"<td>第{i}列数据</td>" for i in range(14)) + "</tr></table>"
    "<pre>" + "x = 1; " * 60 + "</pre>"
    "<p>Supercalifragilisticexpialidocious" + "Z" * 80 + "</p>"
)


@pytest.fixture
def site(django_capture_on_commit_callbacks):
    source = make_source("芯片快讯", "chips", tags="芯片")
    with django_capture_on_commit_callbacks(execute=True):
        main = store(source, "英伟达发布新一代推理芯片", WIDE_BODY, hours_ago=2)
        for i in range(4):
            store(source, f"推理芯片市场观察第{i}期", f"推理芯片市场第{i}期观察：英伟达、AMD 与国产厂商。", hours_ago=3 + i)
        store(make_source("手机快讯", "phones", tags="手机"), "新款手机续航评测", "这款手机续航表现不错。", hours_ago=1)
    return main


def no_horizontal_overflow(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_reader_journey(live_server, site):
    tag = Tag.objects.get(name="芯片")
    with chromium_page() as page:
        # Sign up.
        page.goto(f"{live_server.url}/accounts/signup/")
        page.fill("#id_username", "xiaoming")
        page.fill("#id_password1", "pw-xiaoming-2026")
        page.fill("#id_password2", "pw-xiaoming-2026")
        page.get_by_role("button", name="注册").click()
        page.wait_for_url(f"{live_server.url}/")
        assert "注册成功" in page.content()

        # Follow the tag from the article page, with the keyboard only.
        page.goto(f"{live_server.url}/articles/{site.pk}/")
        follow = page.get_by_role("button", name="关注 芯片", exact=True)
        follow.focus()
        page.keyboard.press("Enter")
        page.get_by_role("button", name="取消关注 芯片").wait_for()
        assert "关注 1" in page.locator(f'.tagchip[data-tag="{tag.slug}"]').first.inner_text()

        # The followed tag's articles are in /me/; the other source's are not.
        page.get_by_role("link", name="我的关注").click()
        page.wait_for_url("**/me/")
        stream = page.locator("ul.cards").inner_text()
        assert "英伟达发布新一代推理芯片" in stream and "推理芯片市场观察第0期" in stream
        assert "新款手机续航评测" not in stream

        # Bookmark (keyboard: Space on the focused button), then see it in /me/bookmarks/.
        page.goto(f"{live_server.url}/articles/{site.pk}/")
        bookmark = page.get_by_role("button", name="收藏 0")
        bookmark.focus()
        page.keyboard.press(" ")
        page.get_by_role("button", name="已收藏 1").wait_for()
        assert page.get_by_role("button", name="已收藏 1").get_attribute("aria-pressed") == "true"
        page.goto(f"{live_server.url}/me/bookmarks/")
        assert "英伟达发布新一代推理芯片" in page.locator("ul.cards").inner_text()

        # Comment, then reply in the thread.
        page.goto(f"{live_server.url}/articles/{site.pk}/")
        page.get_by_label("发表评论").fill("推理性能值得期待，等实测。")
        page.get_by_role("button", name="发表评论").click()
        page.wait_for_url(f"**/articles/{site.pk}/#c*")
        assert "推理性能值得期待，等实测。" in page.locator("#comments").inner_text()
        page.locator("#comments details.reply-box summary").first.click()
        page.get_by_label("回复 xiaoming").fill("同意")
        page.get_by_role("button", name="发表回复给 xiaoming").click()
        page.wait_for_url(f"**/articles/{site.pk}/#c*")
        assert page.locator("#comments ol.replies").inner_text().count("同意") == 1
        assert page.locator("#comments-h .count").inner_text() == "2"

        # Search from the top bar and open a highlighted result.
        page.fill("#q", "英伟达 推理")
        page.keyboard.press("Enter")
        page.wait_for_url("**/search/?q=*")
        highlighted = page.locator(".results .card-title a:has(b)").first
        assert highlighted.locator("b").first.inner_text() in ("英伟达", "推理")
        target = highlighted.get_attribute("href")
        highlighted.click()
        page.wait_for_url(f"**{target}")
        assert page.locator("h1").inner_text()

    assert Tag.objects.get(pk=tag.pk).followers_count == 1
    assert Bookmark.objects.filter(user__username="xiaoming", article=site).exists()
    assert Article.objects.get(pk=site.pk).bookmark_count == 1
    assert Comment.objects.filter(article=site).count() == 2
    assert Article.objects.get(pk=site.pk).comment_count == 2


PAGES = ["/", "/articles/{pk}/", "/search/?q=英伟达", "/hot/", "/tags/", "/sources/chips/"]


def test_phone_viewport_never_scrolls_sideways(live_server, site):
    """390 px phone and a desktop: no horizontal scrolling; screenshots in /tmp for a look."""
    for label, options in (
        ("phone", {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}),
        ("desktop", {"viewport": {"width": 1280, "height": 900}}),
    ):
        with chromium_page(**options) as page:
            for path in PAGES:
                page.goto(live_server.url + path.format(pk=site.pk))
                width = page.evaluate("document.documentElement.scrollWidth")
                assert no_horizontal_overflow(page), (label, path, width)
                name = path.strip("/").split("/")[0].split("?")[0] or "home"
                page.screenshot(path=f"/tmp/newsroom-{label}-{name}.png", full_page=label == "phone")
