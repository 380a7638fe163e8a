"""The reception's admin pages: diversion rules, robot settings, unanswered questions (one step to a
knowledge-base entry), robot sessions; the robot-configuration right, the shop's rows only, bad input."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from backoffice.errors import Conflict, NotFound
from backoffice.models import Shop, StaffAccount
from robot import diversion, unanswered
from robot.models import DiversionRule, KnowledgeEntry, RobotSettings, UnansweredGroup
from tests.backoffice import factories
from tests.robot.conftest import say


def url(name: str, *args: Any) -> str:
    return reverse(f"admin:robot_{name}", args=args)


def test_the_owner_adds_a_diversion_rule(owner_client: Client, shop_a: Shop) -> None:
    response = owner_client.post(
        url("diversionrule_add"), {"start": "20:00", "end": "23:00", "ratio": "70", "enabled": "on"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = DiversionRule.objects.get()
    assert (rule.shop_id, rule.ratio, rule.start, rule.end) == (shop_a.pk, 70, time(20), time(23))


@pytest.mark.parametrize(
    ("start", "end", "ratio", "field"),
    [
        ("20:00", "23:00", "101", "ratio"),
        ("20:00", "23:00", "-5", "ratio"),
        ("21:00", "22:00", "50", "start"),
    ],
)
def test_a_bad_ratio_or_an_overlap_is_a_form_error_and_nothing_is_written(
    owner_client: Client, shop_a: Shop, start: str, end: str, ratio: str, field: str
) -> None:
    diversion.save_rule(shop=shop_a, start=time(20, 30), end=time(21, 30), ratio=10)
    response = owner_client.post(url("diversionrule_add"), {"start": start, "end": end, "ratio": ratio})
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert DiversionRule.objects.count() == 1


def test_the_robot_pages_need_the_right(teammate_client: Client, shop_a: Shop) -> None:
    for name in ("diversionrule_changelist", "unansweredgroup_changelist", "robotsettings_changelist"):
        assert teammate_client.get(url(name)).status_code == 403


def test_another_shops_rule_is_a_404(outsider_client: Client, shop_a: Shop) -> None:
    rule = diversion.save_rule(shop=shop_a, start=time(20), end=time(23), ratio=70)
    assert outsider_client.get(url("diversionrule_change", rule.pk)).status_code in (302, 404)
    assert outsider_client.post(url("diversionrule_delete", rule.pk), {"post": "yes"}).status_code in (
        302,
        404,
    )
    assert DiversionRule.objects.filter(pk=rule.pk).exists()


def test_the_owner_turns_the_robot_on_and_sets_its_texts(owner_client: Client, shop_a: Shop) -> None:
    data = {
        "full_auto": "on",
        "opening_text": "<b>您好</b>，{买家昵称}",
        "unsure_text": "没听懂",
        "handoff_text": "转人工中",
        "unsure_limit": "3",
        "threshold": "0.6",
    }
    response = owner_client.post(url("robotsettings_add"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    row = RobotSettings.objects.get(shop=shop_a)
    assert (row.full_auto, row.unsure_limit, row.threshold, row.opening_text) == (
        True,
        3,
        0.6,
        "<b>您好</b>，{买家昵称}",
    )
    page = owner_client.get(url("robotsettings_change", row.pk)).content.decode()
    assert "<b>您好</b>" not in page and "&lt;b&gt;您好&lt;/b&gt;" in page  # shown escaped


@pytest.mark.parametrize(
    ("field", "value"),
    [("unsure_limit", "0"), ("unsure_limit", "11"), ("opening_text", "  "), ("threshold", "2")],
)
def test_bad_robot_settings_are_form_errors(
    owner_client: Client, shop_a: Shop, field: str, value: str
) -> None:
    data = {
        "full_auto": "on",
        "opening_text": "您好",
        "unsure_text": "没听懂",
        "handoff_text": "转人工中",
        "unsure_limit": "2",
        "threshold": "0.5",
        field: value,
    }
    response = owner_client.post(url("robotsettings_add"), data)
    assert response.status_code == 200
    assert not RobotSettings.objects.filter(shop=shop_a, full_auto=True).exists()


# --- unanswered questions ---


@pytest.fixture
def asked(shop_a: Shop) -> UnansweredGroup:
    RobotSettings.objects.update_or_create(shop=shop_a, defaults={"full_auto": True})
    for n, text in enumerate(["你们家的猫叫什么名字", "你们家的猫叫啥名字呀"]):
        say(factories.buyer(shop_a, f"q{n}"), text, f"q{n}")
    return UnansweredGroup.objects.get()


def test_the_owner_turns_an_unanswered_question_into_an_entry_in_one_step(
    owner_client: Client, asked: UnansweredGroup
) -> None:
    response = owner_client.post(
        url("unansweredgroup_change", asked.pk),
        {"answer": "我们家的猫叫小鹿哦", "intent": "product_question"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    entry = KnowledgeEntry.objects.get(question="你们家的猫叫什么名字")
    assert (entry.answer, entry.intent, entry.similar_questions) == (
        "我们家的猫叫小鹿哦",
        "product_question",
        ["你们家的猫叫啥名字呀"],
    )
    asked.refresh_from_db()
    assert asked.entry_id == entry.pk


def test_an_entry_without_an_answer_is_refused_and_nothing_is_written(
    owner_client: Client, asked: UnansweredGroup
) -> None:
    before = KnowledgeEntry.objects.count()
    response = owner_client.post(url("unansweredgroup_change", asked.pk), {"answer": "", "intent": "invoice"})
    assert response.status_code == 200
    assert KnowledgeEntry.objects.count() == before
    response = owner_client.post(
        url("unansweredgroup_change", asked.pk), {"answer": "好的", "intent": "nope"}
    )
    assert response.status_code == 200 and KnowledgeEntry.objects.count() == before


def test_a_group_becomes_an_entry_once_and_only_in_its_shop(
    owner: StaffAccount, outsider: StaffAccount, asked: UnansweredGroup
) -> None:
    with pytest.raises(NotFound):
        unanswered.make_entry(actor=outsider, group=asked, answer="好的", intent="invoice")
    unanswered.make_entry(actor=owner, group=asked, answer="好的", intent="invoice")
    with pytest.raises(Conflict):
        unanswered.make_entry(actor=owner, group=asked, answer="又一次", intent="invoice")


def test_the_unanswered_list_is_the_shops_and_escaped(
    owner_client: Client, outsider_client: Client, shop_a: Shop
) -> None:
    RobotSettings.objects.update_or_create(shop=shop_a, defaults={"full_auto": True})
    say(factories.buyer(shop_a, "x1"), "<script>alert(1)</script>猫叫什么", "x1")
    page = owner_client.get(url("unansweredgroup_changelist")).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;猫叫什么" in page and "<script>alert(1)" not in page
    assert "猫叫什么" not in outsider_client.get(url("unansweredgroup_changelist")).content.decode()
