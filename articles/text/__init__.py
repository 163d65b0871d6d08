"""articles.text — the pure content pipeline (no database, no network).

README
======
Every ingested article goes through these steps, in this order (each step
assumes the previous one ran; see DESIGN.md "The flow of one article"):

1. ``sanitize.clean_html(html, base_url=...)``
   lazy images → real ``src``, URLs absolutized (``<base href>`` honoured),
   tracking pixels / hidden blocks / scripts / forms dropped, ``<b class='flag-5'>``
   leftovers unwrapped, then the nh3 allowlist; links get
   ``rel="nofollow noopener noreferrer"``, images ``referrerpolicy="no-referrer"``
   ``loading="lazy"``; hotlink-protected images go through our signed proxy.
2. ``normalize.normalize_html(html, convert_traditional=...)`` and
   ``normalize.normalize_title(title, ...)``
   pinyin artifacts ``系統(tǒng)`` removed *before* OpenCC t2s, full-width ASCII
   and whitespace cleaned; text nodes only, never URLs.
3. ``spam.check_spam(html, title=..., rules=...)`` → ``SpamVerdict``
   spam lines stripped (lexicon + editor rules + line shape); ``should_moderate``.
4. ``attribution.extract_attribution(html)`` → ``Attribution``
   原文标题 / 出处 (公众号) / 作者 extracted, boilerplate lines removed.
5. Dedup: ``urls.canonicalize_url`` / ``urls.url_hash`` for the same URL;
   ``simhash.simhash(simhash.shingle_tokens(text))`` for reposts
   (``hamming(a, b) <= 3``; ``simhash.bands`` for the index).
6. ``tagging.suggest_tags(title=..., text=..., vocabulary=..., rules=...)``
   against ``tag_key → canonical`` (``tagging.build_vocabulary``,
   ``tagging.DEFAULT_ALIASES``).

``tokenizer`` is the one segmenter for indexing (``search_tokens``), tagging,
keywords and queries: rjieba + articles/data/userdict.txt, loaded once per
process; ``load_user_words`` teaches it tag names at runtime.
``sanitize.html_to_text`` gives the plain text (one line per block) that
steps 5–6 and the search index use. ``formatting`` holds the 1.2万 / 3小时前
helpers behind the ``zh_count`` / ``zh_time`` / ``zh_datetime`` template filters (newsroom/jinja2.py).
"""
