"""newsroom.db.from_row: the instance a list page builds from a row is the one the
ORM's own ``Model.from_db`` builds — the same values, the same deferred fields, saved
and refreshed the same way — whether it takes the fast path or not."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from django.db.models.signals import post_init

from articles.models import Article, Tag
from feeds.models import Source
from newsroom.db import _model_order, _plain_model, from_row

CARD = ("id", "title", "summary", "author", "published_at", "read_count", "status", "source_id")
VALUES = (7, "英伟达发布新芯片", "摘要", "记者", datetime(2026, 11, 26, 8, tzinfo=timezone.utc), 12, "published", 3)


def _orm(model, names, values):
    order = _model_order(model, names)
    return model.from_db("default", names, [values[i] for i in order])


def _public(obj) -> dict:
    return {k: v for k, v in obj.__dict__.items() if k != "_state"}


@pytest.mark.parametrize("model, names, values", [
    (Article, CARD, VALUES),
    (Article, tuple(reversed(CARD)), tuple(reversed(VALUES))),  # any order of names
    (Tag, ("id", "name", "slug"), (5, "大模型", "da-mo-xing")),
    (Source, ("id", "name", "slug"), (3, "机器之心", "jiqizhixin")),
])
def test_the_fast_path_builds_what_from_db_builds(model, names, values):
    assert _plain_model(model, names)  # these go the fast way
    fast, orm = from_row(model, names, values), _orm(model, names, values)
    assert type(fast) is model
    assert _public(fast) == _public(orm)
    assert fast.get_deferred_fields() == orm.get_deferred_fields() and fast.get_deferred_fields()
    assert (fast._state.adding, fast._state.db) == (orm._state.adding, orm._state.db) == (False, "default")
    assert fast.pk == values[names.index("id")]


@pytest.mark.django_db
def test_an_instance_from_the_fast_path_saves_and_loads_like_any_other():
    source = Source.objects.create(name="来源", slug="laiyuan", url="http://127.0.0.1:1/feed.xml")
    tag = Tag.objects.create(name="芯片", slug="xinpian")
    fast = from_row(Tag, ("id", "name"), (tag.pk, "芯片"))
    assert fast.slug == "xinpian"  # a deferred field loads on access
    fast.name = "半导体"
    fast.save(update_fields=["name"])
    assert Tag.objects.get(pk=tag.pk).name == "半导体"
    card = from_row(Source, ("id", "name", "slug"), (source.pk, source.name, source.slug))
    assert card.url == "http://127.0.0.1:1/feed.xml"
    assert card == source and hash(card) == hash(source)


def test_a_model_with_an_init_receiver_goes_through_from_db():
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=Tag)
    try:
        tag = from_row(Tag, ("id", "name", "slug"), (5, "大模型", "da-mo-xing"))
    finally:
        post_init.disconnect(receiver, sender=Tag)
    assert seen == [tag]
