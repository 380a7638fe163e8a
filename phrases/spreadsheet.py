"""Reading and writing the phrase spreadsheet (CSV or XLSX): the file format only, no domain rules.

Columns, in a header row: ``group, code, content, keywords`` (Chinese headers 分组, 编码, 内容, 关键词 are
accepted too; column order is free, extra columns are ignored). Rows are numbered as a spreadsheet shows
them: the header is row 1. Keywords are separated by commas. CSV is read as UTF-8 (with or without BOM) or
GB18030 (what Excel saves on Chinese Windows) and written as UTF-8 with BOM so that Excel opens it.

Formula injection: a CSV cell that would start with ``= + - @`` is written with a leading apostrophe, which
the reader strips again, so an export re-imports unchanged. XLSX cells are always written as text.

The reader is generic (the headers it knows and the column a header must have are parameters) and bounded
by what it reads, never by what a file claims: see ``read_rows``. The time it takes grows with the unpacked
size of the file, which is capped.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.utils.translation import gettext as _

from backoffice import validation
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

# Reading limits, whatever a file claims (see read_rows). Excel itself holds at most 32,767 characters a cell.
MAX_COLUMNS = 256
MAX_CELL_CHARS = 32767
MAX_UNPACKED_BYTES = 10 * 2**20

Row = tuple[int, dict[str, str]]


def file_format(filename: str) -> str:
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix not in FORMATS:
        raise Invalid(
            _("Upload a .csv or .xlsx file."), errors=[{"row": None, "field": "file", "message": "csv|xlsx"}]
        )
    return suffix


def read_rows(
    *,
    filename: str,
    data: bytes,
    max_rows: int,
    headers: Mapping[str, str] = HEADERS,
    required: str = "content",
    max_columns: int = MAX_COLUMNS,
    max_cell_chars: int = MAX_CELL_CHARS,
    max_unpacked_bytes: int = MAX_UNPACKED_BYTES,
) -> list[Row]:
    """(row number, {column: text}) for every non-empty data row below the header row (row 1).

    ``headers`` maps each accepted header text (lower-cased) to its column; a header without ``required`` is
    row 1's error. Reading is bounded whatever the file claims: only the first ``max_columns`` columns of the
    header row are looked at and, below it, only the header's known columns are read; a row below row
    ``max_rows + 1`` (blank ones count, as the spreadsheet numbers them) stops the reading with an error
    instead of reading the rest; an .xlsx file whose sheet claims more rows or columns than that, or whose
    parts unpack to more than ``max_unpacked_bytes``, is refused before its cells are read."""
    columns = tuple(dict.fromkeys(headers.values()))
    limits = _Limits(max_rows=max_rows, max_columns=max_columns, max_cell_chars=max_cell_chars)
    if file_format(filename) == "xlsx":
        return _read_xlsx(data, headers, columns, required, limits, max_unpacked_bytes)
    return _read_table(_csv_rows(data), headers, columns, required, limits)


@dataclass(frozen=True)
class _Limits:
    max_rows: int
    max_columns: int
    max_cell_chars: int


def _header_columns(
    header: Sequence[Any], headers: Mapping[str, str], columns: Sequence[str], required: str
) -> dict[int, str]:
    """{0-based position: column} of the header row's known columns; Invalid when ``required`` is missing."""
    found = {i: headers.get(_cell(c).strip().lower()) for i, c in enumerate(header)}
    known = {i: column for i, column in found.items() if column is not None}
    if required not in known.values():
        raise Invalid(
            _("Row 1 must be a header with the columns %(columns)s.") % {"columns": ", ".join(columns)},
            errors=[
                {"row": 1, "field": required, "message": _("no %(column)s column") % {"column": required}}
            ],
        )
    return known


def _read_table(
    table: Iterator[Sequence[Any]],
    headers: Mapping[str, str],
    columns: Sequence[str],
    required: str,
    limits: _Limits,
) -> list[Row]:
    """Rows from ``table`` (row 1 first, then one item per row, blank rows included), read lazily so that
    the reading stops at the first row beyond the limit."""
    header = next(table, None)
    if header is None:
        raise Invalid(_("The file is empty."), errors=[{"row": 1, "field": "file", "message": "empty"}])
    known = _header_columns(header[: limits.max_columns], headers, columns, required)
    return _data_rows(table, known, columns, limits, offset=0)


def _data_rows(
    table: Iterator[Sequence[Any]],
    known: Mapping[int, str],
    columns: Sequence[str],
    limits: _Limits,
    *,
    offset: int,
) -> list[Row]:
    """The non-empty rows 2, 3, ... of ``table``, whose items hold the cells from position ``offset`` on."""
    rows: list[Row] = []
    for number, cells in enumerate(table, start=2):
        if number > limits.max_rows + 1:
            raise _too_many_rows(limits.max_rows)
        record = dict.fromkeys(columns, "")
        for position, column in known.items():
            index = position - offset
            value = _cell(cells[index]) if 0 <= index < len(cells) else ""
            if len(value) > limits.max_cell_chars:
                raise Invalid(
                    _("Row %(row)d: a cell holds more than %(max)d characters.")
                    % {"row": number, "max": limits.max_cell_chars},
                    errors=[{"row": number, "field": column, "message": "too long"}],
                )
            if (error := validation.text_error(value)) is not None:  # a NUL cannot be stored (PostgreSQL)
                raise Invalid(
                    _("Row %(row)d: %(error)s") % {"row": number, "error": error},
                    errors=[{"row": number, "field": column, "message": error}],
                )
            record[column] = value
        if any(v.strip() for v in record.values()):
            rows.append((number, record))
    return rows


def _too_many_rows(max_rows: int) -> Invalid:
    message = _("A file holds at most %(max)d rows below its header row (blank rows count too).") % {
        "max": max_rows
    }
    return Invalid(message, errors=[{"row": max_rows + 2, "field": "file", "message": message}])


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


def _csv_rows(data: bytes) -> Iterator[list[str]]:
    """The CSV rows, one at a time. A field over the csv module's limit (131,072 characters) is Invalid."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes nearly any byte string
        raise Invalid(_("The CSV file must be UTF-8 or GB18030 text."))
    reader = csv.reader(io.StringIO(text, newline=""))
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise Invalid(_("Not a readable CSV file: %(error)s") % {"error": exc}) from exc


def _read_xlsx(
    data: bytes,
    headers: Mapping[str, str],
    columns: Sequence[str],
    required: str,
    limits: _Limits,
    max_unpacked_bytes: int,
) -> list[Row]:
    """The first sheet, read in openpyxl's read-only (streaming) mode, with its ``<dimension>`` ignored:
    openpyxl pads every row to the width and height the sheet claims, so a few kilobytes claiming
    ``A1:XFD1048576`` would fill the memory. The claim is only checked against the limits."""
    from openpyxl import load_workbook

    _check_unpacked_size(data, max_unpacked_bytes)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            sheet: Any = book.worksheets[0]
            _check_claimed_size(sheet, limits)
            sheet.reset_dimensions()
            first_row = sheet.iter_rows(min_row=1, max_row=1, max_col=limits.max_columns, values_only=True)
            header = next(first_row, None)
            first_row.close()
            if header is None or not any(v is not None for v in header):
                raise Invalid(
                    _("The file is empty."), errors=[{"row": 1, "field": "file", "message": "empty"}]
                )
            known = _header_columns(header, headers, columns, required)
            first, last = min(known) + 1, max(known) + 1  # openpyxl's columns count from 1
            body = sheet.iter_rows(min_row=2, min_col=first, max_col=last, values_only=True)
            return _data_rows(body, known, columns, limits, offset=first - 1)
        finally:
            book.close()
    except Invalid:
        raise
    except Exception as exc:  # openpyxl raises many kinds (zip, XML, key) for a damaged or foreign file
        raise Invalid(
            _("Not a readable .xlsx file."), errors=[{"row": None, "field": "file", "message": str(exc)}]
        ) from exc


def _check_unpacked_size(data: bytes, max_unpacked_bytes: int) -> None:
    """Refuse a zip bomb: the parts' declared sizes, which bound what unpacking yields (zipfile stops at
    the declared size)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise Invalid(
            _("Not a readable .xlsx file."), errors=[{"row": None, "field": "file", "message": str(exc)}]
        ) from exc
    if unpacked > max_unpacked_bytes:
        message = _("The .xlsx file unpacks to more than %(mb)d MB.") % {"mb": max_unpacked_bytes // 2**20}
        raise Invalid(message, errors=[{"row": None, "field": "file", "message": message}])


def _check_claimed_size(sheet: Any, limits: _Limits) -> None:
    """A sheet whose ``<dimension>`` claims more rows or columns than may be read is refused up front."""
    rows, width = sheet.max_row or 0, sheet.max_column or 0
    if width > limits.max_columns:
        message = _(
            "The sheet is %(n)d columns wide; at most %(max)d are read. Delete the unused columns."
        ) % {
            "n": width,
            "max": limits.max_columns,
        }
        raise Invalid(message, errors=[{"row": 1, "field": "file", "message": message}])
    if rows > limits.max_rows + 1:
        raise _too_many_rows(limits.max_rows)


def write(
    *,
    fmt: str,
    rows: Iterable[Sequence[str]],
    header: Sequence[str] | None = COLUMNS,
    title: str = "phrases",
) -> bytes:
    """The header row and ``rows`` (group, code, content, keywords) as a CSV or XLSX file. Other tables
    (the reports' exports) give their own ``header`` (None: the rows carry it) and sheet ``title``."""
    if fmt == "csv":
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer)
        if header is not None:
            writer.writerow(header)
        for row in rows:
            writer.writerow(["'" + v if v.startswith(FORMULA_START) else v for v in row])
        return buffer.getvalue().encode("utf-8-sig")
    if fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = title
        if header is not None:
            sheet.append(list(header))
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
