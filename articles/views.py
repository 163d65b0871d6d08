"""Reader pages: thin views, queries from selectors, writes in services, stored counts only."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from articles import counters, pagecache, selectors
from articles.visitors import visitor_for, with_visitor_cookie
from articles.cache import bump_articles, bump_lists
from articles.comments import comment_create
from articles.interactions import bookmark_add, bookmark_remove, source_follow, source_unfollow
from articles.models import Article, Tag
from articles.search import RANK_WINDOW, SearchParams, filtered_search, parse_query
from articles.tags import tag_follow, tag_unfollow
from feeds.models import Source
from newsroom.converters import row_id
from newsroom.ratelimit import ratelimit

PAGE_SIZE = 20
HOT_WINDOWS = {"24h": 24, "7d": 24 * 7}


def _page(request: HttpRequest, qs, size: int = PAGE_SIZE, count: int | None = None):
    """Stable ?page=N URLs; anything else (page=0, page=x, past the end) is a 404.
    `count`: a stored count (tag / source stats) instead of COUNT(*) over the list."""
    paginator = Paginator(qs, size)
    if count is not None:
        # Never fewer than one page: a stored count that lags must not hide the first page.
        paginator.count = max(count, size)
    raw = request.GET.get("page", "1")
    if not (raw.isascii() and raw.isdigit()):  # "²".isdigit() is true too
        raise Http404("页码无效")
    number = int(raw)
    if number < 1 or (number > paginator.num_pages and number != 1):
        raise Http404("没有这一页")
    return paginator.page(number)


def _safe_next(request: HttpRequest, fallback: str) -> str:
    nxt = request.POST.get("next") or request.GET.get("next") or request.META.get("HTTP_REFERER") or fallback
    if not url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return fallback
    # Only a path or a URL: redirect() takes a bare word for a view name (and raises when there is
    # none), and a control character can't go in a Location header.
    if not nxt.startswith(("/", "http://", "https://")) or not nxt.isprintable():
        return fallback
    return nxt


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _list_context(request: HttpRequest, page) -> dict:
    # Counts as stored when the page cache fills them in after rendering (pagecache.fills_reads).
    items = selectors.attach_tags(selectors.with_pending_reads(page.object_list, not pagecache.fills_reads(request)))
    return {
        "page_obj": page,
        "articles": items,
        "bookmarked": selectors.bookmarked_ids(request.user, [a.pk for a in items]),
        "followed": selectors.followed_tag_ids(request.user),
    }


# --- lists ---------------------------------------------------------------------


@pagecache.cached_page
def home(request: HttpRequest) -> HttpResponse:
    ctx = _list_context(request, _page(request, selectors.home_articles(), count=selectors.published_story_count()))
    ctx.update(popular_tags=selectors.popular_tags(20))
    return render(request, "articles/home.html", ctx)


@pagecache.cached_page
def hot(request: HttpRequest) -> HttpResponse:
    window = request.GET.get("window", "24h")
    if window not in HOT_WINDOWS:
        raise Http404("无效的时间窗口")
    return render(request, "articles/hot.html", {
        "articles": selectors.hot_articles(HOT_WINDOWS[window], 30, cards=True, live=not pagecache.fills_reads(request)),
        "window": window,
        "windows": [("24h", "24 小时"), ("7d", "7 天")],
    })


@pagecache.cached_page
def tag_list(request: HttpRequest) -> HttpResponse:
    page = _page(request, Tag.objects.order_by("-articles_count", "name"), 100)
    return render(request, "articles/tag_list.html", {
        "page_obj": page, "tags": page.object_list, "followed": selectors.followed_tag_ids(request.user),
    })


@pagecache.cached_page
def tag_detail(request: HttpRequest, slug: str) -> HttpResponse:
    tag = get_object_or_404(Tag, slug=slug)
    ctx = _list_context(request, _page(request, selectors.tag_articles(tag), count=tag.articles_count))
    ctx.update(tag=tag)
    return render(request, "articles/tag_detail.html", ctx)


@pagecache.cached_page
def source_detail(request: HttpRequest, slug: str) -> HttpResponse:
    source = get_object_or_404(Source, slug=slug)
    ctx = _list_context(request, _page(request, selectors.source_articles(source), count=source.article_count))
    ctx.update(source=source, source_followed=bool(selectors.followed_source_ids(request.user, [source.pk])))
    return render(request, "articles/source_detail.html", ctx)


# --- the article page ------------------------------------------------------------


@pagecache.cached_page
def article_detail(request: HttpRequest, pk: int) -> HttpResponse:
    visitor, new_cookie = visitor_for(request)
    page = selectors.article_page(pk)
    if page is None:
        raise Http404("文章不存在或已下线")
    article = page.article
    if article.status != Article.Status.PUBLISHED and not request.user.is_staff:
        raise Http404("文章不存在或已下线")
    if not pagecache.fills_reads(request):  # else the page cache counts the read and fills in the counts
        if counters.record_read(article.pk, visitor) == counters.STORED:
            article.read_count += 1  # written straight to the database after this row was loaded
        selectors.with_pending_reads([article, *(link.related for link in page.related)])  # one HMGET
    response = render(request, "articles/detail.html", {
        "article": article,
        "tags": page.tags,
        "related": page.related,
        "also_reported": page.also_reported,
        "followed": selectors.followed_tag_ids(request.user),
        "source_followed": bool(selectors.followed_source_ids(request.user, [article.source_id])),
        "is_bookmarked": bool(selectors.bookmarked_ids(request.user, [article.pk])),
        # The stored count says whether there is anything to load.
        "comments": selectors.comment_threads(article) if article.comment_count else [],
    })
    if getattr(request, "page_cache", None) is not None:
        request.page_cache["read_id"] = article.pk  # the page cache counts the reader's read of this article
    return with_visitor_cookie(request, response, new_cookie)


@require_POST
@login_required
@ratelimit("comment", limit=5, window_seconds=60)
def comment_post(request: HttpRequest, pk: int) -> HttpResponse:
    article = get_object_or_404(Article.objects.published(), pk=pk)
    parent = request.POST.get("parent", "")
    try:
        comment = comment_create(
            user=request.user, article=article, body=request.POST.get("body", ""),
            parent_id=row_id(parent),
        )
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
        return redirect(f"{article.get_absolute_url()}#comments")
    bump_articles([article.pk], lists=True)  # its page, and the comment count on list cards
    if comment.status == comment.Status.PUBLISHED:
        messages.success(request, "评论已发表")
        return redirect(f"{article.get_absolute_url()}#c{comment.pk}")
    messages.info(request, "评论已提交，等待编辑审核后显示")
    return redirect(f"{article.get_absolute_url()}#comments")


# --- follows and bookmarks (work with and without JavaScript) ---------------------


def _follow_toggle(request: HttpRequest, target, follow, unfollow) -> HttpResponse:
    """Follow or unfollow a tag or a source; JSON for the in-place script, else a redirect."""
    following = request.POST.get("action") != "unfollow"
    (follow if following else unfollow)(request.user, target)
    selectors.forget_stream_count(request.user)  # /me/ lists more or fewer pages now
    # The tag / source page shows its follower count (a list page); the count in an article
    # page's tag and source boxes may lag by the page TTL, as their article counts do.
    bump_lists()
    if _wants_json(request):
        target.refresh_from_db(fields=["followers_count"])
        return JsonResponse({"following": following, "followers": target.followers_count})
    return redirect(_safe_next(request, target.get_absolute_url()))


@require_POST
@login_required
@ratelimit("toggle", limit=60, window_seconds=60)
def tag_follow_toggle(request: HttpRequest, slug: str) -> HttpResponse:
    return _follow_toggle(request, get_object_or_404(Tag, slug=slug),
                          lambda user, tag: tag_follow(user=user, tag=tag),
                          lambda user, tag: tag_unfollow(user=user, tag=tag))


@require_POST
@login_required
@ratelimit("toggle", limit=60, window_seconds=60)
def source_follow_toggle(request: HttpRequest, slug: str) -> HttpResponse:
    return _follow_toggle(request, get_object_or_404(Source, slug=slug),
                          lambda user, source: source_follow(user=user, source=source),
                          lambda user, source: source_unfollow(user=user, source=source))


@require_POST
@login_required
@ratelimit("toggle", limit=60, window_seconds=60)
def bookmark_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    article = get_object_or_404(Article.objects.published(), pk=pk)
    bookmarked = request.POST.get("action") != "remove"
    (bookmark_add if bookmarked else bookmark_remove)(user=request.user, article=article)
    bump_articles([article.pk], lists=True)  # its page, and the bookmark count on list cards
    if _wants_json(request):
        article.refresh_from_db(fields=["bookmark_count"])
        return JsonResponse({"bookmarked": bookmarked, "bookmarks": article.bookmark_count})
    return redirect(_safe_next(request, article.get_absolute_url()))


@login_required
def me(request: HttpRequest) -> HttpResponse:
    ctx = _list_context(request, _page(request, selectors.stream_articles(request.user)))
    ctx.update(followed_tags=selectors.followed_tags(request.user), followed_sources=selectors.followed_sources(request.user))
    return render(request, "articles/me.html", ctx)


@login_required
def my_bookmarks(request: HttpRequest) -> HttpResponse:
    return render(request, "articles/bookmarks.html", _list_context(request, _page(request, selectors.bookmarks_for(request.user))))


@ratelimit("signup", limit=5, window_seconds=3600)
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("/")
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        login(request, form.save())
        messages.success(request, "注册成功，欢迎！")
        nxt = request.GET.get("next", "/")
        return redirect(nxt if url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}) else "/")
    return render(request, "registration/signup.html", {"form": form, "next": request.GET.get("next", "")})


# --- search --------------------------------------------------------------------


def search(request: HttpRequest) -> HttpResponse:
    params = SearchParams.from_query_dict(request.GET)
    parsed = parse_query(params.q)
    results = filtered_search(params) if parsed else []
    ctx = _list_context(request, _page(request, results))
    ctx.update(q=params.q, params=params, terms=parsed.highlight, capped=len(results) >= RANK_WINDOW,
               tag_options=selectors.popular_tags(30),
               source_options=selectors.source_options(),
               filter_tag=Tag.objects.filter(slug=params.tag).first() if params.tag else None,
               filter_source=Source.objects.filter(slug=params.source).only("name", "slug").first() if params.source else None)
    return render(request, "articles/search.html", ctx)
