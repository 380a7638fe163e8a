"""Spreadsheet import and export (CSV and XLSX): all-or-nothing with row numbers, upsert by code, Chinese
headers and GB18030 CSV, and an export that re-imports cleanly."""

from __future__ import annotations

import csv
import io
import tracemalloc
import zipfile
from collections.abc import Callable, Sequence
from typing import Any
from xml.sax.saxutils import escape

import pytest
from openpyxl import Workbook, load_workbook

from backoffice.errors import Forbidden, Invalid
from backoffice.models import StaffAccount
from phrases import services, spreadsheet
from phrases.models import Phrase, PhraseGroup
from tests.phrases.conftest import team_phrase

HEADER = ("group", "code", "content", "keywords")


def csv_bytes(
    rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER, encoding: str = "utf-8"
) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(rows: Sequence[Sequence[object]], header: Sequence[str] = HEADER) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def build(fmt: str, rows: Sequence[Sequence[str]]) -> tuple[str, bytes]:
    return (f"phrases.{fmt}", csv_bytes(rows) if fmt == "csv" else xlsx_bytes(rows))


GOOD = [
    ("物流问题", "fh", "亲，我们48小时内发货哦", "发货,几天发"),
    ("物流问题", "kd", "默认发中通快递", "快递"),
    ("售后问题", "", "七天无理由退换货", ""),
]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_valid_file_creates_phrases_and_groups(
    owner: StaffAccount, teammate: StaffAccount, fmt: str
) -> None:
    name, data = build(fmt, GOOD)
    result = services.import_phrases(actor=owner, scope="team", filename=name, data=data)
    assert (result.created, result.updated, result.unchanged) == (3, 0, 0)
    fh = Phrase.objects.get(code="fh")
    assert (fh.owner, fh.group.name if fh.group else None, fh.keyword_list) == (
        None,
        "物流问题",
        ["发货", "几天发"],
    )
    assert [p.code for p in services.suggest(staff=teammate, text="/kd")] == ["kd"]
    assert set(PhraseGroup.objects.for_shop(owner.shop).values_list("name", flat=True)) == {
        "物流问题",
        "售后问题",
    }


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_one_bad_row_imports_nothing_and_every_bad_row_is_reported(owner: StaffAccount, fmt: str) -> None:
    rows = [
        *GOOD,  # rows 2-4
        ("物流问题", "fh", "编码和第2行重复", ""),  # row 5
        ("", "", "", "只有关键词"),  # row 6: no content
        ("", "x y", "编码有空格", ""),  # row 7
        ("", "", "好" * 1001, ""),  # row 8
        ("组" * 31, "", "分组名太长", ""),  # row 9
        ("", "a b", "", ""),  # row 10: two problems
    ]
    name, data = build(fmt, rows)
    with pytest.raises(Invalid) as exc:
        services.import_phrases(actor=owner, scope="team", filename=name, data=data)
    reported = [(e["row"], e["field"]) for e in exc.value.errors]
    assert reported == [
        (5, "code"),
        (6, "content"),
        (7, "code"),
        (8, "content"),
        (9, "group"),
        (10, "code"),
        (10, "content"),
    ]
    assert "第 2 行" in exc.value.errors[0]["message"]  # zh-hans: "on row 2"
    assert exc.value.message == "文件中有 6 行无效，未导入任何内容。"  # 6 rows invalid, nothing imported
    assert Phrase.objects.count() == 0
    assert PhraseGroup.objects.count() == 0


def test_row_numbers_count_blank_rows_like_the_spreadsheet_does(owner: StaffAccount) -> None:
    data = csv_bytes([GOOD[0], ("", "", "", ""), ("", "", "", "")])
    assert services.import_phrases(actor=owner, scope="team", filename="a.csv", data=data).created == 1
    data = csv_bytes([GOOD[0], ("", "", "", ""), ("", "bad code", "x", "")])
    with pytest.raises(Invalid) as exc:
        services.import_phrases(actor=owner, scope="team", filename="a.csv", data=data)
    assert exc.value.errors[0]["row"] == 4


def test_a_file_without_a_content_column_is_refused_on_row_1(owner: StaffAccount) -> None:
    data = csv_bytes([("a", "b")], header=("标题", "正文"))
    with pytest.raises(Invalid) as exc:
        services.import_phrases(actor=owner, scope="team", filename="a.csv", data=data)
    assert exc.value.errors[0]["row"] == 1


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("a.txt", b"content\nhello"),
        ("a.xlsx", b"not a zip"),
        ("a.csv", b""),
        ("a.csv", csv_bytes([("", "", "", "")])),
        ("a.xlsx", xlsx_bytes([], header=())),
    ],
)
def test_unreadable_files_are_invalid(owner: StaffAccount, name: str, data: bytes) -> None:
    with pytest.raises(Invalid):
        services.import_phrases(actor=owner, scope="team", filename=name, data=data)


def test_chinese_headers_gb18030_csv_and_numeric_codes_are_read(owner: StaffAccount) -> None:
    data = csv_bytes(
        [("问候", "1", "亲，您好", "")], header=("分组", "编码", "内容", "关键词"), encoding="gb18030"
    )
    services.import_phrases(actor=owner, scope="team", filename="导出.CSV", data=data)
    xlsx = xlsx_bytes([("问候", 2, "在的亲", None)], header=("分组", "编码", "内容", "关键词"))
    services.import_phrases(actor=owner, scope="team", filename="b.xlsx", data=xlsx)
    assert dict(Phrase.objects.values_list("code", "content")) == {"1": "亲，您好", "2": "在的亲"}


def test_a_row_with_an_existing_code_updates_that_phrase(owner: StaffAccount) -> None:
    phrase = team_phrase(owner, "旧的发货说明", code="fh")
    services.use_phrase(staff=owner, phrase=phrase)
    data = csv_bytes([("物流问题", "FH", "新的发货说明", "发货")])
    result = services.import_phrases(actor=owner, scope="team", filename="a.csv", data=data)
    assert (result.created, result.updated) == (0, 1)
    phrase.refresh_from_db()
    assert (phrase.content, phrase.keywords, phrase.usage_count) == ("新的发货说明", "发货", 1)
    assert services.suggest(staff=owner, text="新的") == [phrase]  # search text follows the content


def test_personal_import_goes_into_my_phrases_and_team_import_needs_the_right(
    teammate: StaffAccount, colleague: StaffAccount
) -> None:
    name, data = build("csv", GOOD)
    with pytest.raises(Forbidden):
        services.import_phrases(actor=teammate, scope="team", filename=name, data=data)
    services.import_phrases(actor=teammate, scope="personal", filename=name, data=data)
    assert Phrase.objects.personal(teammate).count() == 3
    assert PhraseGroup.objects.personal(teammate).count() == 2
    assert Phrase.objects.visible_to(colleague).count() == 0


def test_a_personal_import_may_reuse_team_codes(owner: StaffAccount, teammate: StaffAccount) -> None:
    team_phrase(owner, "团队的", code="fh")
    name, data = build("csv", GOOD)
    services.import_phrases(actor=teammate, scope="personal", filename=name, data=data)
    assert services.phrase_for_code(staff=teammate, code="fh").owner == teammate  # type: ignore[union-attr]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_reimports_cleanly(owner: StaffAccount, outsider: StaffAccount, fmt: str) -> None:
    services.import_templates(actor=owner, scope="team", scenarios=["greeting", "logistics"])
    team_phrase(owner, '=HYPERLINK("http://evil") 亲，"引号"，逗号,\n换行 <script>x</script>', code="odd")
    team_phrase(owner, "-不分组的短语", keywords=["+号", "@提及"])
    exported = services.export_phrases(staff=owner, scope="team", fmt=fmt)

    again = services.import_phrases(actor=owner, scope="team", filename=f"x.{fmt}", data=exported)
    assert (again.created, again.updated) == (0, 0)

    elsewhere = services.import_phrases(actor=outsider, scope="team", filename=f"x.{fmt}", data=exported)
    assert elsewhere.created == Phrase.objects.for_shop(owner.shop).count()

    def rows(staff: StaffAccount) -> set[tuple[str, str, str, str]]:
        return {
            (p.group.name if p.group else "", p.code, p.content, p.keywords)
            for p in Phrase.objects.for_shop(staff.shop).select_related("group")
        }

    assert rows(outsider) == rows(owner)
    assert services.export_phrases(staff=outsider, scope="team", fmt=fmt) is not None


def test_xlsx_export_writes_formulas_as_text(owner: StaffAccount) -> None:
    team_phrase(owner, "=1+1")
    book = load_workbook(io.BytesIO(services.export_phrases(staff=owner, scope="team", fmt="xlsx")))
    sheet = book.worksheets[0]
    assert [c.value for c in sheet[1]] == list(HEADER)
    assert (sheet["C2"].value, sheet["C2"].data_type) == ("=1+1", "s")


def test_csv_export_defuses_formulas_and_opens_in_excel(owner: StaffAccount) -> None:
    team_phrase(owner, "=1+1")
    data = services.export_phrases(staff=owner, scope="team", fmt="csv")
    assert data.startswith("\ufeff".encode())  # BOM: Excel reads UTF-8
    assert "'=1+1" in data.decode("utf-8-sig")


def test_personal_export_holds_only_my_phrases(owner: StaffAccount, teammate: StaffAccount) -> None:
    team_phrase(owner, "团队短语")
    services.create_phrase(actor=teammate, scope="personal", content="我的短语")
    text = services.export_phrases(staff=teammate, scope="personal", fmt="csv").decode("utf-8-sig")
    assert "我的短语" in text and "团队短语" not in text


def test_export_format_must_be_csv_or_xlsx(owner: StaffAccount) -> None:
    with pytest.raises(Invalid):
        services.export_phrases(staff=owner, scope="team", fmt="pdf")


def test_too_many_rows_or_bytes_are_refused(owner: StaffAccount, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "MAX_IMPORT_ROWS", 2)
    with pytest.raises(Invalid):
        services.import_phrases(actor=owner, scope="team", filename="a.csv", data=csv_bytes(GOOD))
    monkeypatch.setattr(services, "MAX_IMPORT_BYTES", 10)
    with pytest.raises(Invalid):
        services.import_phrases(actor=owner, scope="team", filename="a.csv", data=csv_bytes(GOOD[:1]))
    assert Phrase.objects.count() == 0


# --- bounded reading: what a crafted file claims does not size the work ----------------------------------

XLSX_PARTS = {
    "[Content_Types].xml": (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml"'
        ' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml"'
        ' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
    ),
    "_rels/.rels": (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Target="xl/workbook.xml" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/officeDocument"/></Relationships>'
    ),
    "xl/workbook.xml": (
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
        ' xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="s" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Target="worksheets/sheet1.xml" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/worksheet"/></Relationships>'
    ),
}


def crafted_xlsx(cells: dict[str, str], dimension: str | None = None, padding: int = 0) -> bytes:
    """A hand-written .xlsx: the given cells (inline strings; a value "#broken" is a reference to a shared
    string that does not exist, which fails when that row is parsed), an optional ``<dimension>`` claim,
    and ``padding`` bytes of whitespace in the sheet (it compresses to almost nothing)."""
    rows: dict[int, list[str]] = {}
    for ref, text in cells.items():
        row = int(ref.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
        cell = (
            f'<c r="{ref}" t="s"><v>999999</v></c>'
            if text == "#broken"
            else f'<c r="{ref}" t="inlineStr"><is><t>{escape(text)}</t></is></c>'
        )
        rows.setdefault(row, []).append(cell)
    body = "".join(f'<row r="{r}">{"".join(c)}</row>' for r, c in sorted(rows.items()))
    claim = f'<dimension ref="{dimension}"/>' if dimension else ""
    sheet = (
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"{claim}<sheetData>{body}</sheetData>{' ' * padding}</worksheet>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in {**XLSX_PARTS, "xl/worksheets/sheet1.xml": sheet}.items():
            archive.writestr(name, text)
    return out.getvalue()


def peak_mb(read: Callable[[], Any]) -> tuple[Any, float]:
    """What ``read()`` returned (or the Invalid it raised) and the most memory it held at once, in MB."""
    tracemalloc.start()
    try:
        result: Any = read()
    except Invalid as exc:
        result = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return result, peak


def read(data: bytes, name: str = "crafted.xlsx", max_rows: int = 5000) -> Callable[[], Any]:
    return lambda: spreadsheet.read_rows(filename=name, data=data, max_rows=max_rows)


@pytest.mark.parametrize("claim", ["A1:XFD1048576", "A1:XFD300", "A1:D5002"])
def test_a_sheet_claiming_an_absurd_size_is_refused_before_its_rows_are_read(claim: str) -> None:
    # 5 KB of file; openpyxl pads every row to the claimed width: the old reader held 300 rows x 16,384
    # cells (39 MB here, and without bound for a taller sheet).
    data = crafted_xlsx({"A1": "content", "A2": "亲，在的", "A300": "x"}, dimension=claim)
    result, peak = peak_mb(read(data))
    assert isinstance(result, Invalid), result
    assert result.errors[0]["field"] == "file"
    assert peak < 5


def test_only_the_header_columns_are_read_whatever_width_the_rows_have() -> None:
    # No <dimension>: the old reader made each row as wide as its last cell (column XFD).
    cells = {"A1": "content", "XFD1": "note"} | {f"A{r}": f"短语{r}" for r in range(2, 302)}
    cells |= {f"XFD{r}": "wide" for r in range(2, 302)}
    result, peak = peak_mb(read(crafted_xlsx(cells)))
    assert [record["content"] for _, record in result[:2]] == ["短语2", "短语3"]
    assert len(result) == 300
    assert peak < 5


def test_a_row_far_below_the_limit_stops_the_import_without_reading_the_gap(owner: StaffAccount) -> None:
    data = crafted_xlsx({"A1": "content", "A2": "亲，在的", "A1048576": "最后一行"})
    result, peak = peak_mb(
        lambda: services.import_phrases(actor=owner, scope="team", filename="a.xlsx", data=data)
    )
    assert isinstance(result, Invalid), result
    assert "5000" in result.message
    assert peak < 5
    assert Phrase.objects.count() == 0


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_reading_stops_at_the_first_row_beyond_the_limit(fmt: str) -> None:
    # Row 6 cannot be read (a missing shared string; a CSV field over the csv module's limit): a reader that
    # went on past row 5 (the first beyond 3 rows + header) would report that instead of the limit.
    if fmt == "xlsx":
        data = crafted_xlsx({"A1": "content"} | {f"A{r}": f"p{r}" for r in range(2, 6)} | {"A6": "#broken"})
    else:
        data = csv_bytes([(f"p{r}",) for r in range(2, 6)] + [("x" * 200_000,)], header=("content",))
    with pytest.raises(Invalid) as exc:
        spreadsheet.read_rows(filename=f"a.{fmt}", data=data, max_rows=3)
    assert exc.value.errors == [{"row": 5, "field": "file", "message": exc.value.message}]
    assert "3" in exc.value.message


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_cell_longer_than_excel_allows_is_refused_with_its_row(fmt: str) -> None:
    long = "长" * 32768  # openpyxl's writer cuts a longer cell to Excel's 32,767: the sheet is hand-written
    data = csv_bytes([("好",), (long,)], header=("content",))
    if fmt == "xlsx":
        data = crafted_xlsx({"A1": "content", "A2": "好", "A3": long})
    with pytest.raises(Invalid) as exc:
        spreadsheet.read_rows(filename=f"a.{fmt}", data=data, max_rows=10)
    assert exc.value.errors[0]["row"] == 3


def test_an_xlsx_that_unpacks_to_more_than_the_limit_is_refused() -> None:
    data = crafted_xlsx({"A1": "content", "A2": "x"}, padding=spreadsheet.MAX_UNPACKED_BYTES)
    assert len(data) < 200_000
    result, peak = peak_mb(read(data))
    assert isinstance(result, Invalid), result
    assert "MB" in result.message
    assert peak < 5


@pytest.mark.parametrize("cell", [0, 1, 3], ids=["group", "code", "keywords"])
def test_a_nul_in_any_cell_is_that_rows_error_and_imports_nothing(owner: StaffAccount, cell: int) -> None:
    """Before: a NUL in a group name or keywords reached PostgreSQL, which refuses it: a 500."""
    row = list(GOOD[0])
    row[cell] = row[cell] + "\x00"
    with pytest.raises(Invalid) as exc:
        services.import_phrases(actor=owner, scope="team", filename="p.csv", data=csv_bytes([*GOOD[1:], row]))
    assert [(e["row"], e["field"]) for e in exc.value.errors] == [(4, HEADER[cell])]
    assert Phrase.objects.count() == 0
    assert PhraseGroup.objects.count() == 0
