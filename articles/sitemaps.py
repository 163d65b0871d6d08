from django.contrib.sitemaps import Sitemap

from articles.models import Article, Tag


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
