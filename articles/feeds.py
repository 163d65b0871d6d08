"""Outgoing RSS 2.0 / Atom feeds (Django syndication) with conditional GET."""
from __future__ import annotations

import re
from contextvars import ContextVar
from urllib.parse import quote

from django.contrib.syndication.views import Feed
from django.shortcuts import get_object_or_404
from django.utils.feedgenerator import Atom1Feed, Rss201rev2Feed

from articles import selectors
from articles.models import Article, Tag
from articles.search import SearchParams, filtered_search
from feeds.models import Source
from newsroom.entry import xml_safe

FEED_SIZE = 30


def _xml_safe_value(value):
    if isinstance(value, str):
        return xml_safe(value)
    if isinstance(value, (list, tuple)):
        return [_xml_safe_value(v) for v in value]
    return value


class _XmlSafe:
    """A feed writer that drops the characters XML 1.0 forbids from every text it is given.
    Django's writer raises on them, and one would fail the whole feed: a search query
    (``?q=%08``), or an article stored before ingest removed them."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*map(_xml_safe_value, args), **{k: _xml_safe_value(v) for k, v in kwargs.items()})

    def add_item(self, *args, **kwargs) -> None:
        super().add_item(*map(_xml_safe_value, args), **{k: _xml_safe_value(v) for k, v in kwargs.items()})


class SafeRssFeed(_XmlSafe, Rss201rev2Feed):
    pass


class SafeAtomFeed(_XmlSafe, Atom1Feed):
    pass


# The site's own address while a feed is built (a feed view instance serves every request).
_SITE_ROOT: ContextVar[str] = ContextVar("feed_site_root", default="")
# Our bodies are sanitized HTML: attributes double-quoted, every URL absolute except our own
# paths, such as the image proxy's /img/…/ for hotlink-protected images.
_SITE_PATH_RE = re.compile(r'( (?:src|href)=")/(?!/)')


class _ArticleFeed(Feed):
    feed_type = SafeRssFeed
    description_template = None

    def get_feed(self, obj, request):
        token = _SITE_ROOT.set(request.build_absolute_uri("/"))
        try:
            return super().get_feed(obj, request)
        finally:
            _SITE_ROOT.reset(token)

    def item_title(self, item: Article) -> str:
        return item.title

    def item_description(self, item: Article) -> str:
        # Feed readers resolve a relative URL against different bases, or not at all: our paths
        # (proxied images) go out absolute, or a WeChat article's pictures break in the reader.
        if not item.body:
            return item.summary
        root = _SITE_ROOT.get()
        return _SITE_PATH_RE.sub(lambda m: m.group(1) + root, item.body) if root else item.body

    def item_link(self, item: Article) -> str:
        return item.get_absolute_url()

    def item_guid(self, item: Article) -> str:
        return f"newsroom-article-{item.pk}"

    item_guid_is_permalink = False

    def item_pubdate(self, item: Article):
        return item.published_at

    def item_updateddate(self, item: Article):
        return item.updated_at

    def item_author_name(self, item: Article) -> str:
        return item.author or item.origin_account or item.source.name

    def item_categories(self, item: Article):
        return [t.name for t in item.tags.all()]

    def _items(self, qs):
        return selectors.attach_tags(list(selectors.article_list(qs).defer(None)[:FEED_SIZE]))


class LatestFeed(_ArticleFeed):
    title = "Newsroom · 最新文章"
    link = "/"
    description = "中文科技资讯聚合：最新文章"

    def items(self):
        return self._items(Article.objects.all())


class LatestAtomFeed(LatestFeed):
    feed_type = SafeAtomFeed
    subtitle = LatestFeed.description


class TagFeed(_ArticleFeed):
    def get_object(self, request, slug: str) -> Tag:
        return get_object_or_404(Tag, slug=slug)

    def title(self, obj: Tag) -> str:
        return f"Newsroom · {obj.name}"

    def link(self, obj: Tag) -> str:
        return obj.get_absolute_url()

    def description(self, obj: Tag) -> str:
        return f"标签「{obj.name}」下的最新文章"

    def items(self, obj: Tag):
        return selectors.attach_tags(list(selectors.tag_articles(obj).window(0, FEED_SIZE).defer(None)))


class TagAtomFeed(TagFeed):
    feed_type = SafeAtomFeed

    def subtitle(self, obj: Tag) -> str:
        return self.description(obj)


class SourceFeed(_ArticleFeed):
    def get_object(self, request, slug: str) -> Source:
        return get_object_or_404(Source, slug=slug)

    def title(self, obj: Source) -> str:
        return f"Newsroom · {obj.name}"

    def link(self, obj: Source) -> str:
        return obj.get_absolute_url()

    def description(self, obj: Source) -> str:
        return f"来源「{obj.name}」的最新文章"

    def items(self, obj: Source):
        return self._items(Article.objects.filter(source=obj))


class SearchFeed(_ArticleFeed):
    """/search/feed.xml?q=…, with the same filters as the search page (tag, source, since, until); newest first."""

    def get_object(self, request) -> SearchParams:
        return SearchParams.from_query_dict(request.GET)

    def title(self, params: SearchParams) -> str:
        return f"Newsroom · 搜索「{params.q}」"

    def link(self, params: SearchParams) -> str:
        return f"/search/?q={quote(params.q)}"

    def description(self, params: SearchParams) -> str:
        return f"搜索「{params.q}」的最新结果"

    def items(self, params: SearchParams):
        if not params.q:
            return []
        params.sort = "new"
        return filtered_search(params)[:FEED_SIZE]
