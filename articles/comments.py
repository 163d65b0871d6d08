"""Comment services: post (validated, spam-checked with the content pipeline's
rules), moderate, and keep Article.comment_count stored.

Replies are one level deep: replying to a reply joins the top-level thread.
A comment the spam check dislikes is kept as 待审核 for an editor, not shown.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from articles.models import Article, Comment, SpamRule
from articles.text.sanitize import text_to_html
from articles.text.spam import check_spam
from newsroom.entry import xml_safe

MAX_LENGTH = 2000
MAX_LINKS = 2
DUPLICATE_WINDOW = timedelta(minutes=10)
_LINK_RE = re.compile(r"https?://|www\.", re.IGNORECASE)


def _spam_rules() -> tuple[tuple[str, bool, float], ...]:
    return tuple(SpamRule.objects.filter(active=True).values_list("pattern", "is_regex", "weight"))


def _moderation(body: str) -> tuple[str, float, str]:
    """(status, score, note) for a new comment's text."""
    verdict = check_spam(text_to_html(body), title="", rules=_spam_rules())
    if verdict.removed or verdict.should_moderate:
        return Comment.Status.PENDING, verdict.score, "疑似垃圾内容"
    if len(_LINK_RE.findall(body)) > MAX_LINKS:
        return Comment.Status.PENDING, verdict.score, "链接过多"
    return Comment.Status.PUBLISHED, verdict.score, ""


def comment_create(*, user, article: Article, body: str, parent_id: int | None = None) -> Comment:
    """Post a comment (or a reply). Raises ValidationError with a reader-facing message."""
    # Control characters are nothing a reader types (and PostgreSQL refuses a NUL).
    body = xml_safe(body or "").replace("\r\n", "\n").strip()
    if not body:
        raise ValidationError("评论内容不能为空")
    if len(body) > MAX_LENGTH:
        raise ValidationError(f"评论不能超过 {MAX_LENGTH} 字")
    if article.status != Article.Status.PUBLISHED:
        raise ValidationError("这篇文章不能评论")
    parent = None
    if parent_id:
        parent = Comment.objects.filter(
            pk=parent_id, article=article, status=Comment.Status.PUBLISHED
        ).only("id", "parent_id").first()
        if parent is None:
            raise ValidationError("要回复的评论不存在")
        if parent.parent_id:
            parent = Comment(pk=parent.parent_id)  # one level deep: join the top-level thread
    if Comment.objects.filter(
        user=user, article=article, body=body, created_at__gte=timezone.now() - DUPLICATE_WINDOW
    ).exists():
        raise ValidationError("请不要重复发表相同的评论")
    status, score, note = _moderation(body)
    with transaction.atomic():
        comment = Comment.objects.create(
            article=article, user=user, parent_id=parent.pk if parent else None, body=body,
            status=status, spam_score=score, moderation_note=note,
        )
        if status == Comment.Status.PUBLISHED:
            comments_recount(article_ids=[article.pk])
    return comment


def comments_recount(*, article_ids: Iterable[int]) -> None:
    """Store how many published comments each article shows (a reply under a
    hidden comment is not shown, so it does not count)."""
    ids = list(set(article_ids))
    if not ids:
        return
    visible = (
        Comment.objects.filter(article=OuterRef("pk"), status=Comment.Status.PUBLISHED)
        .filter(Q(parent__isnull=True) | Q(parent__status=Comment.Status.PUBLISHED))
        .order_by()
        .values("article")
        .annotate(n=Count("id"))
        .values("n")
    )
    Article.objects.filter(pk__in=ids).update(comment_count=Coalesce(Subquery(visible), 0))


@transaction.atomic
def comments_set_status(*, comment_ids: Iterable[int], status: str) -> int:
    """Editor moderation (approve / hide): the statuses change and the counts follow."""
    ids = list(comment_ids)
    changed = Comment.objects.filter(pk__in=ids).exclude(status=status).update(status=status)
    comments_recount(article_ids=Comment.objects.filter(pk__in=ids).values_list("article_id", flat=True))
    return changed
