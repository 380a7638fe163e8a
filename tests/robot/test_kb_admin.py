"""Knowledge-base admin: the robot right, the shop scope (another shop's entry is a 404), saves through the
services with their errors on the form, escaping, export and import pages."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from backoffice.models import Shop, StaffAccount
from robot import knowledge
from robot.models import KnowledgeEntry
from tests.conftest import login_client
from tests.robot.test_kb_spreadsheet import csv_bytes

CHANGELIST = "admin:robot_knowledgeentry_changelist"


def url(name: str, *args: Any) -> str:
    return reverse(f"admin:robot_knowledgeentry_{name}", args=args)


def form(**change: Any) -> dict[str, Any]:
    return {
        "question": "支持花呗吗",
        "similar_questions": "能分期吗\n可以花呗吗",
        "answer": "支持花呗分期",
        "intent": "coupon",
        "scenario": "",
        "product": "",
        "card_product": "",
        "enabled": "on",
        **change,
    }


def test_owner_lists_only_their_shops_entries(
    owner_client: Client, shop_a: Shop, outsider: StaffAccount
) -> None:
    response = owner_client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    listed = {obj.pk for obj in response.context["cl"].result_list}
    assert listed == set(KnowledgeEntry.objects.for_shop(shop_a).values_list("pk", flat=True))
    theirs = KnowledgeEntry.objects.for_shop(outsider.shop).first()
    assert theirs is not None
    assert owner_client.get(url("change", theirs.pk)).status_code == 404
    assert owner_client.post(url("change", theirs.pk), form()).status_code == 404
    assert owner_client.get(url("delete", theirs.pk)).status_code in (403, 404)
    assert KnowledgeEntry.objects.filter(pk=theirs.pk, question=theirs.question).exists()


def test_agent_without_the_robot_right_cannot_open_the_admin(teammate_client: Client, shop_a: Shop) -> None:
    entry = KnowledgeEntry.objects.for_shop(shop_a).first()
    assert entry is not None
    assert teammate_client.get(reverse(CHANGELIST)).status_code == 403
    assert teammate_client.get(url("change", entry.pk)).status_code == 403
    assert teammate_client.get(url("import")).status_code == 403


def test_owner_adds_an_entry_through_the_service(owner_client: Client, shop_a: Shop) -> None:
    response = owner_client.post(url("add"), form())
    assert response.status_code == 302, response.content[:2000]
    entry = KnowledgeEntry.objects.get(shop=shop_a, question="支持花呗吗")
    assert entry.similar_questions == ["能分期吗", "可以花呗吗"]
    assert entry.index_version > 0  # written by the service, which stamps the matching index


@pytest.mark.parametrize(
    ("change", "field"),
    [({"answer": ""}, "answer"), ({"intent": "weather"}, "intent"), ({"answer": "长" * 2001}, "answer")],
)
def test_bad_input_shows_on_the_form_and_writes_nothing(
    owner_client: Client, shop_a: Shop, change: dict[str, Any], field: str
) -> None:
    before = KnowledgeEntry.objects.for_shop(shop_a).count()
    response = owner_client.post(url("add"), form(**change))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert KnowledgeEntry.objects.for_shop(shop_a).count() == before


def test_markup_in_an_entry_is_shown_escaped(owner_client: Client, owner: StaffAccount) -> None:
    entry = knowledge.create_entry(
        actor=owner, question="<b>粗体</b>问题", answer="<script>x()</script>", intent="coupon"
    )
    listing = owner_client.get(reverse(CHANGELIST)).content.decode()
    assert "&lt;b&gt;粗体&lt;/b&gt;问题" in listing and "<b>粗体</b>" not in listing
    page = owner_client.get(url("change", entry.pk)).content.decode()
    assert "<script>x()</script>" not in page


def test_export_action_downloads_the_selected_entries(owner_client: Client, shop_a: Shop) -> None:
    ids = list(KnowledgeEntry.objects.for_shop(shop_a).values_list("pk", flat=True)[:2])
    response = owner_client.post(
        reverse(CHANGELIST), {"action": "export_csv", "_selected_action": [str(i) for i in ids]}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response.content.decode("utf-8-sig").count("\n") >= 3


def test_import_page_lists_every_bad_row(owner_client: Client, shop_a: Shop) -> None:
    before = KnowledgeEntry.objects.for_shop(shop_a).count()
    data = csv_bytes([("问一", "", "", "coupon", "", "", ""), ("问二", "", "答", "nope", "", "", "")])
    response = owner_client.post(url("import"), {"file": SimpleUploadedFile("kb.csv", data)})
    assert response.status_code == 200
    rows = [(e["row"], str(e["field"])) for e in response.context["row_errors"]]
    assert rows == [(2, "答案"), (3, "意图")]  # the columns named as the form names them
    assert KnowledgeEntry.objects.for_shop(shop_a).count() == before


def test_import_page_imports_a_good_file(owner_client: Client, shop_a: Shop) -> None:
    data = csv_bytes([("问一", "问1", "答一", "coupon", "", "", "")])
    response = owner_client.post(url("import"), {"file": SimpleUploadedFile("kb.csv", data)})
    assert response.status_code == 302
    assert KnowledgeEntry.objects.filter(shop=shop_a, question="问一").exists()


def test_supervisor_without_the_robot_right_is_refused(supervisor: StaffAccount) -> None:
    assert login_client(supervisor).get(reverse(CHANGELIST)).status_code == 403
