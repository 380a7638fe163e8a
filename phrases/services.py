"""Quick-phrase services: every write of phrases and groups, and the reads with a rule in them (search,
suggestion, the recently-used list, rendering, the template library, spreadsheet import and export).

Rules, each enforced here for every caller (API, admin, workbench):
- **Scope.** A team phrase or group (``owner`` NULL) is seen by every agent of the shop and written only by
  the shop owner or an account with the right ``Right.MANAGE_TEAM_PHRASES`` (``backoffice.access.has_right``;
  403 for anyone else).
  A personal phrase or group is its owner's alone: for anybody else it does not exist (404), like another
  shop's. A phrase lives in a group of its own scope.
- **Codes** are ASCII letters, digits, ``_`` and ``-`` (1-20, stored lower-case) and unique per scope: per
  shop among team phrases, per agent among their personal phrases (409 on a duplicate). A personal code may
  equal a team code; for that agent **the personal phrase wins**: "/" + code shows the personal phrase and
  hides the team one (other agents still get the team phrase).
- **Content** is 1-1,000 characters of plain text, stored verbatim (``<script>`` stays text; whoever renders
  HTML escapes it, as Django templates do).
- **Matching** compares ``normalize()``d text (``backoffice.text``, shared with the robot): NFKC
  (full-width to half-width), traditional to simplified Chinese (OpenCC t2s), case-folded. Every
  whitespace-separated part of a query must occur somewhere in the content or keywords, so Chinese needs no
  spaces ("发货" finds "今天发货哦", "發貨" finds it too).
- **Ranking.** "/" + code: the exact code first, then phrases linked to the conversation's product, then by
  code. Plain text and the searchable list: phrases linked to the conversation's product first, then the
  most used, then the oldest.
- **Use** records the agent's recently-used entry and adds one to the phrase's usage count.
- **Image** (图文发送, seed 004): a phrase may carry one image (``routing.attachments``' checks), written
  like the phrase. Using it in a chat gives that chat its own copy of the image, which the workbench sends
  after the text.

Search reads the per-process index of ``phrases.index``; every write here that changes what search matches
calls ``index.changed()`` inside its transaction, first, so that concurrent writes of a shop's phrases
always lock the shop's stamp row before any phrase row (one lock order, no deadlock), and stores the version
it returns on every phrase row it changes (``Phrase.index_version``), so that other processes update their
index with just those rows.
"""

from __future__ import annotations

import heapq
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.access import Right, has_right
from backoffice.errors import Conflict, Forbidden, Invalid, NotFound
from backoffice.models import Order, Product, StaffAccount
from backoffice.text import normalize
from phrases import index, spreadsheet
from phrases.library import SCENARIO_LABELS, TEMPLATES, Template
from phrases.models import (
    MAX_CODE,
    MAX_CONTENT,
    MAX_GROUP_NAME,
    MAX_KEYWORDS,
    Phrase,
    PhraseGroup,
    PhraseUse,
)
from routing import attachments
from routing.models import Conversation

TEAM, PERSONAL = "team", "personal"
SCOPES = (TEAM, PERSONAL)
MAX_KEYWORD = 20
MAX_QUERY_PARTS = 5
MAX_IMPORT_ROWS = 5000
MAX_IMPORT_BYTES = 2 * 1024 * 1024

_CODE = re.compile(rf"[0-9a-z_-]{{1,{MAX_CODE}}}")
_KEYWORD_SEPARATORS = re.compile(r"[,，、;；\s]+")
# C0 controls other than tab and newline: never typed on purpose, and not storable in an XLSX cell.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# --- text ------------------------------------------------------------------------------------------------


def split_keywords(keywords: str | Iterable[str]) -> list[str]:
    """Keywords from a list or a string separated by commas (either width), 、, semicolons or spaces;
    blanks and repeats dropped, order kept."""
    parts = [keywords] if isinstance(keywords, str) else list(keywords)
    out: list[str] = []
    for part in parts:
        for word in _KEYWORD_SEPARATORS.split(unicodedata.normalize("NFKC", part)):
            if word and word not in out:
                out.append(word)
    return out


def search_text(content: str, keywords: str) -> str:
    return normalize(content) + "\n" + normalize(keywords.replace(",", " "))


def _invalid(field_name: str, message: str) -> Invalid:
    return Invalid(message, errors=[{"field": field_name, "message": message}])


def _conflict(field_name: str, message: str) -> Conflict:
    return Conflict(message, errors=[{"field": field_name, "message": message}])


def clean_content(content: str) -> str:
    """Plain text, 1-1,000 characters after trimming; markup is kept as typed."""
    text = _CONTROL.sub("", content.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not text:
        raise _invalid("content", _("The phrase content cannot be empty."))
    if len(text) > MAX_CONTENT:
        raise _invalid(
            "content",
            _("The phrase content is at most %(max)d characters (this one has %(n)d).")
            % {"max": MAX_CONTENT, "n": len(text)},
        )
    return text


def clean_code(code: str) -> str:
    """ "" (no code) or 1-20 of a-z, 0-9, _ and -; a leading "/" is dropped and letters are lower-cased."""
    value = unicodedata.normalize("NFKC", code).strip().removeprefix("/").lower()
    if value and not _CODE.fullmatch(value):
        raise _invalid(
            "code",
            _("A code is 1 to %(max)d letters, digits, _ or - (got %(code)s).")
            % {"max": MAX_CODE, "code": code},
        )
    return value


def clean_keywords(keywords: str | Iterable[str]) -> str:
    words = split_keywords(keywords)
    too_long = [w for w in words if len(w) > MAX_KEYWORD]
    if too_long:
        raise _invalid(
            "keywords",
            _("A keyword is at most %(max)d characters: %(word)s")
            % {"max": MAX_KEYWORD, "word": too_long[0]},
        )
    joined = ",".join(words)
    if len(joined) > MAX_KEYWORDS:
        raise _invalid(
            "keywords", _("Keywords are at most %(max)d characters in all.") % {"max": MAX_KEYWORDS}
        )
    return joined


def clean_group_name(name: str) -> str:
    value = name.strip()
    if not value:
        raise _invalid("name", _("A group needs a name."))
    if len(value) > MAX_GROUP_NAME:
        raise _invalid("name", _("A group name is at most %(max)d characters.") % {"max": MAX_GROUP_NAME})
    return value


# --- scope and rights ------------------------------------------------------------------------------------


def scope_owner(*, actor: StaffAccount, scope: str) -> StaffAccount | None:
    """The ``owner`` value of new rows in ``scope``: None for the team, the actor for personal."""
    if scope not in SCOPES:
        raise _invalid("scope", _("The scope must be team or personal."))
    return None if scope == TEAM else actor


def scope_of(row: Phrase | PhraseGroup) -> str:
    return TEAM if row.owner_id is None else PERSONAL


def check_write(*, actor: StaffAccount, owner: StaffAccount | None, shop_id: int | None = None) -> None:
    """Team rows need the owner or the team-phrase right (403); another agent's personal rows, or another
    shop's rows, do not exist for the actor (404)."""
    if shop_id is not None and shop_id != actor.shop_id:
        raise NotFound(_("No such phrase in this shop."))
    if owner is None:
        if not has_right(actor, Right.MANAGE_TEAM_PHRASES):
            raise Forbidden(
                _("Only the shop owner or an account with the team-phrase right can change team phrases.")
            )
    elif owner.pk != actor.pk or not actor.is_active:
        raise NotFound(_("No such phrase in this shop."))


def _in_scope(
    model: type[Phrase] | type[PhraseGroup], shop_id: int, owner: StaffAccount | None
) -> QuerySet[Any]:
    qs = model.objects.filter(shop_id=shop_id)
    return qs.team() if owner is None else qs.personal(owner)


# --- groups ----------------------------------------------------------------------------------------------


def check_group(
    *, actor: StaffAccount, owner: StaffAccount | None, name: str, group: PhraseGroup | None = None
) -> str:
    """Authorize a write of a group in the scope of ``owner`` and return its cleaned name: 1-30 characters
    (422), unique in the scope (409)."""
    check_write(actor=actor, owner=owner, shop_id=group.shop_id if group else None)
    name = clean_group_name(name)
    taken = _in_scope(PhraseGroup, actor.shop_id, owner).filter(name=name)
    if group is not None:
        taken = taken.exclude(pk=group.pk)
    if taken.exists():
        raise _conflict("name", _("There is already a group named %(name)s.") % {"name": name})
    return name


def create_group(*, actor: StaffAccount, scope: str, name: str) -> PhraseGroup:
    """A team group (owner or team-phrase right) or one of the actor's personal groups; names are unique
    per scope (409)."""
    owner = scope_owner(actor=actor, scope=scope)
    name = check_group(actor=actor, owner=owner, name=name)
    try:
        with transaction.atomic():
            return PhraseGroup.objects.create(shop_id=actor.shop_id, owner=owner, name=name)
    except IntegrityError as exc:  # a concurrent create of the same name
        raise _conflict("name", _("There is already a group named %(name)s.") % {"name": name}) from exc


def rename_group(*, actor: StaffAccount, group: PhraseGroup, name: str) -> PhraseGroup:
    group.name = check_group(actor=actor, owner=group.owner, name=name, group=group)
    try:
        with transaction.atomic():
            index.changed(group.shop_id)  # the index re-reads every group's name
            group.save(update_fields=["name"])
    except IntegrityError as exc:
        raise _conflict("name", _("There is already a group named %(name)s.") % {"name": name}) from exc
    return group


def delete_group(*, actor: StaffAccount, group: PhraseGroup) -> None:
    """The group goes; its phrases stay, ungrouped."""
    check_write(actor=actor, owner=group.owner, shop_id=group.shop_id)
    with transaction.atomic():
        version = index.changed(group.shop_id)
        Phrase.objects.filter(group=group).update(group=None, index_version=version)
        group.delete()


def _group_named(*, shop_id: int, owner: StaffAccount | None, name: str) -> PhraseGroup:
    """The scope's group called ``name``, created when missing (safe against a concurrent create)."""
    groups: QuerySet[PhraseGroup] = _in_scope(PhraseGroup, shop_id, owner)
    existing = groups.filter(name=name).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return PhraseGroup.objects.create(shop_id=shop_id, owner=owner, name=name)
    except IntegrityError:
        return groups.get(name=name)


# --- phrases ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhraseFields:
    """Validated values of a phrase, ready to store."""

    content: str
    code: str
    keywords: str
    group: PhraseGroup | None
    products: list[Product]


def check_phrase(
    *,
    actor: StaffAccount,
    owner: StaffAccount | None,
    content: str,
    code: str = "",
    keywords: str | Iterable[str] = "",
    group: PhraseGroup | None = None,
    products: Iterable[Product] = (),
    phrase: Phrase | None = None,
) -> PhraseFields:
    """Authorize and validate a phrase in the scope of ``owner`` (None: team) without writing anything.

    403/404 per ``check_write``; 422 for bad content, code, keywords, or a group of another scope; 404 for a
    group or product of another shop; 409 for a code already used in the scope."""
    check_write(actor=actor, owner=owner, shop_id=phrase.shop_id if phrase else None)
    fields = PhraseFields(
        content=clean_content(content),
        code=clean_code(code),
        keywords=clean_keywords(keywords),
        group=group,
        products=list(products),
    )
    if group is not None:
        if group.shop_id != actor.shop_id or (group.owner_id is not None and group.owner_id != actor.pk):
            raise NotFound(_("No such phrase group in this shop."))
        if group.owner_id != (owner.pk if owner else None):
            raise _invalid(
                "group_id", _("A team phrase goes in a team group, a personal one in a personal group.")
            )
    if any(p.shop_id != actor.shop_id for p in fields.products):
        raise NotFound(_("No such product in this shop."))
    if fields.code:
        taken = _in_scope(Phrase, actor.shop_id, owner).filter(code=fields.code)
        if phrase is not None:
            taken = taken.exclude(pk=phrase.pk)
        if taken.exists():
            raise _code_taken(fields.code, owner)
    return fields


def _code_taken(code: str, owner: StaffAccount | None) -> Conflict:
    where = _("the team phrases") if owner is None else _("your personal phrases")
    return _conflict(
        "code", _("The code %(code)s is already used in %(where)s.") % {"code": code, "where": where}
    )


SAVED_FIELDS = ["content", "code", "keywords", "group", "search_text", "index_version"]


def _save(phrase: Phrase, fields: PhraseFields, *, version: int, products: bool = True) -> Phrase:
    """Write the phrase (``version``: its write's ``index.changed``)."""
    phrase.index_version = version
    phrase.content, phrase.code, phrase.keywords, phrase.group = (
        fields.content,
        fields.code,
        fields.keywords,
        fields.group,
    )
    phrase.search_text = search_text(fields.content, fields.keywords)
    existing = phrase.pk is not None
    try:
        with transaction.atomic():
            if existing:  # an update never inserts: a phrase deleted meanwhile stays deleted
                phrase.save(update_fields=[*SAVED_FIELDS, "updated_at"])
            else:
                phrase.save()
            if products:
                phrase.products.set(fields.products)
    except IntegrityError as exc:  # a concurrent write took the code
        raise _code_taken(fields.code, phrase.owner) from exc
    except DatabaseError as exc:
        if existing:
            raise NotFound(_("No such phrase in this shop.")) from exc
        raise
    return phrase


def create_phrase(
    *,
    actor: StaffAccount,
    scope: str,
    content: str,
    code: str = "",
    keywords: str | Iterable[str] = "",
    group: PhraseGroup | None = None,
    products: Iterable[Product] = (),
) -> Phrase:
    """A team phrase (owner or team-phrase right, else 403) or one of the actor's personal phrases."""
    owner = scope_owner(actor=actor, scope=scope)
    fields = check_phrase(
        actor=actor,
        owner=owner,
        content=content,
        code=code,
        keywords=keywords,
        group=group,
        products=products,
    )
    with transaction.atomic():
        version = index.changed(actor.shop_id)
        return _save(Phrase(shop_id=actor.shop_id, owner=owner, created_by=actor), fields, version=version)


def update_phrase(
    *,
    actor: StaffAccount,
    phrase: Phrase,
    content: str,
    code: str = "",
    keywords: str | Iterable[str] = "",
    group: PhraseGroup | None = None,
    products: Iterable[Product] = (),
) -> Phrase:
    """Replace a phrase's content, code, keywords, group and linked products; its scope never changes.
    Agents get 403 on team phrases, 404 on other agents' personal phrases."""
    fields = check_phrase(
        actor=actor,
        owner=phrase.owner,
        content=content,
        code=code,
        keywords=keywords,
        group=group,
        products=products,
        phrase=phrase,
    )
    with transaction.atomic():
        version = index.changed(phrase.shop_id)
        return _save(phrase, fields, version=version)


def set_phrase_image(*, actor: StaffAccount, phrase: Phrase, data: bytes | None) -> Phrase:
    """Give a phrase its image (``data``: an image file, checked and stored by ``routing.attachments``) or
    take it away (None), with the rights of writing the phrase."""
    check_write(actor=actor, owner=phrase.owner, shop_id=phrase.shop_id)
    image = attachments.store_image(shop=actor.shop, staff=actor, data=data) if data is not None else None
    with transaction.atomic():
        version = index.changed(phrase.shop_id)  # the index marks phrases with an image
        Phrase.objects.filter(pk=phrase.pk).update(image=image, index_version=version)
    phrase.image = image
    return phrase


def phrase_image_for(
    *, staff: StaffAccount, phrase: Phrase, conversation: Conversation | None
) -> dict[str, Any] | None:
    """The card of the phrase's image for ``conversation`` (a copy of it there, which an image frame then
    sends), or None: no image, or no conversation to send it in."""
    check_visible(staff=staff, phrase=phrase)
    if phrase.image_id is None or conversation is None or phrase.image is None:
        return None
    copy = attachments.copy_for_conversation(source=phrase.image, conversation=conversation, staff=staff)
    return attachments.card(copy)


def delete_phrase(*, actor: StaffAccount, phrase: Phrase) -> None:
    check_write(actor=actor, owner=phrase.owner, shop_id=phrase.shop_id)
    with transaction.atomic():
        index.changed(phrase.shop_id, removed=[phrase.pk])
        phrase.delete()


# --- rendering -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variable:
    key: str  # the context key
    names: tuple[str, ...]  # accepted in braces: the Chinese name first, then English aliases
    fallback: str
    description: str


# Fallbacks are buyer-facing Chinese like the phrases themselves, so they are not translated. Forms of address
# fall back to a polite generic word; facts (numbers, dates) are never invented: they stay as a visible 【】
# marker and are reported in ``Rendered.missing`` so that the workbench can ask the agent to fill them in.
VARIABLES = (
    Variable("buyer_nickname", ("买家昵称", "buyer", "buyer_nickname"), "亲", "the buyer's nickname"),
    Variable("agent_name", ("客服昵称", "agent", "agent_name"), "客服", "the agent's name"),
    Variable("shop_name", ("店铺名称", "shop", "shop_name"), "本店", "the shop's name"),
    Variable("product_title", ("商品名称", "product", "product_title"), "这款商品", "the product's title"),
    Variable("order_number", ("订单号", "order", "order_number"), "【订单号】", "the order number"),
    Variable("ship_date", ("发货时间", "ship_date", "ship_time"), "【发货时间】", "the ship date"),
    Variable(
        "tracking_number", ("快递单号", "tracking", "tracking_number"), "【快递单号】", "the tracking number"
    ),
)
_BY_NAME = {name.casefold(): v for v in VARIABLES for name in v.names}
_PLACEHOLDER = re.compile(r"\{([^{}|\n]{1,30})(?:\|([^{}\n]{0,50}))?\}")


@dataclass(frozen=True)
class Rendered:
    text: str
    missing: list[str] = field(default_factory=list)  # context keys that had no value


def _value_text(value: Any) -> str:
    if isinstance(value, datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        return f"{value.month}月{value.day}日"
    if isinstance(value, date):
        return f"{value.month}月{value.day}日"
    return "" if value is None else str(value).strip()


def render_phrase(
    *, phrase: Phrase | None = None, content: str | None = None, context: Mapping[str, Any] | None = None
) -> Rendered:
    """Fill the variables of a phrase (or of ``content``) from the conversation's ``context``.

    Syntax: ``{name}`` or ``{name|fallback}``; names are the Chinese names or English aliases of
    ``VARIABLES`` ({买家昵称} = {buyer}, {客服昵称} = {agent}, {店铺名称} = {shop}, {商品名称} = {product},
    {订单号} = {order}, {发货时间} = {ship_date}, {快递单号} = {tracking}). ``context`` is keyed by the
    variables' keys or any of their names. A missing or empty value uses the fallback written in the
    braces, else the variable's default fallback (亲 / 客服 / 本店 / 这款商品, or a marker such as
    【订单号】 for facts), and is listed in ``missing``. Unknown names stay as typed. The result is plain
    text."""
    if content is None:
        if phrase is None:
            raise ValueError("render_phrase needs a phrase or content")
        content = phrase.content
    values: dict[str, str] = {}
    for key, value in (context or {}).items():
        variable = _BY_NAME.get(str(key).strip().casefold())
        if variable is not None and (text := _value_text(value)):
            values[variable.key] = text
    missing: list[str] = []

    def fill(match: re.Match[str]) -> str:
        variable = _BY_NAME.get(match.group(1).strip().casefold())
        if variable is None:
            return match.group(0)
        if variable.key in values:
            return values[variable.key]
        if variable.key not in missing:
            missing.append(variable.key)
        return variable.fallback if match.group(2) is None else match.group(2)

    return Rendered(text=_PLACEHOLDER.sub(fill, content), missing=missing)


def conversation_context(*, conversation: Conversation) -> dict[str, Any]:
    """The variables a conversation can fill: the buyer's nickname, the product the chat came from, and from
    the buyer's newest order in the conversation's shop its number, ship date (shipped, else the promised
    ship-by) and tracking number. Absent facts are left out, so they get their fallback (never invented)."""
    context: dict[str, Any] = {"buyer_nickname": conversation.buyer.nickname}
    if conversation.source_product is not None:
        context["product_title"] = conversation.source_product.title
    order = (
        Order.objects.filter(shop_id=conversation.shop_id, buyer_id=conversation.buyer_id)
        .order_by("-created_at", "-pk")
        .only("number", "ship_by", "shipped_at", "tracking_number")
        .first()
    )
    if order is not None:
        context["order_number"] = order.number
        context["ship_date"] = order.shipped_at or order.ship_by
        context["tracking_number"] = order.tracking_number
    return context


_MARKERS = {v.key: v.fallback for v in VARIABLES if v.fallback.startswith("【")}  # fact -> its 【】 marker


def unfilled_markers(rendered: Rendered) -> list[str]:
    """The missing variables that left a 【】 marker in the text (facts the agent must fill in before the
    text goes to the buyer); a fallback of address such as 亲, or one written in the braces, is sendable."""
    return [key for key in rendered.missing if key in _MARKERS and _MARKERS[key] in rendered.text]


def check_visible(*, staff: StaffAccount, phrase: Phrase) -> None:
    if phrase.shop_id != staff.shop_id or phrase.owner_id not in (None, staff.pk):
        raise NotFound(_("No such phrase in this shop."))


def staff_context(staff: StaffAccount) -> dict[str, str]:
    """The variables every reply knows from the agent who sends it: their name and the shop's."""
    return {"agent_name": staff.display_name, "shop_name": staff.shop.name}


def use_phrase(
    *,
    staff: StaffAccount,
    phrase: Phrase,
    context: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Rendered:
    """The agent sends a phrase: it becomes their most recent one, its usage count goes up by one, and the
    text comes back rendered. The agent's and the shop's names fill in unless the context gives them."""
    check_visible(staff=staff, phrase=phrase)
    now = now or timezone.now()
    with transaction.atomic():
        Phrase.objects.filter(pk=phrase.pk).update(usage_count=F("usage_count") + 1, last_used_at=now)
        PhraseUse.objects.bulk_create(
            [PhraseUse(staff=staff, phrase=phrase, used_at=now)],
            update_conflicts=True,
            unique_fields=["staff", "phrase"],
            update_fields=["used_at"],
        )
    return render_phrase(
        phrase=phrase,
        context={**staff_context(staff), **(context or {})},
    )


# --- search ----------------------------------------------------------------------------------------------


def _linked(shop_index: index.ShopIndex, product_id: int | None) -> frozenset[int]:
    return shop_index.linked.get(product_id, frozenset()) if product_id is not None else frozenset()


def _match(
    shop_index: index.ShopIndex,
    *,
    staff: StaffAccount,
    text: str,
    scope: str | None = None,
    group_id: int | None = None,
    product_id: int | None = None,
    limit: int | None = None,
) -> tuple[int, list[index.Entry]]:
    if scope == TEAM:
        entries = shop_index.team
    elif scope == PERSONAL:
        entries = shop_index.personal.get(staff.pk, [])
    else:
        entries = shop_index.visible(staff.pk)
    if group_id is not None:
        entries = [e for e in entries if e.group_id == group_id]
    for part in normalize(text).split()[:MAX_QUERY_PARTS]:  # one tight pass per part: this is the hot loop
        entries = [e for e in entries if part in e.text]
    linked, usage_count = _linked(shop_index, product_id), shop_index.usage_count

    def rank(e: index.Entry) -> tuple[bool, int, int]:
        return (e.pk not in linked, -usage_count(e.pk), e.pk)

    ranked = sorted(entries, key=rank) if limit is None else heapq.nsmallest(limit, entries, key=rank)
    return len(entries), ranked


def _by_code(
    shop_index: index.ShopIndex, *, staff: StaffAccount, prefix: str, product_id: int | None, limit: int
) -> list[index.Entry]:
    try:
        code = clean_code(prefix)
    except Invalid:
        return []
    mine = [e for e in shop_index.personal.get(staff.pk, []) if e.code]
    shadowed = {e.code for e in mine}
    candidates = [e for e in shop_index.team if e.code and e.code not in shadowed] + mine
    linked = _linked(shop_index, product_id)
    matches = [e for e in candidates if e.code.startswith(code)]
    return heapq.nsmallest(
        limit, matches, key=lambda e: (e.code != code, e.pk not in linked, natural_key(e.code), e.pk)
    )


def natural_key(code: str) -> tuple[str | int, ...]:
    """A code's sort key with its numbers as numbers: wh1, wh2, wh10 (as text: wh1, wh10, wh2). Digits and
    the rest alternate, starting with text (perhaps empty), so two keys compare part by part."""
    return tuple(int(part) if i % 2 else part.casefold() for i, part in enumerate(re.split(r"(\d+)", code)))


def _phrases(shop_index: index.ShopIndex, entries: list[index.Entry], product_id: int | None) -> list[Phrase]:
    linked = _linked(shop_index, product_id)
    return [shop_index.phrase(e, linked=e.pk in linked) for e in entries]


def search_ids(
    *,
    staff: StaffAccount,
    text: str = "",
    scope: str | None = None,
    group_id: int | None = None,
    product_id: int | None = None,
    limit: int | None = None,
) -> tuple[int, list[int]]:
    """(number of matches, ids of the first ``limit`` in rank order) among the phrases the agent sees (team
    and their own), optionally of one scope or group, whose content or keywords contain every
    whitespace-separated part of ``text`` after ``normalize()``. Rank: linked to ``product_id`` first, then
    most used, then oldest."""
    count, entries = _match(
        index.shop_index(staff.shop_id),
        staff=staff,
        text=text,
        scope=scope,
        group_id=group_id,
        product_id=product_id,
        limit=limit,
    )
    return count, [e.pk for e in entries]


def search(
    *,
    staff: StaffAccount,
    text: str = "",
    scope: str | None = None,
    group: PhraseGroup | None = None,
    product_id: int | None = None,
    limit: int | None = None,
) -> list[Phrase]:
    """The phrases ``search_ids`` finds, in rank order, each carrying ``linked``."""
    return search_page(
        staff=staff, text=text, scope=scope, group=group, product_id=product_id, offset=0, limit=limit
    )[1]


def search_page(
    *,
    staff: StaffAccount,
    text: str = "",
    scope: str | None = None,
    group: PhraseGroup | None = None,
    product_id: int | None = None,
    offset: int = 0,
    limit: int | None = 50,
) -> tuple[int, list[Phrase]]:
    """(number of matches, the matches from ``offset`` to ``offset + limit``) of ``search_ids``, each with
    ``linked`` and ``product_ids``."""
    shop_index = index.shop_index(staff.shop_id)
    count, entries = _match(
        shop_index,
        staff=staff,
        text=text,
        scope=scope,
        group_id=group.pk if group else None,
        product_id=product_id,
        limit=None if limit is None else offset + limit,
    )
    return count, _phrases(shop_index, entries[offset:], product_id)


def phrase_for_code(*, staff: StaffAccount, code: str) -> Phrase | None:
    """The phrase "/" + ``code`` sends: the agent's personal phrase with that code, else the team's."""
    try:
        value = clean_code(code)
    except Invalid:
        return None
    if not value:
        return None
    shop_index = index.shop_index(staff.shop_id)
    found = _by_code(shop_index, staff=staff, prefix=value, product_id=None, limit=1)
    return shop_index.phrase(found[0]) if found and found[0].code == value else None


def suggest(
    *, staff: StaffAccount, text: str, product_id: int | None = None, limit: int = 10
) -> list[Phrase]:
    """What the workbench offers while the agent types: "/" + code lists phrases whose code starts with it,
    the exact code first, then those linked to ``product_id``, then by code; a team phrase is left out when
    the agent has a personal phrase with the same code (the personal one wins). Anything else searches
    content and keywords (see ``search_ids``). Blank text suggests nothing. ``product_id`` is the product
    the conversation is about: its linked phrases rank first. Each phrase carries ``linked``."""
    typed = unicodedata.normalize("NFKC", text).strip()
    if not typed:
        return []
    shop_index = index.shop_index(staff.shop_id)
    if typed.startswith("/"):
        entries = _by_code(shop_index, staff=staff, prefix=typed[1:], product_id=product_id, limit=limit)
    else:
        entries = _match(shop_index, staff=staff, text=typed, product_id=product_id, limit=limit)[1]
    return _phrases(shop_index, entries, product_id)


def recent(*, staff: StaffAccount, limit: int = 20) -> list[Phrase]:
    """The agent's recently used phrases, most recent first, each with ``used_at`` (their last use)."""
    uses = (
        PhraseUse.objects.filter(staff=staff, phrase__shop_id=staff.shop_id)
        .filter(Q(phrase__owner__isnull=True) | Q(phrase__owner=staff))
        .select_related("phrase__group")
        .order_by("-used_at", "-pk")[:limit]
    )
    out = []
    for use in uses:
        use.phrase.used_at = use.used_at  # type: ignore[attr-defined]
        out.append(use.phrase)
    return out


# --- template library ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def templates(*, scenario: str | None = None) -> list[Template]:
    if scenario is not None and scenario not in SCENARIO_LABELS:
        raise _invalid("scenario", _("Unknown scenario %(scenario)s.") % {"scenario": scenario})
    return [t for t in TEMPLATES if scenario is None or t.scenario == scenario]


def import_templates(
    *, actor: StaffAccount, scope: str, scenarios: Sequence[str] | None = None
) -> ImportResult:
    """Copy the library (or some scenarios of it) into the team's or the actor's phrases, one group per
    scenario. Idempotent: a template already imported into the scope (even if edited since), or whose exact
    text the scope already has, is skipped; a template code already taken in the scope is left off."""
    owner = scope_owner(actor=actor, scope=scope)
    check_write(actor=actor, owner=owner)
    chosen = [t for s in (scenarios or list(SCENARIO_LABELS)) for t in templates(scenario=s)]
    with transaction.atomic():
        version = index.changed(actor.shop_id)
        existing = _in_scope(Phrase, actor.shop_id, owner)
        keys = set(existing.exclude(template_key="").values_list("template_key", flat=True))
        texts = set(existing.values_list("content", flat=True))
        codes = set(existing.exclude(code="").values_list("code", flat=True))
        new: list[Phrase] = []
        groups: dict[str, PhraseGroup] = {}
        for template in chosen:
            if template.key in keys or template.content in texts:
                continue
            label = SCENARIO_LABELS[template.scenario]
            if label not in groups:
                groups[label] = _group_named(shop_id=actor.shop_id, owner=owner, name=label)
            keywords = ",".join(template.keywords)
            new.append(
                Phrase(
                    shop_id=actor.shop_id,
                    owner=owner,
                    group=groups[label],
                    content=template.content,
                    code="" if template.code in codes else template.code,
                    keywords=keywords,
                    search_text=search_text(template.content, keywords),
                    template_key=template.key,
                    created_by=actor,
                    index_version=version,
                )
            )
        # A concurrent import of the same scope: the unique template keys make the loser's rows no-ops.
        Phrase.objects.bulk_create(new, ignore_conflicts=True)
        created = _in_scope(Phrase, actor.shop_id, owner).exclude(template_key="").count() - len(keys)
    return ImportResult(created=created, unchanged=len(chosen) - created)


# --- spreadsheet import and export -----------------------------------------------------------------------


def import_phrases(*, actor: StaffAccount, scope: str, filename: str, data: bytes) -> ImportResult:
    """Load a CSV or XLSX file (columns group, code, content, keywords; see ``phrases.spreadsheet``) into the
    team's or the actor's phrases. All-or-nothing: every row is checked first, and any bad row makes a 422
    listing each bad row's number and reason, with nothing written.

    A row whose code exists in the scope updates that phrase; a row without a code whose text the scope
    already has updates that phrase's group and keywords; other rows create phrases. Groups are created by
    name. So re-importing an export changes nothing."""
    owner = scope_owner(actor=actor, scope=scope)
    check_write(actor=actor, owner=owner)
    if len(data) > MAX_IMPORT_BYTES:
        raise _invalid("file", _("The file is larger than %(mb)d MB.") % {"mb": MAX_IMPORT_BYTES // 2**20})
    rows = spreadsheet.read_rows(filename=filename, data=data, max_rows=MAX_IMPORT_ROWS)
    if not rows:
        raise _invalid("file", _("The file has no phrases below its header row."))
    valid = _checked_rows(rows)
    with transaction.atomic():
        version = index.changed(actor.shop_id)
        return _write_rows(actor, owner, valid, version=version)


_ROW_CLEANERS: dict[str, Any] = {
    "group": lambda v: clean_group_name(v) if v.strip() else "",
    "code": clean_code,
    "content": clean_content,
    "keywords": clean_keywords,
}


def _checked_rows(rows: Sequence[tuple[int, Mapping[str, str]]]) -> list[tuple[str, PhraseFields]]:
    """Every row cleaned: (group name, fields) per row, or Invalid listing every bad row (a code may appear
    on one row only)."""
    errors: list[dict[str, Any]] = []
    valid: list[tuple[str, PhraseFields]] = []
    first_row_of_code: dict[str, int] = {}
    for number, record in rows:
        checked: dict[str, str] = {}
        row_errors: list[dict[str, Any]] = []
        for column, clean in _ROW_CLEANERS.items():
            try:
                checked[column] = clean(record[column])
            except Invalid as exc:
                row_errors.append({"row": number, "field": column, "message": exc.message})
        code = checked.get("code", "")
        if code in first_row_of_code:
            message = _("The code %(code)s is also on row %(row)d.") % {
                "code": code,
                "row": first_row_of_code[code],
            }
            row_errors.append({"row": number, "field": "code", "message": message})
        elif code:
            first_row_of_code[code] = number
        errors.extend(row_errors)
        if not row_errors:
            valid.append(
                (checked["group"], PhraseFields(checked["content"], code, checked["keywords"], None, []))
            )
    if errors:
        raise spreadsheet.invalid_rows(errors)
    return valid


def _write_rows(
    actor: StaffAccount, owner: StaffAccount | None, rows: list[tuple[str, PhraseFields]], *, version: int
) -> ImportResult:
    """Create or update each checked row's phrase in the scope (its phrases locked), groups by name."""
    created = updated = unchanged = 0
    existing = list(_in_scope(Phrase, actor.shop_id, owner).select_for_update())
    by_code = {p.code: p for p in existing if p.code}
    by_text = {p.content: p for p in existing}
    groups: dict[str, PhraseGroup] = {}
    for group_name, fields in rows:
        if group_name and group_name not in groups:
            groups[group_name] = _group_named(shop_id=actor.shop_id, owner=owner, name=group_name)
        group = groups.get(group_name)
        phrase = by_code.get(fields.code) if fields.code else by_text.get(fields.content)
        if phrase is None:
            phrase = _save(
                Phrase(shop_id=actor.shop_id, owner=owner, created_by=actor),
                PhraseFields(fields.content, fields.code, fields.keywords, group, []),
                version=version,
                products=False,
            )
            by_text[phrase.content] = phrase
            if phrase.code:
                by_code[phrase.code] = phrase
            created += 1
            continue
        code = fields.code or phrase.code
        if (phrase.content, phrase.code, phrase.keywords, phrase.group_id) == (
            fields.content,
            code,
            fields.keywords,
            group.pk if group else None,
        ):
            unchanged += 1
        else:
            _save(
                phrase,
                PhraseFields(fields.content, code, fields.keywords, group, []),
                version=version,
                products=False,
            )
            updated += 1
    return ImportResult(created=created, updated=updated, unchanged=unchanged)


def export_phrases(*, staff: StaffAccount, scope: str, fmt: str) -> bytes:
    """The team's or the agent's own phrases as a CSV or XLSX file that ``import_phrases`` reads back."""
    owner = scope_owner(actor=staff, scope=scope)
    phrases = _in_scope(Phrase, staff.shop_id, owner).order_by("group_id", "pk")
    return export_file(phrases=phrases, fmt=fmt)


def export_file(*, phrases: QuerySet[Phrase], fmt: str) -> bytes:
    """``phrases`` (already scoped by the caller) in the import format."""
    rows = (
        (p.group.name if p.group else "", p.code, p.content, p.keywords)
        for p in phrases.select_related("group")
    )
    return spreadsheet.write(fmt=fmt, rows=rows)
