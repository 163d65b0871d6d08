"""相关推荐, precomputed when an article is stored: shared tags + shared keywords."""
from __future__ import annotations

from collections import Counter

from django.db import transaction

from articles.models import Article, RelatedArticle, TaggedArticle
from articles.text.tokenizer import keywords

RELATED_LIMIT = 6
CANDIDATES = 200


def _keywords(article: Article) -> list[str]:
    return keywords(f"{article.title} {article.title} {article.search_text[:4000]}", top_k=15)


def compute_related(article: Article) -> list[tuple[int, float, list[str]]]:
    tag_ids = list(TaggedArticle.objects.filter(content_object=article).values_list("tag_id", flat=True))
    shared_tags: Counter[int] = Counter()
    if tag_ids:
        rows = (
            TaggedArticle.objects.filter(tag_id__in=tag_ids, content_object__status=Article.Status.PUBLISHED)
            .exclude(content_object_id=article.pk)
            .order_by("-content_object_id")
            .values_list("content_object_id", flat=True)[: CANDIDATES * 3]
        )
        shared_tags.update(rows)
    candidate_ids = [aid for aid, _ in shared_tags.most_common(CANDIDATES)]
    if not candidate_ids:
        return []
    mine = set(_keywords(article))
    scored = []
    for other in Article.objects.filter(pk__in=candidate_ids).exclude(story_id=article.pk).only("id", "title", "search_text"):
        if article.story_id and other.id == article.story_id:
            continue
        theirs = _keywords(other)
        shared = [w for w in theirs if w in mine]
        score = shared_tags[other.id] * 1.0 + len(shared) * 0.5
        scored.append((other.id, score, shared[:5]))
    scored.sort(key=lambda x: (-x[1], -x[0]))
    return scored[:RELATED_LIMIT]


def refresh_for(article_id: int) -> None:
    article = Article.objects.filter(pk=article_id).first()
    if article is None:
        return
    rows = compute_related(article)
    with transaction.atomic():
        RelatedArticle.objects.filter(article=article).delete()
        RelatedArticle.objects.bulk_create(
            [RelatedArticle(article=article, related_id=rid, score=s, shared_words=w) for rid, s, w in rows]
        )
        # A newcomer may belong in its neighbours' lists too: add it where it beats their weakest.
        for rid, score, words in rows:
            links = list(RelatedArticle.objects.filter(article_id=rid).order_by("-score"))
            if len(links) >= RELATED_LIMIT and links[-1].score >= score:
                continue
            RelatedArticle.objects.update_or_create(
                article_id=rid, related_id=article.pk, defaults={"score": score, "shared_words": words}
            )
            extra = links[RELATED_LIMIT - 1 :]
            if extra:
                RelatedArticle.objects.filter(pk__in=[link.pk for link in extra]).delete()
