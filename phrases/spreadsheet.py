"""The phrase spreadsheet (CSV or XLSX), read and written by the shared ``backoffice.spreadsheet``.

Columns, in a header row: ``group, code, content, keywords`` (Chinese headers 分组, 编码, 内容, 关键词 are
accepted too). Keywords are separated by commas.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from backoffice import spreadsheet
from backoffice.spreadsheet import CONTENT_TYPES, FORMATS, MAX_UNPACKED_BYTES, Row, invalid_rows

__all__ = [
    "COLUMNS",
    "CONTENT_TYPES",
    "FORMATS",
    "HEADERS",
    "MAX_UNPACKED_BYTES",
    "invalid_rows",
    "read_rows",
    "write",
]

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


def read_rows(*, filename: str, data: bytes, max_rows: int) -> list[Row]:
    """The phrase rows of a file (see ``backoffice.spreadsheet.read_rows``); a content column is required."""
    return spreadsheet.read_rows(
        filename=filename, data=data, max_rows=max_rows, headers=HEADERS, required="content"
    )


def write(
    *,
    fmt: str,
    rows: Iterable[Sequence[str]],
    header: Sequence[str] | None = COLUMNS,
    title: str = "phrases",
) -> bytes:
    """The header row and ``rows`` (group, code, content, keywords) as a CSV or XLSX file. Other tables give
    their own ``header`` (None: the rows carry it) and sheet ``title``; new code may call
    ``backoffice.spreadsheet.write`` directly."""
    return spreadsheet.write(fmt=fmt, columns=header, rows=rows, title=title)
