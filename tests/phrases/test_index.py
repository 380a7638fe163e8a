"""The search index after writes (``phrases.index``): the next lookup after a write sees it by updating the
shop's cached index with the rows written since (``ShopIndex.updates`` counts those updates; a whole reload
sets it back to 0), in this process and in another; and the whole reload when the update cannot be trusted
(a process that just started, a history trimmed past the cached version, a write rolled back after the
index saw it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from backoffice import text
from backoffice.models import Shop, StaffAccount
from phrases import index, services
from phrases.models import Phrase
from tests.backoffice import factories
from tests.phrases.conftest import personal_phrase, team_phrase
from tests.routing.images import image_bytes


@pytest.fixture(autouse=True)
def media(tmp_path: Path, settings: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


def ids(phrases: list[Phrase]) -> list[int]:
    return [p.pk for p in phrases]


def updates(shop: Shop) -> int:
    """How many updates the shop's current index has had since it was last loaded whole."""
    return index.shop_index(shop.pk).updates


def test_each_write_reaches_the_next_lookup_without_reloading_the_shop(
    owner: StaffAccount, teammate: StaffAccount, colleague: StaffAccount, shop_a: Shop
) -> None:
    first = team_phrase(owner, "今天发货哦", code="fh")
    assert ids(services.suggest(staff=teammate, text="发货")) == [first.pk]
    seen = updates(shop_a)

    def updated() -> bool:
        nonlocal seen
        now = updates(shop_a)
        grew, seen = now == seen + 1, now
        return grew

    second = team_phrase(owner, "明天发货", code="mt")  # a create
    assert ids(services.suggest(staff=teammate, text="发货")) == [first.pk, second.pk]
    assert updated()

    services.update_phrase(actor=owner, phrase=first, content="今天到货哦", code="dh")  # an edit
    assert ids(services.suggest(staff=teammate, text="发货")) == [second.pk]
    assert services.suggest(staff=teammate, text="/fh") == []
    assert ids(services.suggest(staff=teammate, text="/dh")) == [first.pk]
    assert updated()

    mug = factories.product(shop_a, "p1", "马克杯")  # a product link
    services.update_phrase(actor=owner, phrase=second, content=second.content, code="mt", products=[mug])
    found = services.suggest(staff=teammate, text="货", product_id=mug.pk)
    assert ids(found) == [second.pk, first.pk]
    assert found[0].product_ids == [mug.pk]  # type: ignore[attr-defined]
    assert updated()
    services.update_phrase(actor=owner, phrase=second, content=second.content, code="mt", products=[])
    assert ids(services.suggest(staff=teammate, text="货", product_id=mug.pk)) == [first.pk, second.pk]
    assert updated()

    services.set_phrase_image(actor=owner, phrase=first, data=image_bytes())  # an image
    assert services.suggest(staff=teammate, text="/dh")[0].image_id is not None
    assert updated()

    group = services.create_group(actor=owner, scope="team", name="物流")  # groups: set, renamed, deleted
    services.update_phrase(actor=owner, phrase=first, content=first.content, code="dh", group=group)
    assert ids(services.search(staff=teammate, group=group)) == [first.pk]
    assert updated()
    services.rename_group(actor=owner, group=group, name="物流问题")
    assert services.suggest(staff=teammate, text="/dh")[0].group.name == "物流问题"  # type: ignore[union-attr]
    assert updated()
    group_id = group.pk
    services.delete_group(actor=owner, group=group)
    assert services.search_ids(staff=teammate, group_id=group_id) == (0, [])
    gone = services.suggest(staff=teammate, text="/dh")[0]
    assert (gone.group_id, gone.group) == (None, None)
    assert updated()

    secret = personal_phrase(colleague, "我的发货话术", code="fh")  # another agent's personal phrase
    assert ids(services.suggest(staff=teammate, text="发货")) == [second.pk]
    assert updated()
    assert ids(services.suggest(staff=colleague, text="发货")) == [second.pk, secret.pk]
    assert ids(services.suggest(staff=colleague, text="/fh")) == [secret.pk]
    assert services.suggest(staff=teammate, text="/fh") == []

    services.delete_phrase(actor=owner, phrase=second)  # a delete
    assert services.suggest(staff=teammate, text="发货") == []
    assert updated()
    services.use_phrase(staff=teammate, phrase=first)  # a use: no new version, no update
    assert services.suggest(staff=teammate, text="/dh")[0].usage_count == 1
    assert updates(shop_a) == seen


def test_an_import_reaches_the_next_lookup_without_reloading_the_shop(
    owner: StaffAccount, teammate: StaffAccount, shop_a: Shop
) -> None:
    kept = team_phrase(owner, "亲，在的", code="zd")
    assert services.suggest(staff=teammate, text="优惠") == []
    before = updates(shop_a)
    services.import_templates(actor=owner, scope="team")
    sheet = "group,code,content,keywords\n售后,zd,亲，在的呢,\n".encode()
    services.import_phrases(actor=owner, scope="team", filename="p.csv", data=sheet)
    assert len(services.suggest(staff=teammate, text="优惠")) > 0
    assert services.suggest(staff=teammate, text="/zd")[0].content == "亲，在的呢"
    assert services.suggest(staff=teammate, text="/zd")[0].pk == kept.pk
    assert updates(shop_a) == before + 1  # the two writes came in one update
    assert sorted(e.pk for e in index.shop_index(shop_a.pk).team) == sorted(
        Phrase.objects.for_shop(shop_a).team().values_list("pk", flat=True)
    )


def test_another_process_updates_its_own_index_from_the_same_writes(
    owner: StaffAccount, teammate: StaffAccount, shop_a: Shop
) -> None:
    other = text.StampedShopCache("phrases", index._load, update=index._update)  # another process's cache
    phrase = team_phrase(owner, "今天发货哦")
    assert [e.pk for e in other.get(shop_a.pk)[0].team] == [phrase.pk]
    services.update_phrase(actor=owner, phrase=phrase, content="明天到货")
    added = team_phrase(owner, "后天发货")
    services.delete_phrase(actor=owner, phrase=Phrase.objects.get(pk=phrase.pk))
    found, loaded = other.get(shop_a.pk)
    assert not loaded
    assert (found.updates, [(e.pk, e.content) for e in found.team]) == (1, [(added.pk, "后天发货")])


def test_a_process_that_just_started_loads_the_whole_shop(
    owner: StaffAccount, teammate: StaffAccount, shop_a: Shop
) -> None:
    team_phrase(owner, "今天发货哦")
    services.suggest(staff=teammate, text="发货")
    team_phrase(owner, "明天发货")
    assert updates(shop_a) == 1
    index.clear()
    assert len(services.suggest(staff=teammate, text="发货")) == 2
    assert updates(shop_a) == 0


def test_an_index_older_than_the_history_is_loaded_whole(
    owner: StaffAccount, teammate: StaffAccount, shop_a: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(text, "HISTORY", 2)
    first = team_phrase(owner, "今天发货哦")
    assert ids(services.suggest(staff=teammate, text="发货")) == [first.pk]
    second = team_phrase(owner, "明天发货")
    assert ids(services.suggest(staff=teammate, text="发货")) == [first.pk, second.pk]
    assert updates(shop_a) == 1  # the cached version is still in the history
    third, fourth = team_phrase(owner, "后天发货"), team_phrase(owner, "大后天发货")  # now it is not
    assert ids(services.suggest(staff=teammate, text="发货")) == [first.pk, second.pk, third.pk, fourth.pk]
    assert updates(shop_a) == 0


@pytest.mark.parametrize("writes_after", [1, 2])
def test_an_index_that_saw_a_rolled_back_write_is_loaded_whole(
    owner: StaffAccount, teammate: StaffAccount, shop_a: Shop, writes_after: int
) -> None:
    """Versions of a rolled-back write are used again by the next writes: the index cached inside the
    rolled-back transaction must not pass for one of theirs."""
    phrase = team_phrase(owner, "今天发货哦", code="fh")
    assert ids(services.suggest(staff=teammate, text="发货")) == [phrase.pk]
    with pytest.raises(RuntimeError), transaction.atomic():
        services.update_phrase(actor=owner, phrase=phrase, content="改了又撤回", code="fh")
        assert services.suggest(staff=teammate, text="/fh")[0].content == "改了又撤回"
        raise RuntimeError("roll back")
    added = [team_phrase(owner, f"第{n}条发货") for n in range(writes_after)]
    found = services.suggest(staff=teammate, text="发货")
    assert [(p.pk, p.content) for p in found] == [
        (phrase.pk, "今天发货哦"),
        *((p.pk, p.content) for p in added),
    ]
    assert services.suggest(staff=teammate, text="/fh")[0].content == "今天发货哦"
    assert updates(shop_a) == 0
