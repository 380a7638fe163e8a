"""Buyers' contact details (receiver phone numbers and delivery addresses) as staff see them.

An account sees a buyer's full phone number and address only with the right ``Right.VIEW_FULL_PHONE``
(the owner always; the administrator role by default; granted per account to anyone else, e.g. a CS
supervisor who calls buyers back). Everyone else sees them masked, in every place that shows them: the
admin's order and buyer pages, the workbench's buyer panel. Each showing of a full number is recorded
(``backoffice.services.record_contact_views``; the owner reads the records in admin).

The rules, one function each:

- ``mask_phone``: the digits are kept in order without separators; of 8 or more digits the first 3 and the
  last 4 stay and each other digit becomes ``*`` (13812345678 -> 138****5678, 0571-88886666 ->
  057*****6666). China's country code (+86, 0086, or 86 before an 11-digit mobile number) stays in front as
  ``+86 `` and is not counted; another ``+`` country code is kept as digits like the rest. Of 3 to 7 digits
  only the last 2 stay (a short number has no middle to hide); 1 or 2 digits, or text without digits,
  become ``****``. The empty string stays empty.
- ``mask_address``: the region (province, city, district or county, as written at the start of a Chinese
  address) stays and the rest becomes ``****``: 浙江省杭州市西湖区文三路1号 -> 浙江省杭州市西湖区****.
  Without a recognizable region the first third of the text (at most 6 characters) stays.
- ``mask_contact_line``: an address change's text ("receiver phone address", as
  ``backoffice.services.format_address`` writes it): the phone number and the address masked as above.

Receiver names are not masked: agents greet and confirm the receiver by name, as the platforms' own
workbenches do.
"""

from __future__ import annotations

import re

from backoffice.access import Right, has_right
from backoffice.models import StaffAccount

MASK = "****"
_CN_MOBILE = re.compile(r"1\d{10}")
# The region at the start of a Chinese address: province (or autonomous region), then city (or prefecture),
# then district, county or county-level city; each part is optional and short.
_REGION = re.compile(
    r"(?:[^\s省市区县]{1,8}?(?:省|自治区|特别行政区))?"
    r"(?:[^\s省市区县]{1,9}?(?:市|自治州|地区|盟))?"
    r"(?:[^\s省市区县]{1,9}?(?:区|县|市|旗))?"
)
# A phone number inside a contact line: a token of digits (and dashes), 6 or more characters long.
_PHONE_TOKEN = re.compile(r"(?<!\S)\+?\d[\d\-]{4,}\d(?!\S)")


def sees_full_contact(staff: StaffAccount | None) -> bool:
    """Whether the account sees buyers' full phone numbers and addresses."""
    return has_right(staff, Right.VIEW_FULL_PHONE)


def _mask_digits(digits: str) -> str:
    count = len(digits)
    if count >= 8:
        return digits[:3] + "*" * (count - 7) + digits[-4:]
    if count >= 3:
        return "*" * (count - 2) + digits[-2:]
    return MASK


def mask_phone(number: str) -> str:
    """The phone number masked (module docstring)."""
    text = number.strip()
    if not text:
        return ""
    digits = "".join(ch for ch in text if ch.isascii() and ch.isdigit())
    prefix = ""
    if text.startswith("+86") or digits.startswith("0086"):
        prefix, digits = "+86 ", digits.removeprefix("00").removeprefix("86")
    elif len(digits) == 13 and digits.startswith("86") and _CN_MOBILE.fullmatch(digits[2:]):
        prefix, digits = "+86 ", digits[2:]
    elif text.startswith("+"):
        prefix = "+"
    masked = _mask_digits(digits)
    return masked if masked == MASK else prefix + masked


def _region(text: str) -> str:
    found = _REGION.match(text)
    return found.group(0) if found else ""


def mask_address(address: str) -> str:
    """The address with its detail after the region masked (module docstring)."""
    text = address.strip()
    if not text:
        return ""
    kept = _region(text)
    if not kept:
        kept = text[: min(len(text) // 3, 6)]
    if kept == text:
        return text
    return kept + MASK


def mask_contact_line(line: str) -> str:
    """An address change's "receiver phone address" text, its phone number and address masked."""
    text = line.strip()
    phone = _PHONE_TOKEN.search(text)
    if phone is not None:
        head, rest = text[: phone.start()], text[phone.end() :].strip()
        masked = head + mask_phone(phone.group(0))
        return f"{masked} {mask_address(rest)}" if rest else masked
    name, _space, rest = text.partition(" ")
    if rest and not _region(name):
        return f"{name} {mask_address(rest)}"
    return mask_address(text)
