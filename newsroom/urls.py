from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.sitemaps.views import sitemap
from django.urls import path

from articles import feeds as outgoing
from articles import views
from articles.sitemaps import ArticleSitemap, SourceSitemap, TagSitemap
from feeds import editor
from feeds.imageproxy import image_proxy
from newsroom import converters  # noqa: F401  (registers rowid, uslug)
from newsroom import ops
from newsroom.ratelimit import ratelimit

sitemaps = {"articles": ArticleSitemap, "tags": TagSitemap, "sources": SourceSitemap}

urlpatterns = [
    path("", views.home, name="home"),
    path("hot/", views.hot, name="hot"),
    path("articles/<rowid:pk>/", views.article_detail, name="article"),
    path("articles/<rowid:pk>/bookmark/", views.bookmark_toggle, name="bookmark"),
    path("articles/<rowid:pk>/comments/", views.comment_post, name="comment_post"),
    path("tags/", views.tag_list, name="tags"),
    # <uslug:…> not <slug:…>: tag slugs are Unicode (开源), Django's slug converter is ASCII-only.
    path("tags/<uslug:slug>/", views.tag_detail, name="tag"),
    path("tags/<uslug:slug>/follow/", views.tag_follow_toggle, name="tag_follow"),
    path("tags/<uslug:slug>/feed.xml", outgoing.TagFeed(), name="tag_feed"),
    path("tags/<uslug:slug>/feed.atom", outgoing.TagAtomFeed(), name="tag_feed_atom"),
    path("sources/<uslug:slug>/", views.source_detail, name="source"),
    path("sources/<uslug:slug>/feed.xml", outgoing.SourceFeed(), name="source_feed"),
    path("sources/<uslug:slug>/follow/", views.source_follow_toggle, name="source_follow"),
    path("search/", views.search, name="search"),
    path("search/feed.xml", outgoing.SearchFeed(), name="search_feed"),
    path("feeds/latest.xml", outgoing.LatestFeed(), name="latest_feed"),
    path("feeds/latest.atom", outgoing.LatestAtomFeed(), name="latest_feed_atom"),
    path("me/", views.me, name="me"),
    path("me/bookmarks/", views.my_bookmarks, name="bookmarks"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/login/", ratelimit("login", limit=10, window_seconds=300)(auth_views.LoginView.as_view(redirect_authenticated_user=True)), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("img/<str:token>/", image_proxy, name="image_proxy"),
    path("healthz", ops.healthz, name="healthz"),
    path("metrics", ops.metrics_view, name="metrics"),
    path("sitemap.xml", sitemap, {"sitemaps": sitemaps}, name="django.contrib.sitemaps.views.sitemap"),
    path("editor/sources/new/", editor.source_new, name="editor_source_new"),
    path("editor/opml/", editor.opml_page, name="editor_opml"),
    path("admin/", admin.site.urls),
]
urlpatterns += ops.bench_urls()  # /bench/minimal when NEWSROOM_BENCH is on
