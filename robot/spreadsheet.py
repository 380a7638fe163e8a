"""Import and export of the knowledge base as CSV or XLSX, through the shared ``backoffice.spreadsheet``
(the same reader, limits, formula-injection guard and all-or-nothing refusal as the quick phrases).

Columns, in a header row (Chinese headers accepted too; order free, extra columns ignored):
``question`` 标准问题 (required), ``similar_questions`` 相似问题 (one per line inside the cell), ``answer``
答案, ``intent`` 意图 (the code, such as ``logistics``, or its name in English or Chinese), ``product``
适用商品 and ``card_product`` 商品卡片 (the product's platform id, empty for none), ``scenario`` 数据场景
(empty, ``logistics``, ``urge_shipping`` or ``change_address``).

Import is all-or-nothing: every row is checked first (the rules of ``robot.knowledge``, an unknown product,
a standard question on two rows), and any bad row refuses the whole file, listing each bad row's number,
column and reason. A row whose standard question (and product scope) the shop has updates that entry;
other rows create entries. Re-importing an export changes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from backoffice import spreadsheet
from backoffice.errors import Invalid
from backoffice.models import Product, StaffAccount
from robot import knowledge, matching
from robot.models import KnowledgeEntry
from routing.intents import Intent

COLUMNS = ("question", "similar_questions", "answer", "intent", "product", "card_product", "scenario")
HEADERS = {
    **{c: c for c in COLUMNS},
    "标准问题": "question",
    "问题": "question",
    "相似问题": "similar_questions",
    "答案": "answer",
    "回答": "answer",
    "意图": "intent",
    "适用商品": "product",
    "商品卡片": "card_product",
    "数据场景": "scenario",
    "场景": "scenario",
}
MAX_IMPORT_ROWS = 5000
MAX_IMPORT_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def intent_names() -> dict[str, str]:
    """Every accepted spelling of an intent (lower-cased): its code, its English and Chinese names."""
    names = {code.lower(): code for code in Intent.values}
    for language in ("en", "zh-hans"):
        with translation.override(language):
            names.update({str(label).strip().lower(): code for code, label in Intent.choices})
    return names


def import_entries(*, actor: StaffAccount, filename: str, data: bytes) -> ImportResult:
    """Load a CSV or XLSX file into the actor's shop's knowledge base (see the module docstring)."""
    knowledge.check_configure(actor=actor)
    if len(data) > MAX_IMPORT_BYTES:
        message = _("The file is larger than %(mb)d MB.") % {"mb": MAX_IMPORT_BYTES // 2**20}
        raise Invalid(message, errors=[{"row": None, "field": "file", "message": message}])
    rows = spreadsheet.read_rows(
        filename=filename, data=data, max_rows=MAX_IMPORT_ROWS, headers=HEADERS, required="question"
    )
    if not rows:
        message = _("The file has no entries below its header row.")
        raise Invalid(message, errors=[{"row": None, "field": "file", "message": message}])
    checked = _checked_rows(actor.shop_id, rows)
    with transaction.atomic():
        version = matching.changed(actor.shop_id)
        return _write_rows(actor.shop_id, checked, version=version)


def _checked_rows(shop_id: int, rows: Sequence[tuple[int, Mapping[str, str]]]) -> list[knowledge.EntryFields]:
    products = _products(shop_id, rows)
    names = intent_names()
    errors: list[dict[str, Any]] = []
    valid: list[knowledge.EntryFields] = []
    first_row: dict[tuple[str, int | None], int] = {}
    for number, record in rows:
        row_errors: list[dict[str, Any]] = []
        scope: dict[str, Product | None] = {}
        for column in ("product", "card_product"):
            platform_id = record[column].strip()
            scope[column] = products.get(platform_id) if platform_id else None
            if platform_id and scope[column] is None:
                row_errors.append(
                    {
                        "row": number,
                        "field": column,
                        "message": _("No product with the platform id %(id)s in this shop.")
                        % {"id": platform_id[:64]},
                    }
                )
        intent_cell = record["intent"].strip()
        try:
            fields = knowledge.fields_of(
                question=record["question"],
                similar_questions=record["similar_questions"],
                answer=record["answer"],
                intent=names.get(intent_cell.lower(), intent_cell),
                scenario=record["scenario"].strip(),
                product=scope["product"],
                card_product=scope["card_product"],
            )
        except Invalid as exc:
            row_errors.extend({**e, "row": number} for e in exc.errors)
            fields = None
        if fields is not None:
            key = (fields.question, fields.product.pk if fields.product else None)
            if key in first_row:
                message = _("The same standard question is also on row %(row)d.") % {"row": first_row[key]}
                row_errors.append({"row": number, "field": "question", "message": message})
            else:
                first_row[key] = number
        errors.extend(row_errors)
        if not row_errors and fields is not None:
            valid.append(fields)
    if errors:
        raise spreadsheet.invalid_rows(errors)
    return valid


def _products(shop_id: int, rows: Sequence[tuple[int, Mapping[str, str]]]) -> dict[str, Product]:
    wanted = {r[c].strip() for _n, r in rows for c in ("product", "card_product")} - {""}
    found = Product.objects.filter(shop_id=shop_id, platform_id__in=wanted)
    return {p.platform_id: p for p in found}


def _write_rows(shop_id: int, rows: list[knowledge.EntryFields], *, version: int) -> ImportResult:
    """Create or update each checked row's entry (the shop's entries locked)."""
    existing = list(KnowledgeEntry.objects.filter(shop_id=shop_id).select_for_update().order_by("pk"))
    by_key: dict[tuple[str, int | None], KnowledgeEntry] = {}
    for entry in existing:
        by_key.setdefault((entry.question, entry.product_id), entry)
    created = updated = unchanged = 0
    for fields in rows:
        found = by_key.get((fields.question, fields.product.pk if fields.product else None))
        if found is None:
            knowledge.apply_fields(KnowledgeEntry(shop_id=shop_id), fields, version=version).save()
            created += 1
        elif knowledge.same_fields(found, fields):
            unchanged += 1
        else:
            fields = dataclasses.replace(fields, enabled=found.enabled)
            knowledge.apply_fields(found, fields, version=version).save()
            updated += 1
    return ImportResult(created=created, updated=updated, unchanged=unchanged)


def export_entries(*, entries: Sequence[KnowledgeEntry], fmt: str) -> bytes:
    """``entries`` (scoped by the caller) as a file that ``import_entries`` reads back."""
    rows = (
        (
            e.question,
            "\n".join(e.similar_questions),
            e.answer,
            e.intent,
            e.product.platform_id if e.product else "",
            e.card_product.platform_id if e.card_product else "",
            e.scenario,
        )
        for e in entries
    )
    return spreadsheet.write(fmt=fmt, columns=COLUMNS, rows=rows, title="knowledge")
