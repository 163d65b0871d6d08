"""Comments: logged-in readers, replies one level deep, spam to moderation
(the content pipeline's lexicon + SpamRule rows), editor approve/hide, stored counts."""
from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from articles.models import Article, Comment, SpamRule
from tests.readers.conftest import store

pytestmark = pytest.mark.django_db


@pytest.fixture
def article(source):
    return store(source, "英伟达发布新一代推理平台", "英伟达今天发布了新一代推理平台。")


def post(client, article, body, parent=None):
    data = {"body": body} | ({"parent": parent.pk} if parent else {})
    return client.post(f"/articles/{article.pk}/comments/", data)


def test_comment_and_reply_threads_one_level_deep(client, reader, article):
    r = post(client, article, "写得很好，期待实测。\n第二行")
    top = Comment.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/articles/{article.pk}/#c{top.pk}"
    post(client, article, "同意楼上", parent=top)
    reply = Comment.objects.get(body="同意楼上")
    assert reply.parent_id == top.pk
    post(client, article, "回复的回复", parent=reply)
    assert Comment.objects.get(body="回复的回复").parent_id == top.pk  # joins the thread, never deeper
    assert Article.objects.get(pk=article.pk).comment_count == 3

    html = client.get(f"/articles/{article.pk}/").content.decode()
    assert '评论 <span class="count">3</span>' in html
    thread = re.search(rf'<li class="comment" id="c{top.pk}">(.*?)</details>', html, re.S).group(1)
    assert "写得很好，期待实测。<br>第二行" in thread
    assert "同意楼上" in thread and "回复的回复" in thread
    assert "duzhe" in thread and "刚刚" in thread
    assert '<label for="comment-body">发表评论</label>' in html
    # The card on lists shows the stored count.
    assert "评论 3" in client.get("/").content.decode()


def test_invalid_comments_are_refused(client, reader, article):
    post(client, article, "   ")
    post(client, article, "x" * 2001)
    post(client, article, "回复不存在的评论", parent=Comment(pk=999999))
    assert not Comment.objects.exists()
    post(client, article, "一样的话")
    post(client, article, "一样的话")
    assert Comment.objects.count() == 1
    html = client.get(f"/articles/{article.pk}/").content.decode()
    assert "请不要重复发表相同的评论" in html


def test_comments_escape_markup(client, reader, article):
    post(client, article, '<script>alert("x")</script><b>粗</b>')
    html = client.get(f"/articles/{article.pk}/").content.decode()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;b&gt;粗&lt;/b&gt;" in html


def test_spam_goes_to_moderation_and_editors_decide(client, reader, article):
    post(client, article, "澳门赌场,在线百家乐,六合彩开奖,真人娱乐城,注册送彩金,时时彩平台")
    SpamRule.objects.create(pattern="加微信领红包", weight=5.0)
    post(client, article, "想要资料的加微信领红包")
    post(client, article, "正常的评论")
    pending = list(Comment.objects.filter(status=Comment.Status.PENDING))
    assert len(pending) == 2 and all(c.moderation_note for c in pending)
    assert Article.objects.get(pk=article.pk).comment_count == 1
    html = client.get(f"/articles/{article.pk}/").content.decode()
    assert "百家乐" not in html and "加微信领红包" not in html and "正常的评论" in html

    editor = get_user_model().objects.create_superuser("editor", "e@example.com", "pw-editor-123")
    client.force_login(editor)
    assert client.get("/admin/articles/comment/").status_code == 200
    ok = Comment.objects.get(body="想要资料的加微信领红包")
    normal = Comment.objects.get(body="正常的评论")
    client.post("/admin/articles/comment/", {"action": "approve", "_selected_action": [ok.pk]})
    assert Comment.objects.get(pk=ok.pk).status == Comment.Status.PUBLISHED
    assert Article.objects.get(pk=article.pk).comment_count == 2
    client.post("/admin/articles/comment/", {"action": "hide", "_selected_action": [normal.pk, ok.pk]})
    assert Article.objects.get(pk=article.pk).comment_count == 0
    assert "还没有评论" in client.get(f"/articles/{article.pk}/").content.decode()


def test_hiding_a_thread_hides_its_replies_from_the_count(client, reader, article):
    post(client, article, "楼主")
    top = Comment.objects.get()
    post(client, article, "楼中楼", parent=top)
    assert Article.objects.get(pk=article.pk).comment_count == 2
    from articles.comments import comments_set_status

    comments_set_status(comment_ids=[top.pk], status=Comment.Status.HIDDEN)
    assert Article.objects.get(pk=article.pk).comment_count == 0
    assert "楼中楼" not in client.get(f"/articles/{article.pk}/").content.decode()


def test_comment_posting_is_rate_limited(client, reader, article, steady_clock):
    codes = [post(client, article, f"第{i}条评论").status_code for i in range(6)]
    assert codes == [302] * 5 + [429]
    assert Comment.objects.count() == 5
