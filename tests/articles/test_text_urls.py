"""Canonical URLs: tracking noise removed, identity kept."""
from __future__ import annotations

import hashlib

from articles.text.urls import canonicalize_url, url_hash


def test_scheme_host_port_fragment():
    assert canonicalize_url("HTTPS://WWW.Example.COM:443/News/A.html#comments") == "https://www.example.com/News/A.html"
    assert canonicalize_url("http://example.com:80") == "http://example.com/"
    assert canonicalize_url("http://example.com:8080/a") == "http://example.com:8080/a"
    assert canonicalize_url("https://user:pw@example.com/a") == "https://example.com/a"


def test_tracking_params_removed_and_rest_sorted():
    url = (
        "https://www.ithome.com/0/850/123.htm?utm_source=rss&utm_medium=feed&b=2&spm=a2c4g.1&a=1&from=timeline"
        "&isappinstalled=0&fbclid=x&gclid=y&ref=hn&share_token=t&srcid=s&scene=1"
    )
    assert canonicalize_url(url) == "https://www.ithome.com/0/850/123.htm?a=1&b=2"


def test_meaningful_params_are_kept():
    assert canonicalize_url("https://example.com/article?id=42&page=2") == "https://example.com/article?id=42&page=2"
    assert canonicalize_url("https://example.com/s?q=%E8%8B%B1%E4%BC%9F%E8%BE%BE") == "https://example.com/s?q=%E8%8B%B1%E4%BC%9F%E8%BE%BE"


def test_wechat_article_identity_is_biz_mid_idx_sn():
    shared = (
        "https://mp.weixin.qq.com/s?__biz=MzA3MzI4MjgzMw==&mid=2650912345&idx=1&sn=abcdef0123456789"
        "&chksm=84e1&scene=21&srcid=1119x&sharer_sharetime=1700000000&sharer_shareid=abc&exptype=x"
        "&mpshare=1&from=singlemessage&isappinstalled=0#wechat_redirect"
    )
    clean = "https://mp.weixin.qq.com/s?__biz=MzA3MzI4MjgzMw%3D%3D&idx=1&mid=2650912345&sn=abcdef0123456789"
    assert canonicalize_url(shared) == clean
    assert canonicalize_url(clean) == clean  # idempotent
    assert canonicalize_url("https://mp.weixin.qq.com/s/AbCdEf123?scene=1") == "https://mp.weixin.qq.com/s/AbCdEf123"


def test_same_article_same_hash():
    a = "https://www.example.com/a?utm_source=x&id=1#top"
    b = "https://WWW.EXAMPLE.com:443/a?id=1&utm_campaign=y"
    assert url_hash(a) == url_hash(b) == hashlib.sha1(b"https://www.example.com/a?id=1").hexdigest()
    assert url_hash("https://www.example.com/a?id=2") != url_hash(a)


def test_non_http_and_garbage_come_back_stripped():
    assert canonicalize_url("  mailto:a@b.cn ") == "mailto:a@b.cn"
    assert canonicalize_url("not a url") == "not a url"
    assert canonicalize_url("http://[::1:bad") == "http://[::1:bad"
    assert canonicalize_url("") == ""
