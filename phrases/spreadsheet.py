"""Reading and writing the phrase spreadsheet (CSV or XLSX): the file format only, no domain rules.

Columns, in a header row: ``group, code, content, keywords`` (Chinese headers 分组, 编码, 内容, 关键词 are
accepted too; column order is free, extra columns are ignored). Rows are numbered as a spreadsheet shows
them: the header is row 1. Keywords are separated by commas. CSV is read as UTF-8 (with or without BOM) or
GB18030 (what Excel saves on Chinese Windows) and written as UTF-8 with BOM so that Excel opens it.

Formula injection: a CSV cell that would start with ``= + - @`` is written with a leading apostrophe, which
the reader strips again, so an export re-imports unchanged. XLSX cells are always written as text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from django.utils.translation import gettext as _

from backoffice.errors import Invalid

COLUMNS = ("group", "code", "content", "keywords")
HEADERS = {
    "group": "group",
    "分组": "group",
    "code": "code",
    "编码": "code",
    "content": "content",
    "内容": "content",
    "短语内容": "content",
    "keywords": "keywords",
    "关键词": "keywords",
}
FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FORMULA_START = ("=", "+", "-", "@")

Row = tuple[int, dict[str, str]]


def file_format(filename: str) -> str:
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix not in FORMATS:
        raise Invalid(
            _("Upload a .csv or .xlsx file."), errors=[{"row": None, "field": "file", "message": "csv|xlsx"}]
        )
    return suffix


def read_rows(*, filename: str, data: bytes) -> list[Row]:
    """(row number, {column: text}) for every non-empty data row; no content column is row 1's error."""
    table = _read_xlsx(data) if file_format(filename) == "xlsx" else _read_csv(data)
    if not table:
        raise Invalid(_("The file is empty."), errors=[{"row": 1, "field": "file", "message": "empty"}])
    header = [HEADERS.get(_cell(c).strip().lower()) for c in table[0]]
    if "content" not in header:
        raise Invalid(
            _("Row 1 must be a header with the columns group, code, content, keywords."),
            errors=[{"row": 1, "field": "content", "message": _("no content column")}],
        )
    rows: list[Row] = []
    for number, cells in enumerate(table[1:], start=2):
        values = [_cell(c) for c in cells]
        if not any(v.strip() for v in values):
            continue
        record = dict.fromkeys(COLUMNS, "")
        for column, value in zip(header, values, strict=False):
            if column is not None:
                record[column] = value
        rows.append((number, record))
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = str(value)
    if text[:1] == "'" and text[1:2] in FORMULA_START:
        return text[1:]
    return text


def _read_csv(data: bytes) -> list[Sequence[Any]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes nearly any byte string
        raise Invalid(_("The CSV file must be UTF-8 or GB18030 text."))
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise Invalid(_("Not a readable CSV file: %(error)s") % {"error": exc}) from exc


def _read_xlsx(data: bytes) -> list[Sequence[Any]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
        finally:
            book.close()
    except Exception as exc:  # openpyxl raises many kinds (zip, XML, key) for a damaged or foreign file
        raise Invalid(
            _("Not a readable .xlsx file."), errors=[{"row": None, "field": "file", "message": str(exc)}]
        ) from exc


def write(*, fmt: str, rows: Iterable[Sequence[str]]) -> bytes:
    """The header row and ``rows`` (group, code, content, keywords) as a CSV or XLSX file."""
    if fmt == "csv":
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow(["'" + v if v.startswith(FORMULA_START) else v for v in row])
        return buffer.getvalue().encode("utf-8-sig")
    if fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = "phrases"
        sheet.append(COLUMNS)
        for row in rows:
            sheet.append(list(row))
            for cell in sheet[sheet.max_row]:
                cell.data_type = "s"  # "=..." stays text, never a formula
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
    raise Invalid(
        _("Export format must be csv or xlsx."), errors=[{"field": "format", "message": "csv|xlsx"}]
    )
