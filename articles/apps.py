from django.apps import AppConfig


class ArticlesConfig(AppConfig):
    name = "articles"
    verbose_name = "文章"

    def ready(self) -> None:
        # Every process that segments (web search, workers, commands) learns the
        # tag names once, on its first cut — not here: no queries at import time.
        from articles.tags import tag_words
        from articles.text.tokenizer import set_user_word_loader

        set_user_word_loader(tag_words)
