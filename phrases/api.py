"""Quick-phrase endpoints for signed-in staff, mounted at /api/v1/phrases/ (session cookie + CSRF token).

Thin endpoints: parse, fetch ids through ``visible_to`` (another shop's id, or another agent's personal
phrase, is a 404 like a missing one), call one service, return. The rules live in ``phrases.services``;
their errors map through the API's DomainError handler: 403 a team phrase without the team-phrase right,
404 unknown id, 409 a code or group name already used in the scope, 422 invalid input (with ``errors``:
field, and for imports the spreadsheet row number).

Workbench: ``GET /suggest?text=&product_id=``, ``GET /recent``, ``POST /{id}/use`` (rendered text, the
variables filled from ``conversation_id``), ``GET /`` (the searchable list). The list and the suggestions
carry the shop's phrase version (``X-Phrases-Version``, ``phrases.index.version``): the workbench's panel
reloads its list when an answer names another version than the list it shows (an import elsewhere).
Management: phrases and groups CRUD, ``/templates`` (+ ``/templates/import``),
``/import`` (multipart) and ``/export?format=csv|xlsx``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, File, Form, Query, Router, Schema, Status, UploadedFile
from ninja.security import django_auth

from backoffice.access import current_staff, responses
from backoffice.models import Product, StaffAccount
from backoffice.tenancy import get_for_shop_or_404
from backoffice.validation import Id, Text
from phrases import index, services
from phrases.library import SCENARIO_LABELS
from phrases.models import MAX_CODE, MAX_CONTENT, MAX_GROUP_NAME, MAX_KEYWORDS, Phrase, PhraseGroup
from phrases.spreadsheet import CONTENT_TYPES
from routing.api import ImageOut
from routing.models import Conversation

router = Router(auth=django_auth, tags=["phrases"])

Scope = Literal["team", "personal"]
Keyword = Annotated[Text, Field(max_length=MAX_KEYWORDS)]  # one keyword's own limit is the service's
Scenario = Annotated[Text, Field(max_length=40)]


# --- access ------------------------------------------------------------------------------------------------


def visible_phrase(staff: StaffAccount, phrase_id: int) -> Phrase:
    qs = Phrase.objects.visible_to(staff).select_related("group", "owner", "image")
    return get_for_shop_or_404(qs, staff.shop, pk=phrase_id)


def visible_group(staff: StaffAccount, group_id: int | None) -> PhraseGroup | None:
    if group_id is None:
        return None
    return get_for_shop_or_404(PhraseGroup.objects.visible_to(staff), staff.shop, pk=group_id)


def shop_products(staff: StaffAccount, product_ids: list[int]) -> list[Product]:
    products = list(Product.objects.for_shop(staff.shop).filter(pk__in=product_ids))
    if len(products) != len(set(product_ids)):  # one of them is missing or another shop's
        raise Http404("No such product in this shop.")
    return products


def shop_product_id(staff: StaffAccount, product_id: int | None) -> int | None:
    if product_id is None:
        return None
    get_for_shop_or_404(Product.objects.only("pk"), staff.shop, pk=product_id)
    return product_id


# --- schemas -----------------------------------------------------------------------------------------------


class PhraseBase(Schema):
    id: int
    scope: Scope = Field(description="team: every agent sees it; personal: only its owner")
    group_name: str | None
    content: str = Field(description="plain text with {variables}; escape it when rendering HTML")
    code: str
    keywords: list[str]
    usage_count: int
    has_image: bool = Field(description="an image goes after the text (图文发送)")

    @staticmethod
    def resolve_scope(obj: Phrase) -> str:
        return services.scope_of(obj)

    @staticmethod
    def resolve_has_image(obj: Phrase) -> bool:
        return obj.image_id is not None

    @staticmethod
    def resolve_group_name(obj: Phrase) -> str | None:
        return obj.group.name if obj.group_id and obj.group else None

    @staticmethod
    def resolve_keywords(obj: Phrase) -> list[str]:
        return obj.keyword_list


class PhraseOut(PhraseBase):
    group_id: int | None
    product_ids: list[int]
    last_used_at: datetime | None = Field(description="last use by anyone")

    @staticmethod
    def resolve_product_ids(obj: Phrase) -> list[int]:
        known = getattr(obj, "product_ids", None)  # phrases from the search index carry them
        return known if known is not None else [p.pk for p in obj.products.all()]


class SuggestionOut(PhraseBase):
    linked: bool = Field(description="linked to the conversation's product (ranked first)")


class RecentOut(PhraseBase):
    used_at: datetime = Field(description="my last use")


class PhraseIn(Schema, extra="forbid"):
    content: Text = Field(
        min_length=1, max_length=MAX_CONTENT, description="plain text, up to 1,000 characters"
    )
    code: Text = Field("", max_length=MAX_CODE + 1, description='optional; typed as "/" + code')
    keywords: list[Keyword] = Field(default_factory=list, max_length=20)
    group_id: Id | None = Field(None, description="a group of the same scope")
    product_ids: list[Id] = Field(default_factory=list, max_length=100, description="the shop's products")


class PhraseCreateIn(PhraseIn):
    scope: Scope = Field("personal", description="team needs the owner or the team-phrase right")


class GroupOut(Schema):
    id: int
    scope: Scope
    name: str

    @staticmethod
    def resolve_scope(obj: PhraseGroup) -> str:
        return services.scope_of(obj)


class GroupIn(Schema, extra="forbid"):
    name: Text = Field(min_length=1, max_length=MAX_GROUP_NAME)


class GroupCreateIn(GroupIn):
    scope: Scope = "personal"


ContextKey = Annotated[Text, Field(max_length=50)]
ContextValue = Annotated[Text, Field(max_length=200)] | int | None


class UseIn(Schema, extra="forbid"):
    context: dict[ContextKey, ContextValue] = Field(
        default_factory=dict,
        max_length=50,
        description="values from the conversation, keyed buyer_nickname, agent_name, shop_name, "
        "product_title, order_number, ship_date, tracking_number (or the Chinese names); agent and shop "
        "default to mine",
    )
    conversation_id: Id | None = Field(
        None,
        description="fill the variables from this conversation of my shop (buyer nickname, product, the "
        "buyer's newest order: number, ship date, tracking number); context overrides; another shop's is 404",
    )


class RenderIn(UseIn):
    content: Text = Field(min_length=1, max_length=MAX_CONTENT)


class RenderedOut(Schema):
    phrase_id: int | None = None
    text: str = Field(description="plain text to send")
    missing: list[str] = Field(description="variables that had no value and got their fallback")
    unfilled: list[str] = Field(
        description="missing facts left as a 【】 marker in text: the agent fills them in before sending"
    )
    image: ImageOut | None = Field(
        None,
        description="/use with conversation_id of a phrase with an image: that chat's copy of it, to send "
        "after the text (the socket's image frame)",
    )


class VariableOut(Schema):
    key: str
    names: list[str] = Field(description="write any of these in braces: {买家昵称} or {buyer}")
    fallback: str
    description: str


class TemplateOut(Schema):
    key: str
    scenario: str
    group: str = Field(description="the group it is imported into")
    code: str
    content: str
    keywords: list[str]
    preview: str = Field(description="rendered with sample values")


class TemplateImportIn(Schema, extra="forbid"):
    scope: Scope = "team"
    scenarios: list[Scenario] | None = Field(
        None, max_length=20, description=f"any of {', '.join(SCENARIO_LABELS)}; null: all"
    )


class ImportOut(Schema):
    created: int
    updated: int
    unchanged: int


def conversation_of(staff: StaffAccount, body: UseIn) -> Conversation | None:
    if body.conversation_id is None:
        return None
    qs = Conversation.objects.select_related("buyer", "source_product")
    return get_for_shop_or_404(qs, staff.shop, pk=body.conversation_id)


def render_context(staff: StaffAccount, body: UseIn) -> dict[str, Any]:
    """The values to fill: the conversation's (``conversation_id``, shop-scoped: 404 for another shop's),
    overridden by the explicit ``context``. Shop-scoped, not ``routing.access.readable``: the values are the
    buyer's nickname and orders, which every agent of the shop may view (the agent role's commerce rights),
    not the transcript."""
    conversation = conversation_of(staff, body)
    if conversation is None:
        return dict(body.context)
    return {**services.conversation_context(conversation=conversation), **body.context}


def rendered_out(rendered: services.Rendered) -> dict[str, Any]:
    return {
        "text": rendered.text,
        "missing": rendered.missing,
        "unfilled": services.unfilled_markers(rendered),
    }


# --- workbench ---------------------------------------------------------------------------------------------

VERSION_HEADER = "X-Phrases-Version"


def versioned(response: HttpResponse, staff: StaffAccount) -> None:
    """Name the shop's phrase version on ``response`` (after the lookup, which read it): it changes with
    every write of the shop's phrases; empty when unknown."""
    response[VERSION_HEADER] = index.version(staff.shop_id)


@router.get(
    "/suggest",
    response=responses(list[SuggestionOut], 404, 422),
    summary="Suggestions while typing",
    description='"/" + code: phrases whose code starts with it, the exact code first (a personal code hides '
    "the team phrase with the same code). Other text: phrases whose content or keywords contain every "
    "word of it (no spaces needed in Chinese; traditional characters match simplified). product_id: the "
    "conversation's product; its linked phrases rank first (404 for another shop's product). The answer's "
    "``X-Phrases-Version`` header names the shop's phrase version (it changes with every write).",
)
def suggest(
    request: HttpRequest,
    response: HttpResponse,
    text: Annotated[Text, Query("", max_length=200)] = "",
    product_id: Id | None = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[Phrase]:
    staff = current_staff(request)
    found = services.suggest(
        staff=staff, text=text, product_id=shop_product_id(staff, product_id), limit=limit
    )
    versioned(response, staff)
    return found


@router.get("/recent", response=responses(list[RecentOut], 422), summary="My recently used phrases")
def recent(request: HttpRequest, limit: Annotated[int, Query(ge=1, le=50)] = 20) -> list[Phrase]:
    return services.recent(staff=current_staff(request), limit=limit)


@router.post(
    "/{phrase_id}/use",
    response=responses(RenderedOut, 400, 404, 422),
    summary="Use a phrase: record it and get the text to send",
    description="Adds one to the phrase's usage count, puts it first in my recently used list and returns "
    "the text with its variables filled from context (missing values get their fallback and are listed). "
    "A phrase with an image, used with conversation_id, also returns that chat's copy of the image.",
)
def use(request: HttpRequest, phrase_id: Id, body: UseIn) -> dict[str, Any]:
    staff = current_staff(request)
    phrase = visible_phrase(staff, phrase_id)
    context = render_context(staff, body)
    rendered = services.use_phrase(staff=staff, phrase=phrase, context=context)
    image = services.phrase_image_for(staff=staff, phrase=phrase, conversation=conversation_of(staff, body))
    return {"phrase_id": phrase.pk, **rendered_out(rendered), "image": image}


@router.post(
    "/render",
    response=responses(RenderedOut, 400, 404, 422),
    summary="Preview a text with variables",
    description="Renders content the way /use would, without recording anything.",
)
def render(request: HttpRequest, body: RenderIn) -> dict[str, Any]:
    staff = current_staff(request)
    context = {**services.staff_context(staff), **render_context(staff, body)}
    return rendered_out(services.render_phrase(content=body.content, context=context))


@router.get("/variables", response=responses(list[VariableOut]), summary="The variables a phrase may use")
def variables(request: HttpRequest) -> list[Any]:
    current_staff(request)
    return list(services.VARIABLES)


# --- groups ------------------------------------------------------------------------------------------------


@router.get("/groups", response=responses(list[GroupOut], 422), summary="Team groups and my personal groups")
def list_groups(request: HttpRequest, scope: Scope | None = None) -> Any:
    staff = current_staff(request)
    qs = PhraseGroup.objects.visible_to(staff)
    if scope is not None:
        qs = qs.team() if scope == services.TEAM else qs.personal(staff)
    return qs.order_by("pk")


@router.post(
    "/groups",
    response=responses(GroupOut, 400, 409, 422, status=201),
    summary="Create a group",
    description="Team groups need the owner or the team-phrase right (403). Names are unique per scope "
    "(409).",
)
def create_group(request: HttpRequest, body: GroupCreateIn) -> Status[PhraseGroup]:
    staff = current_staff(request)
    return Status(201, services.create_group(actor=staff, scope=body.scope, name=body.name))


@router.put("/groups/{group_id}", response=responses(GroupOut, 400, 404, 409, 422), summary="Rename a group")
def rename_group(request: HttpRequest, group_id: Id, body: GroupIn) -> PhraseGroup:
    staff = current_staff(request)
    group = visible_group(staff, group_id)
    assert group is not None
    return services.rename_group(actor=staff, group=group, name=body.name)


@router.delete(
    "/groups/{group_id}",
    response=responses(None, 404, 422, status=204),
    summary="Delete a group (its phrases stay, ungrouped)",
)
def delete_group(request: HttpRequest, group_id: Id) -> Status[None]:
    staff = current_staff(request)
    group = visible_group(staff, group_id)
    assert group is not None
    services.delete_group(actor=staff, group=group)
    return Status(204, None)


# --- template library --------------------------------------------------------------------------------------

SAMPLE_CONTEXT = {
    "buyer_nickname": "小王",
    "product_title": "北欧风陶瓷马克杯",
    "order_number": "6930012345678",
    "ship_date": "明天",
    "tracking_number": "ZT1234567890",
}


@router.get(
    "/templates",
    response=responses(list[TemplateOut], 422),
    summary="The built-in template library",
    description=f"Scenarios: {', '.join(f'{k} ({v})' for k, v in SCENARIO_LABELS.items())}.",
)
def list_templates(
    request: HttpRequest, scenario: Annotated[Text | None, Query(max_length=40)] = None
) -> list[dict[str, Any]]:
    staff = current_staff(request)
    context = {**SAMPLE_CONTEXT, **services.staff_context(staff)}
    return [
        {
            "key": t.key,
            "scenario": t.scenario,
            "group": SCENARIO_LABELS[t.scenario],
            "code": t.code,
            "content": t.content,
            "keywords": list(t.keywords),
            "preview": services.render_phrase(content=t.content, context=context).text,
        }
        for t in services.templates(scenario=scenario)
    ]


@router.post(
    "/templates/import",
    response=responses(ImportOut, 400, 422),
    summary="Import the template library in one click",
    description="Into the team's phrases (owner or team-phrase right, else 403) or mine. Importing again "
    "creates nothing new.",
)
def import_templates(request: HttpRequest, body: TemplateImportIn) -> services.ImportResult:
    staff = current_staff(request)
    return services.import_templates(actor=staff, scope=body.scope, scenarios=body.scenarios)


# --- spreadsheet -------------------------------------------------------------------------------------------


@router.post(
    "/import",
    response=responses(ImportOut, 400, 409, 422),
    summary="Import a CSV or XLSX file",
    description="Multipart form: file (columns group, code, content, keywords; header on row 1) and scope. "
    "All-or-nothing: a bad row is a 422 whose errors give each bad row number and reason, and nothing is "
    "written. A row with a code that exists updates that phrase.",
)
def import_file(request: HttpRequest, file: File[UploadedFile], scope: Form[Scope] = "team") -> Any:
    staff = current_staff(request)
    data = file.read(services.MAX_IMPORT_BYTES + 1)  # more than the limit is refused by the service
    return services.import_phrases(actor=staff, scope=scope, filename=file.name or "", data=data)


@router.get(
    "/export",
    response=responses(None, 422),
    summary="Export phrases as CSV or XLSX",
    description="The team's phrases or mine, in the import format (it re-imports unchanged).",
)
def export(
    request: HttpRequest, format: Literal["csv", "xlsx"] = "csv", scope: Scope = "team"
) -> HttpResponse:
    staff = current_staff(request)
    data = services.export_phrases(staff=staff, scope=scope, fmt=format)
    name = f"phrases-{scope}-{timezone.localdate():%Y%m%d}.{format}"
    response = HttpResponse(data, content_type=CONTENT_TYPES[format])
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- phrases -----------------------------------------------------------------------------------------------


class PhrasePage(Schema):
    count: int = Field(description="all matches")
    items: list[PhraseOut]


@router.get(
    "/",
    response=responses(PhrasePage, 404, 422),
    summary="Team phrases and mine, searchable",
    description="q: every word must occur in the content or keywords (normalized like /suggest). scope, "
    "group_id: filters. product_id: that product's linked phrases first. Then most used first. Paged with "
    "limit (1-200) and offset. The ``X-Phrases-Version`` header names the shop's phrase version.",
)
def list_phrases(
    request: HttpRequest,
    response: HttpResponse,
    q: Annotated[Text, Query("", max_length=200)] = "",
    scope: Scope | None = None,
    group_id: Id | None = None,
    product_id: Id | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    staff = current_staff(request)
    count, items = services.search_page(
        staff=staff,
        text=q,
        scope=scope,
        group=visible_group(staff, group_id),
        product_id=shop_product_id(staff, product_id),
        offset=offset,
        limit=limit,
    )
    versioned(response, staff)
    return {"count": count, "items": items}


@router.post(
    "/",
    response=responses(PhraseOut, 400, 404, 409, 422, status=201),
    summary="Create a phrase",
    description="scope team needs the owner or the team-phrase right (403). Content up to 1,000 characters "
    "(422); a code already used in the scope is a 409; another shop's group or product is a 404.",
)
def create_phrase(request: HttpRequest, body: PhraseCreateIn) -> Status[Phrase]:
    staff = current_staff(request)
    phrase = services.create_phrase(
        actor=staff,
        scope=body.scope,
        content=body.content,
        code=body.code,
        keywords=body.keywords,
        group=visible_group(staff, body.group_id),
        products=shop_products(staff, body.product_ids),
    )
    return Status(201, phrase)


@router.get("/{phrase_id}", response=responses(PhraseOut, 404, 422), summary="One phrase")
def get_phrase(request: HttpRequest, phrase_id: Id) -> Phrase:
    return visible_phrase(current_staff(request), phrase_id)


@router.put(
    "/{phrase_id}",
    response=responses(PhraseOut, 400, 404, 409, 422),
    summary="Replace a phrase",
    description="Agents cannot change team phrases (403). The scope never changes.",
)
def update_phrase(request: HttpRequest, phrase_id: Id, body: PhraseIn) -> Phrase:
    staff = current_staff(request)
    phrase = visible_phrase(staff, phrase_id)
    return services.update_phrase(
        actor=staff,
        phrase=phrase,
        content=body.content,
        code=body.code,
        keywords=body.keywords,
        group=visible_group(staff, body.group_id),
        products=shop_products(staff, body.product_ids),
    )


@router.delete(
    "/{phrase_id}",
    response=responses(None, 404, 422, status=204),
    summary="Delete a phrase",
    description="Agents cannot delete team phrases (403).",
)
def delete_phrase(request: HttpRequest, phrase_id: Id) -> Status[None]:
    staff = current_staff(request)
    services.delete_phrase(actor=staff, phrase=visible_phrase(staff, phrase_id))
    return Status(204, None)
