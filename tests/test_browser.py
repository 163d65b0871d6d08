"""A reader in headless Chromium: open an article, log in, follow a tag, see the count."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from articles.models import Article, Tag
from articles.tags import tag_get_or_create
from feeds.models import Source
from tests.browser import chromium_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def article():
    source = Source.objects.create(name="芯片快讯", slug="chips", url="https://example.com/chips.xml")
    a = Article.objects.create(source=source, guid="g1", guid_hash="1" * 40, title="英伟达发布新一代推理平台",
                               body="<p>英伟达今天发布了新一代推理平台。</p>", summary="英伟达发布推理平台")
    tag = tag_get_or_create(name="NVIDIA")
    a.tags.add(tag)
    Tag.objects.filter(pk=tag.pk).update(articles_count=1)
    return a


def test_follow_a_tag_from_the_article_page(live_server, article):
    get_user_model().objects.create_user("reader", password="pw-reader-123")
    with chromium_page() as page:
        page.goto(f"{live_server.url}/articles/{article.pk}/")
        assert page.locator("h1").inner_text() == "英伟达发布新一代推理平台"
        assert "英伟达今天发布了新一代推理平台" in page.locator("article").inner_text()
        chip = page.locator('.tagchip[data-tag="nvidia"]').first
        assert "关注 0" in chip.inner_text()

        chip.get_by_role("link", name="登录后关注 NVIDIA").click()
        page.fill("#id_username", "reader")
        page.fill("#id_password", "pw-reader-123")
        page.get_by_role("button", name="登录").click()
        page.wait_for_url(f"**/articles/{article.pk}/")

        button = page.get_by_role("button", name="关注 NVIDIA")
        button.click()
        page.get_by_role("button", name="取消关注 NVIDIA").wait_for()
        assert "关注 1" in page.locator('.tagchip[data-tag="nvidia"]').first.inner_text()
        # Updated in place by JavaScript; a reload shows the stored count.
        page.reload()
        assert "关注 1" in page.locator('.tagchip[data-tag="nvidia"]').first.inner_text()
        assert page.get_by_role("button", name="取消关注 NVIDIA").is_visible()
    assert Tag.objects.get(name="NVIDIA").followers_count == 1
