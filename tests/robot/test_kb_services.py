"""Knowledge-base write rules: the right, the shop scope, and bad input refused with a clear error and
nothing written."""

from __future__ import annotations

from typing import Any

import pytest

from backoffice.errors import Forbidden, Invalid, NotFound
from backoffice.models import Product, Shop, StaffAccount
from robot import knowledge
from robot.builtin import BUILTIN
from robot.models import KnowledgeEntry, RobotSettings
from robot.models.knowledge import MAX_ANSWER, MAX_QUESTION, MAX_SIMILAR

GOOD: dict[str, Any] = {"question": "支持花呗吗", "answer": "支持花呗分期", "intent": "coupon"}


def count(shop: Shop) -> int:
    return KnowledgeEntry.objects.for_shop(shop).count()


def test_every_intent_has_a_builtin_entry_with_fifteen_examples_and_an_answer() -> None:
    from routing.intents import Intent

    assert {b.intent for b in BUILTIN} == set(Intent)
    for builtin in BUILTIN:
        assert len(builtin.similar) >= 15, builtin.key
        assert builtin.answer.strip()
        assert len(set(builtin.similar)) == len(builtin.similar), builtin.key


def test_data_aware_builtin_entries_name_their_scenario(shop_a: Shop) -> None:
    scenarios = dict(
        KnowledgeEntry.objects.for_shop(shop_a).exclude(scenario="").values_list("intent", "scenario")
    )
    assert scenarios == {
        "logistics": "logistics",
        "urge_shipping": "urge_shipping",
        "change_address": "change_address",
    }


def test_ensure_builtin_is_idempotent_and_keeps_edits(shop_a: Shop, owner: StaffAccount) -> None:
    entry = KnowledgeEntry.objects.get(shop=shop_a, builtin_key="greeting")
    knowledge.update_entry(actor=owner, entry=entry, question="在吗", answer="您好呀", intent="greeting")
    before = count(shop_a)
    assert knowledge.ensure_builtin(shop_a) == 0
    assert count(shop_a) == before
    assert KnowledgeEntry.objects.get(pk=entry.pk).answer == "您好呀"
    KnowledgeEntry.objects.filter(pk=entry.pk).delete()
    assert knowledge.ensure_builtin(shop_a) == 1


def test_owner_creates_an_entry_with_similar_questions_cleaned(shop_a: Shop, owner: StaffAccount) -> None:
    entry = knowledge.create_entry(
        actor=owner, **GOOD, similar_questions="能分期吗\n\n能分期吗\n支持花呗吗\n 可以花呗吗 "
    )
    assert entry.similar_questions == ["能分期吗", "可以花呗吗"]
    assert entry.shop_id == shop_a.pk


def test_agent_without_the_robot_right_cannot_write(shop_a: Shop, teammate: StaffAccount) -> None:
    before = count(shop_a)
    with pytest.raises(Forbidden):
        knowledge.create_entry(actor=teammate, **GOOD)
    entry = KnowledgeEntry.objects.for_shop(shop_a).first()
    assert entry is not None
    with pytest.raises(Forbidden):
        knowledge.delete_entries(actor=teammate, entries=[entry])
    with pytest.raises(Forbidden):
        knowledge.set_threshold(actor=teammate, threshold=0.9)
    assert count(shop_a) == before


def test_another_shops_entry_or_product_is_not_found(
    shop_a: Shop, owner: StaffAccount, outsider: StaffAccount
) -> None:
    theirs = KnowledgeEntry.objects.for_shop(outsider.shop).first()
    assert theirs is not None
    with pytest.raises(NotFound):
        knowledge.update_entry(actor=owner, entry=theirs, **GOOD)
    with pytest.raises(NotFound):
        knowledge.delete_entries(actor=owner, entries=[theirs])
    product = Product.objects.create(shop=outsider.shop, platform_id="b1", title="B店商品", price=1)
    with pytest.raises(NotFound):
        knowledge.create_entry(actor=owner, **GOOD, product=product)
    with pytest.raises(NotFound):
        knowledge.create_entry(actor=owner, **GOOD, card_product=product)
    assert KnowledgeEntry.objects.filter(pk=theirs.pk).exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"answer": ""}, "answer"),
        ({"answer": "   \n "}, "answer"),
        ({"answer": "长" * (MAX_ANSWER + 1)}, "answer"),
        ({"question": ""}, "question"),
        ({"question": "问" * (MAX_QUESTION + 1)}, "question"),
        ({"question": "a\x00b"}, "question"),
        ({"answer": "bad \ud800 surrogate"}, "answer"),
        ({"intent": "weather"}, "intent"),
        ({"intent": ""}, "intent"),
        ({"scenario": "lottery"}, "scenario"),
        ({"similar_questions": ["好", "问" * (MAX_QUESTION + 1)]}, "similar_questions"),
        ({"similar_questions": [f"问题{i}" for i in range(MAX_SIMILAR + 1)]}, "similar_questions"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    shop_a: Shop, owner: StaffAccount, change: dict[str, Any], field: str
) -> None:
    before = count(shop_a)
    with pytest.raises(Invalid) as caught:
        knowledge.create_entry(actor=owner, **{**GOOD, **change})
    assert field in [e["field"] for e in caught.value.errors]
    assert caught.value.message
    assert count(shop_a) == before


def test_a_failed_update_leaves_the_entry_as_it_was(shop_a: Shop, owner: StaffAccount) -> None:
    entry = knowledge.create_entry(actor=owner, **GOOD)
    with pytest.raises(Invalid):
        knowledge.update_entry(actor=owner, entry=entry, **{**GOOD, "answer": "", "question": "改了"})
    entry.refresh_from_db()
    assert (entry.question, entry.answer) == (GOOD["question"], GOOD["answer"])


def test_markup_is_stored_as_typed(owner: StaffAccount) -> None:
    entry = knowledge.create_entry(actor=owner, **{**GOOD, "answer": "<script>alert(1)</script>"})
    entry.refresh_from_db()
    assert entry.answer == "<script>alert(1)</script>"


@pytest.mark.parametrize("bad", [-0.1, 1.5, "abc", None, float("nan")])
def test_threshold_outside_zero_to_one_is_refused(shop_a: Shop, owner: StaffAccount, bad: Any) -> None:
    with pytest.raises(Invalid):
        knowledge.set_threshold(actor=owner, threshold=bad)
    assert not RobotSettings.objects.filter(shop=shop_a).exclude(threshold=0.5).exists()


def test_disabled_entry_is_not_matched(shop_a: Shop, owner: StaffAccount) -> None:
    from robot import matching

    matching.clear()
    entry = knowledge.create_entry(actor=owner, **GOOD, similar_questions=["可以用花呗分期付款吗"])
    assert matching.match(shop_id=shop_a.pk, text="可以用花呗分期付款吗").candidates[0].entry == entry
    knowledge.set_enabled(actor=owner, entries=[entry], enabled=False)
    assert entry not in [
        c.entry for c in matching.match(shop_id=shop_a.pk, text="可以用花呗分期付款吗").candidates
    ]


def test_demo_knowledge_is_added_once_and_scoped_to_its_products(shop_a: Shop, owner: StaffAccount) -> None:
    from robot.demo_knowledge import PRODUCT_ANSWERS, add_knowledge

    for platform_id in {p for p, *_ in PRODUCT_ANSWERS}:
        Product.objects.create(shop=shop_a, platform_id=platform_id, title=platform_id, price=1)
    assert add_knowledge(owner) == len(PRODUCT_ANSWERS)
    assert add_knowledge(owner) == 0
    scoped = KnowledgeEntry.objects.for_shop(shop_a).filter(product__isnull=False)
    assert scoped.count() == len(PRODUCT_ANSWERS)
