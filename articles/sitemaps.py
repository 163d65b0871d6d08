from django.contrib.sitemaps import Sitemap

from articles.models import Article, Tag
from feeds.models import Source


class ArticleSitemap(Sitemap):
    changefreq = "daily"
    limit = 5000

    def items(self):
        return Article.objects.published().filter(story__isnull=True).only("id", "updated_at").order_by("-id")

    def lastmod(self, obj: Article):
        return obj.updated_at


class TagSitemap(Sitemap):
    changefreq = "hourly"
    limit = 5000

    def items(self):
        return Tag.objects.only("slug").order_by("-articles_count", "id")

    def location(self, obj: Tag) -> str:
        from urllib.parse import quote

        return f"/tags/{quote(obj.slug)}/"


class SourceSitemap(Sitemap):
    changefreq = "hourly"
    limit = 5000

    def items(self):
        return Source.objects.filter(active=True).only("slug").order_by("id")

    def location(self, obj: Source) -> str:
        from urllib.parse import quote

        return f"/sources/{quote(obj.slug)}/"
