"""Matching rules: normalization, homophone and pinyin typos, traditional characters, the no-guess threshold,
product scope, and the cached index following writes."""

from __future__ import annotations

from typing import Any

import pytest

from backoffice.models import Product, Shop, StaffAccount
from backoffice.text import compact
from robot import knowledge, matching
from robot.models import KnowledgeEntry, RobotSettings


@pytest.fixture(autouse=True)
def _fresh_index() -> Any:
    matching.clear()
    yield
    matching.clear()


@pytest.mark.parametrize(
    ("typed", "compacted"),
    [
        ("快快快发货！！！", "快发货"),
        ("在吗？？？😭😭", "在吗"),
        ("什麼時候發貨~~", "什么时候发货"),
        ("ＫＤ　到哪了", "kd 到哪了"),
        ("100斤 穿什么码", "100斤 穿什么码"),  # digits are never collapsed
    ],
)
def test_compact_strips_punctuation_emoji_and_repeats(typed: str, compacted: str) -> None:
    assert compact(typed) == compacted


def test_pinyin_folding_gives_homophones_the_same_features() -> None:
    assert matching.features("法货")["q:fahuo"] == matching.features("发货")["q:fahuo"] == 1


def test_initials_typed_by_the_buyer_meet_the_initials_of_the_characters() -> None:
    assert "j:kd" in matching.features("kd") and "j:kd" in matching.features("快递")


def test_a_new_shop_starts_with_the_builtin_set(shop_a: Shop) -> None:
    intents = set(KnowledgeEntry.objects.for_shop(shop_a).values_list("intent", flat=True))
    assert len(intents) == 12


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("我的东西什么时候法货啊", "urge_shipping"),  # homophone typo
        ("快遞到哪裡了", "logistics"),  # traditional characters
        ("kuai di dao na le", "logistics"),  # pinyin
        ("转人工！！！", "ask_human"),
        ("我要退款", "refund"),
    ],
)
def test_buyer_typing_finds_the_intent(shop_a: Shop, text: str, intent: str) -> None:
    result = matching.match(shop_id=shop_a.pk, text=text)
    assert result.candidates[0].entry.intent == intent
    assert result.intent == intent


def test_below_threshold_the_robot_does_not_guess(shop_a: Shop) -> None:
    result = matching.match(shop_id=shop_a.pk, text="你们老板今年多大了呀")
    assert result.intent == ""
    assert result.confident(result.threshold) is None


def test_shop_threshold_decides_whether_to_answer(shop_a: Shop, owner: StaffAccount) -> None:
    text = "我要退款"
    confidence = matching.detect_intent(shop_id=shop_a.pk, text=text)[1]
    knowledge.set_threshold(actor=owner, threshold=min(1.0, confidence + 0.01))
    assert matching.detect_intent(shop_id=shop_a.pk, text=text)[0] == ""
    knowledge.set_threshold(actor=owner, threshold=max(0.0, confidence - 0.01))
    assert matching.detect_intent(shop_id=shop_a.pk, text=text)[0] == "refund"
    assert RobotSettings.objects.get(shop=shop_a).threshold == pytest.approx(confidence - 0.01)


def test_entry_scoped_to_the_buyers_product_is_preferred(shop_a: Shop, owner: StaffAccount) -> None:
    jacket = Product.objects.create(shop=shop_a, platform_id="p1", title="羽绒服", price=399)
    other = Product.objects.create(shop=shop_a, platform_id="p2", title="围巾", price=59)
    scoped = knowledge.create_entry(
        actor=owner,
        question="这件羽绒服是什么材质的",
        similar_questions=["是什么材质的", "含绒量多少"],
        answer="90%白鸭绒",
        intent="product_question",
        product=jacket,
    )
    assert (
        matching.match(shop_id=shop_a.pk, text="是什么材质的", product_id=jacket.pk).candidates[0].entry
        == scoped
    )
    elsewhere = matching.match(shop_id=shop_a.pk, text="是什么材质的", product_id=other.pk)
    assert scoped not in [c.entry for c in elsewhere.candidates]


def test_index_follows_writes(shop_a: Shop, owner: StaffAccount) -> None:
    text = "你们支持花呗分期吗"
    before = matching.match(shop_id=shop_a.pk, text=text)
    entry = knowledge.create_entry(
        actor=owner,
        question="支持花呗分期吗",
        similar_questions="能分期吗\n可以用花呗吗",
        answer="支持",
        intent="coupon",
    )
    after = matching.match(shop_id=shop_a.pk, text=text)
    assert entry not in [c.entry for c in before.candidates]
    assert after.candidates[0].entry == entry
    knowledge.delete_entries(actor=owner, entries=[entry])
    assert entry.pk not in [c.entry.pk for c in matching.match(shop_id=shop_a.pk, text=text).candidates]


def test_order_numbers_and_links_neither_match_nor_dilute_the_confidence(shop_a: Shop) -> None:
    plain = matching.detect_intent(shop_id=shop_a.pk, text="我的订单 什么时候发货")
    with_number = matching.detect_intent(
        shop_id=shop_a.pk, text="我的订单 3608123456789012 什么时候发货 https://item.example.com/x?id=42"
    )
    assert with_number == plain
    assert "d:160" in matching.features("我160穿什么码")  # a size is a feature


def test_a_shop_without_entries_hands_everything_over(shop_a: Shop, owner: StaffAccount) -> None:
    knowledge.delete_entries(actor=owner, entries=list(KnowledgeEntry.objects.for_shop(shop_a)))
    result = matching.match(shop_id=shop_a.pk, text="快递到哪了")
    assert (result.candidates, result.intent) == ([], "")


def test_a_shop_with_one_intent_still_matches_and_hands_over(shop_a: Shop, owner: StaffAccount) -> None:
    knowledge.delete_entries(
        actor=owner, entries=list(KnowledgeEntry.objects.for_shop(shop_a).exclude(intent="logistics"))
    )
    assert matching.match(shop_id=shop_a.pk, text="我的快递到哪里了呀").intent == "logistics"
    assert matching.match(shop_id=shop_a.pk, text="今天股市涨了吗").intent == ""


@pytest.mark.parametrize("text", ["👋👋", "。。。", " ", "\u200b"])
def test_text_without_features_matches_nothing(shop_a: Shop, text: str) -> None:
    result = matching.match(shop_id=shop_a.pk, text=text)
    assert (result.candidates, result.intent, result.intent_confidence) == ([], "", 0.0)
