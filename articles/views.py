"""Reader pages: thin views, queries from selectors, stored counts only."""
from __future__ import annotations

import hashlib

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import F, Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from articles import counters, selectors
from articles.models import Article, Bookmark, RelatedArticle, Tag
from articles.tags import tag_follow, tag_unfollow
from feeds.models import Source

PAGE_SIZE = 20


def _page(request: HttpRequest, qs, size: int = PAGE_SIZE):
    paginator = Paginator(qs, size)
    try:
        number = int(request.GET.get("page", "1"))
    except ValueError:
        raise Http404("页码无效")
    if number < 1 or (number > paginator.num_pages and number != 1):
        raise Http404("没有这一页")
    return paginator.page(number)


def _visitor(request: HttpRequest) -> str:
    if request.user.is_authenticated:
        return f"u{request.user.pk}"
    if not request.session.session_key:
        request.session.save()
    return "s" + hashlib.sha1(request.session.session_key.encode()).hexdigest()[:16]


def _with_pending_reads(articles) -> None:
    pending = counters.pending_reads([a.pk for a in articles])
    for a in articles:
        a.read_total = a.read_count + pending.get(a.pk, 0)


def _hot(hours: int, limit: int = 10) -> list[Article]:
    ids = counters.hot_article_ids(hours, limit)
    by_id = {a.pk: a for a in Article.objects.published().filter(pk__in=ids).select_related("source").defer("body", "search_text")}
    hot = [by_id[i] for i in ids if i in by_id][:limit]
    if not hot:
        hot = list(selectors.article_list().order_by("-read_count", "-published_at")[:limit])
    _with_pending_reads(hot)
    return hot


def _list_context(request: HttpRequest, page) -> dict:
    items = list(page.object_list)
    _with_pending_reads(items)
    return {
        "page_obj": page,
        "articles": items,
        "bookmarked": selectors.bookmarked_ids(request.user, [a.pk for a in items]),
        "followed": selectors.followed_tag_ids(request.user),
    }


def home(request: HttpRequest) -> HttpResponse:
    page = _page(request, selectors.article_list())
    ctx = _list_context(request, page)
    ctx.update(hot=_hot(24), popular_tags=selectors.popular_tags(20))
    return render(request, "articles/home.html", ctx)


def hot(request: HttpRequest) -> HttpResponse:
    window = request.GET.get("window", "24h")
    hours = {"24h": 24, "7d": 24 * 7}.get(window)
    if hours is None:
        raise Http404("无效的时间窗口")
    return render(request, "articles/hot.html", {"hot": _hot(hours, 30), "window": window})


def article_detail(request: HttpRequest, pk: int) -> HttpResponse:
    article = get_object_or_404(
        Article.objects.select_related("source").prefetch_related("tags"),
        pk=pk,
    )
    if article.status != Article.Status.PUBLISHED and not request.user.is_staff:
        raise Http404("文章不存在或已下线")
    counters.record_read(article.pk, _visitor(request))
    _with_pending_reads([article])
    tags = list(article.tags.all())
    related = list(
        RelatedArticle.objects.filter(article=article, related__status=Article.Status.PUBLISHED)
        .select_related("related", "related__source")
        .order_by("-score")[:6]
    )
    _with_pending_reads([r.related for r in related])
    root_id = article.story_id or article.pk
    also = list(
        Article.objects.published()
        .filter(Q(pk=root_id) | Q(story_id=root_id))
        .exclude(pk=article.pk)
        .select_related("source")
        .only("id", "title", "url", "source__name", "source__slug")[:10]
    )
    followed = selectors.followed_tag_ids(request.user)
    bookmarked = bool(selectors.bookmarked_ids(request.user, [article.pk]))
    return render(request, "articles/detail.html", {
        "article": article,
        "tags": tags,
        "related": related,
        "also_reported": also,
        "hot": _hot(24, 8),
        "followed": followed,
        "is_bookmarked": bookmarked,
    })


def tag_list(request: HttpRequest) -> HttpResponse:
    page = _page(request, Tag.objects.order_by("-articles_count", "name"), 100)
    return render(request, "articles/tag_list.html", {
        "page_obj": page, "tags": page.object_list, "followed": selectors.followed_tag_ids(request.user),
    })


def tag_detail(request: HttpRequest, slug: str) -> HttpResponse:
    tag = get_object_or_404(Tag, slug=slug)
    page = _page(request, selectors.article_list(Article.objects.filter(tags=tag)))
    ctx = _list_context(request, page)
    ctx.update(tag=tag)
    return render(request, "articles/tag_detail.html", ctx)


def source_detail(request: HttpRequest, slug: str) -> HttpResponse:
    source = get_object_or_404(Source, slug=slug)
    page = _page(request, selectors.article_list(Article.objects.filter(source=source)))
    ctx = _list_context(request, page)
    ctx.update(source=source)
    return render(request, "articles/source_detail.html", ctx)


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    nxt = request.POST.get("next") or request.META.get("HTTP_REFERER") or fallback
    if not url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        nxt = fallback
    return redirect(nxt)


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@require_POST
@login_required
def tag_follow_toggle(request: HttpRequest, slug: str) -> HttpResponse:
    tag = get_object_or_404(Tag, slug=slug)
    if request.POST.get("action") == "unfollow":
        tag_unfollow(user=request.user, tag=tag)
        following = False
    else:
        tag_follow(user=request.user, tag=tag)
        following = True
    tag.refresh_from_db(fields=["followers_count"])
    if _wants_json(request):
        return JsonResponse({"following": following, "followers": tag.followers_count})
    return _back(request, tag.get_absolute_url())


@require_POST
@login_required
def bookmark_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    article = get_object_or_404(Article.objects.published(), pk=pk)
    with transaction.atomic():
        if request.POST.get("action") == "remove":
            deleted, _ = Bookmark.objects.filter(user=request.user, article=article).delete()
            if deleted:
                Article.objects.filter(pk=pk, bookmark_count__gt=0).update(bookmark_count=F("bookmark_count") - 1)
            bookmarked = False
        else:
            _, created = Bookmark.objects.get_or_create(user=request.user, article=article)
            if created:
                Article.objects.filter(pk=pk).update(bookmark_count=F("bookmark_count") + 1)
            bookmarked = True
    article.refresh_from_db(fields=["bookmark_count"])
    if _wants_json(request):
        return JsonResponse({"bookmarked": bookmarked, "bookmarks": article.bookmark_count})
    return _back(request, article.get_absolute_url())


@login_required
def me(request: HttpRequest) -> HttpResponse:
    page = _page(request, selectors.stream_for(request.user))
    ctx = _list_context(request, page)
    ctx["followed_tags"] = Tag.objects.filter(follows__user=request.user).order_by("name")
    return render(request, "articles/me.html", ctx)


@login_required
def my_bookmarks(request: HttpRequest) -> HttpResponse:
    qs = Article.objects.published().filter(bookmarks__user=request.user).for_list().order_by("-bookmarks__created_at")
    page = _page(request, qs)
    return render(request, "articles/bookmarks.html", _list_context(request, page))


def signup(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = UserCreationForm(request.POST)
        if form.is_valid():
            user = form.save()
            login(request, user)
            messages.success(request, "注册成功，欢迎！")
            return redirect(request.GET.get("next") or "/")
    else:
        form = UserCreationForm()
    return render(request, "registration/signup.html", {"form": form})


def search(request: HttpRequest) -> HttpResponse:
    from articles.search import query_terms, search_articles

    q = request.GET.get("q", "").strip()[:100]
    results = search_articles(q, Article.objects.published()).select_related("source").prefetch_related("tags") if q else Article.objects.none()
    page = _page(request, results)
    ctx = _list_context(request, page)
    ctx.update(q=q, terms=query_terms(q) if q else [])
    return render(request, "articles/search.html", ctx)
