"""Knowledge-base import and export (CSV and XLSX): round trip, all-or-nothing with every bad row listed,
the robot right, and the shared reader's limits."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import pytest
from openpyxl import Workbook

from backoffice.errors import Forbidden, Invalid
from backoffice.models import Product, Shop, StaffAccount
from robot import knowledge, spreadsheet
from robot.models import KnowledgeEntry

HEADER = ("标准问题", "相似问题", "答案", "意图", "适用商品", "商品卡片", "数据场景")


def csv_bytes(rows: Sequence[Sequence[str]], header: tuple[str, ...] = HEADER) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def xlsx_bytes(rows: Sequence[Sequence[str]], header: tuple[str, ...] = HEADER) -> bytes:
    book = Workbook()
    sheet: Any = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def count(shop: Shop) -> int:
    return KnowledgeEntry.objects.for_shop(shop).count()


@pytest.mark.parametrize(("name", "build"), [("kb.csv", csv_bytes), ("kb.xlsx", xlsx_bytes)])
def test_import_creates_entries_with_products_and_intent_names(
    shop_a: Shop, owner: StaffAccount, name: str, build: Any
) -> None:
    Product.objects.create(shop=shop_a, platform_id="cup-1", title="保温杯", price=59)
    rows = [
        (
            "保温杯能保温多久",
            "能保温多久\n保温效果怎么样",
            "保温12小时",
            "product_question",
            "cup-1",
            "cup-1",
            "",
        ),
        ("支持花呗吗", "能分期吗", "支持花呗分期", "Coupon or discount", "", "", ""),
    ]
    result = spreadsheet.import_entries(actor=owner, filename=name, data=build(rows))
    assert (result.created, result.updated, result.unchanged) == (2, 0, 0)
    cup = KnowledgeEntry.objects.get(shop=shop_a, question="保温杯能保温多久")
    assert cup.similar_questions == ["能保温多久", "保温效果怎么样"]
    assert cup.product is not None and cup.product.platform_id == "cup-1"
    assert cup.card_product_id == cup.product_id
    assert KnowledgeEntry.objects.get(shop=shop_a, question="支持花呗吗").intent == "coupon"


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_then_import_changes_nothing(shop_a: Shop, owner: StaffAccount, fmt: str) -> None:
    knowledge.create_entry(
        actor=owner, question="=1+1 公式?", answer="-@注入", intent="coupon", similar_questions=["+加号开头"]
    )
    entries = list(KnowledgeEntry.objects.for_shop(shop_a).order_by("pk"))
    data = spreadsheet.export_entries(entries=entries, fmt=fmt)
    before = list(KnowledgeEntry.objects.for_shop(shop_a).order_by("pk").values())
    result = spreadsheet.import_entries(actor=owner, filename=f"kb.{fmt}", data=data)
    assert (result.created, result.updated, result.unchanged) == (0, 0, len(entries))
    assert list(KnowledgeEntry.objects.for_shop(shop_a).order_by("pk").values()) == before


def test_csv_export_guards_against_formula_injection(shop_a: Shop, owner: StaffAccount) -> None:
    knowledge.create_entry(actor=owner, question="=HYPERLINK(1)", answer="答", intent="coupon")
    entry = KnowledgeEntry.objects.get(shop=shop_a, question="=HYPERLINK(1)")
    text = spreadsheet.export_entries(entries=[entry], fmt="csv").decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in text


def test_a_row_updates_the_entry_with_its_standard_question(shop_a: Shop, owner: StaffAccount) -> None:
    entry = knowledge.create_entry(actor=owner, question="支持花呗吗", answer="旧答案", intent="coupon")
    rows = [("支持花呗吗", "", "新答案", "coupon", "", "", "")]
    result = spreadsheet.import_entries(actor=owner, filename="kb.csv", data=csv_bytes(rows))
    assert (result.created, result.updated) == (0, 1)
    entry.refresh_from_db()
    assert entry.answer == "新答案"


def test_every_bad_row_is_listed_and_nothing_is_imported(shop_a: Shop, owner: StaffAccount) -> None:
    rows = [
        ("好问题", "", "好答案", "coupon", "", "", ""),  # row 2: fine
        ("没有答案", "", "", "coupon", "", "", ""),  # row 3
        ("未知意图", "", "答", "weather", "", "", ""),  # row 4
        ("长答案", "", "长" * 2001, "coupon", "", "", ""),  # row 5
        ("未知商品", "", "答", "coupon", "nope-1", "", ""),  # row 6
        ("好问题", "", "重复", "coupon", "", "", ""),  # row 7: the same question as row 2
        ("场景", "", "答", "coupon", "", "", "lottery"),  # row 8
    ]
    before = count(shop_a)
    with pytest.raises(Invalid) as caught:
        spreadsheet.import_entries(actor=owner, filename="kb.csv", data=csv_bytes(rows))
    found = {(e["row"], e["field"]) for e in caught.value.errors}
    assert found == {
        (3, "answer"),
        (4, "intent"),
        (5, "answer"),
        (6, "product"),
        (7, "question"),
        (8, "scenario"),
    }
    assert all(e["message"] for e in caught.value.errors)
    assert count(shop_a) == before


def test_another_shops_product_is_an_unknown_product(
    shop_a: Shop, owner: StaffAccount, outsider: StaffAccount
) -> None:
    Product.objects.create(shop=outsider.shop, platform_id="b-only", title="B", price=1)
    rows = [("问", "", "答", "coupon", "b-only", "", "")]
    with pytest.raises(Invalid) as caught:
        spreadsheet.import_entries(actor=owner, filename="kb.csv", data=csv_bytes(rows))
    assert caught.value.errors[0]["field"] == "product"


def test_import_needs_the_robot_right(shop_a: Shop, teammate: StaffAccount) -> None:
    with pytest.raises(Forbidden):
        spreadsheet.import_entries(
            actor=teammate, filename="kb.csv", data=csv_bytes([("问", "", "答", "coupon", "", "", "")])
        )


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("kb.txt", b"question\n"),
        ("kb.csv", b""),
        ("kb.csv", "answer,intent\n答,coupon\n".encode()),
        ("kb.xlsx", b"not a zip"),
        ("kb.csv", csv_bytes([])),
    ],
)
def test_unreadable_or_empty_files_are_refused(owner: StaffAccount, filename: str, data: bytes) -> None:
    with pytest.raises(Invalid):
        spreadsheet.import_entries(actor=owner, filename=filename, data=data)
