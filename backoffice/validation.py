"""Input checked at the edge, once, for every app: the pydantic types that every API schema uses for text and
dates, the parser for the query parameters a view reads by hand, the text check that the admin's search
and the WebSocket frames call, and the admin's choice fields of rows by id.

Why these rules:
- PostgreSQL stores no NUL character, neither in text nor in JSON: a NUL in a stored or searched string was a
  500 on the write or on the search (SQLite stores it, so only PostgreSQL showed it).
- A lone surrogate ("\\ud800" in JSON) cannot be encoded as UTF-8: the database driver, a socket frame or a
  JSON answer fails on it.
- A date of year 9999 with a negative offset is year 10000 in UTC: PostgreSQL stores it and Python cannot read
  it back, so every page that showed the row answered 500 afterwards. Dates are bounded to a range no shop
  needs to leave: ``MIN_DATETIME`` (included) to ``MAX_DATETIME`` (excluded), in UTC.
- ``'²'.isdigit()`` is true and ``int('²')`` fails: an id in a query string is ASCII digits or nothing, and
  any id is a bigint (``Id``).

``Text`` carries no length of its own: each field gives the bound of its column with ``Field(max_length=...)``
(a length inside the type would override the field's; a test checks that every string the API accepts is
bounded). Django's form ``CharField`` already refuses NUL (``ProhibitNullCharactersValidator``), though not
inside a JSON value's strings: ``json_text_error`` finds those. An id in a form's choice of rows is bounded
like the API's (``IdChoiceField``, ``IdMultipleChoiceField``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from pydantic import AfterValidator, AwareDatetime, Field
from pydantic_core import PydanticCustomError

from backoffice.errors import Invalid

MIN_DATETIME = datetime(2000, 1, 1, tzinfo=UTC)
MAX_DATETIME = datetime(2100, 1, 1, tzinfo=UTC)
MAX_ID = 2**63 - 1  # the largest primary key (a bigint column)
_ID = re.compile(r"[0-9]{1,19}")  # ASCII digits only: no '²', no sign, no spaces


def text_error(value: str) -> str | None:
    """Why ``value`` cannot be stored or searched (a NUL character, a lone surrogate), or None."""
    if "\x00" in value:
        return _("Text may not contain NUL characters.")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return _("Text may not contain unpaired surrogate characters.")
    return None


def is_clean_text(value: str) -> bool:
    """Whether ``value`` can be stored and searched (``text_error`` finds nothing)."""
    return text_error(value) is None


def clean_text(value: str, max_length: int, *, field: str = "text") -> str:
    """``value`` when it can be stored and is at most ``max_length`` characters long; otherwise Invalid (a 422
    in the API, an error event on a socket), naming ``field``."""
    error = text_error(value)
    if error is None and len(value) > max_length:
        error = _("At most %(max)d characters.") % {"max": max_length}
    if error is not None:
        raise Invalid(error, errors=[{"field": field, "message": error}])
    return value


def json_text_error(value: Any) -> str | None:
    """``text_error`` of the first string, key or value, at any depth of a parsed JSON value, or None."""
    pending = [value]
    while pending:  # a loop, not recursion: parsed JSON can nest deeper than Python's recursion limit
        item = pending.pop()
        if isinstance(item, str):
            if (error := text_error(item)) is not None:
                return error
        elif isinstance(item, dict):
            pending += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            pending += item
    return None


class IdChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    """A form's choice of a row by id that refuses what no bigint holds before asking the database: SQLite
    cannot even compare an id above ``MAX_ID`` (an OverflowError, a 500). The admin's relation fields of the
    shops' models use it (``backoffice.admin.ShopScopedAdmin``)."""

    def to_python(self, value: Any) -> Any:
        if value not in self.empty_values and not hasattr(value, "_meta") and not _is_id(value):
            raise ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice", params={"value": value}
            )
        return super().to_python(value)


class IdMultipleChoiceField(forms.ModelMultipleChoiceField):  # type: ignore[type-arg]
    """``IdChoiceField`` for a choice of several rows."""

    def _check_values(self, value: Any) -> Any:
        for pk in value if isinstance(value, list | tuple) else ():
            if not _is_id(pk):
                raise ValidationError(
                    self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": pk}
                )
        return super()._check_values(value)  # type: ignore[misc]  # Django's, missing from the stubs


def _is_id(value: Any) -> bool:
    return isinstance(value, str | int) and parse_id(str(value)) is not None


def _checked_text(value: str) -> str:
    error = text_error(value)
    if error is not None:
        raise PydanticCustomError("text_invalid", error)
    return value


def _checked_datetime(value: datetime) -> datetime:
    if not MIN_DATETIME <= value < MAX_DATETIME:
        raise PydanticCustomError(
            "datetime_out_of_range",
            _("A date between %(min)s and %(max)s (UTC).")
            % {"min": f"{MIN_DATETIME:%Y-%m-%d}", "max": f"{MAX_DATETIME:%Y-%m-%d}"},
        )
    return value


Text = Annotated[str, AfterValidator(_checked_text)]
"""A string that can be stored and searched; bound its length with ``Field(max_length=...)``. A query
parameter names its default inside ``Query`` as well (``Annotated[Text, Query("", max_length=100)] = ""``):
pydantic merges ``Query`` with this type's own metadata and keeps only what was passed to ``Query``."""

DateTime = Annotated[
    AwareDatetime,
    AfterValidator(_checked_datetime),
    Field(description=f"with a time zone, from {MIN_DATETIME:%Y-%m-%d} to {MAX_DATETIME:%Y-%m-%d} (UTC)"),
]
"""A date and time with its offset, within ``MIN_DATETIME`` .. ``MAX_DATETIME``."""


Id = Annotated[int, Field(ge=1, le=MAX_ID)]
"""A row's id as the API takes it: a bigint primary key. A larger number is no id, and SQLite cannot even
compare one in ``pk__in`` (a 500)."""


def parse_id(raw: str | None) -> int | None:
    """An id from a query string: ASCII digits for 1 .. ``MAX_ID``, else None (missing or malformed)."""
    if raw is None or not _ID.fullmatch(raw):
        return None
    value = int(raw)
    return value if 0 < value <= MAX_ID else None
