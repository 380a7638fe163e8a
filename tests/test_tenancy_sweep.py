"""The tenancy sweep: every URL pattern, API operation and socket route, asked by the outsider (shop B's
owner, signed in; shop B's API key; a buyer of shop B) with shop A's ids filled in. Each answer must be the
one its probe names (another shop's object is refused exactly as an id nobody has is: no existence oracle),
carry nothing of shop A (the names and texts the world below makes), and leave shop A's rows as they were.

The routes are derived, never listed by hand: Django's URL resolver (recursively, the admin's included), the
OpenAPI schema of /api/v1/ and the URLRouter of the sockets in backoffice/asgi.py. A route with neither a
probe nor an allowlist reason fails a ``test_every_*`` test, and a probe or reason left for a route that is
gone fails too. The admin's model pages are probed from its registry: each registered model needs a shop-A
object in the world (``WORLD_PKS``, ``WORLD_LOOKUPS``) or to be a platform model (``platform_models``),
whose pages shop owners may not open at all.

A probe is a function of ``Ids`` giving its requests (``Ask``): asked once with ids nobody has (``MISSING``,
rolled back) and once with shop A's, and the two answers must have the same status. What the sweep found
that other parts of issue 13 fix is marked xfail (strict) with the finding: ``KNOWN_LEAKS``."""

from __future__ import annotations

import functools
import html
import importlib
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from backoffice import services as shop_services
from backoffice import tasks as ops_tasks
from backoffice.asgi import application
from backoffice.models import (
    AfterSaleRequest,
    ApiKey,
    Buyer,
    ContactView,
    DelayReport,
    LateShipment,
    Order,
    PackageAlert,
    Product,
    Role,
    ServiceRequest,
    Shop,
    StaffAccount,
)
from backoffice.operations import aftersale, delays, service_requests
from backoffice.urls import api
from phrases import services as phrase_services
from phrases.models import Phrase, PhraseGroup
from robot import knowledge as robot_knowledge
from robot.models import KnowledgeEntry
from routing import config as routing_config
from routing import services as routing_services
from routing.models import AgentGroup, AgentState, Conversation, ConversationState, RoutingSettings
from routing.tokens import buyer_token
from tests.backoffice import factories
from tests.conftest import login_client
from tests.robot.world import robot_reception_objects
from tests.routing.images import image_bytes
from tests.routing.sockets import TIMEOUT, agent_socket, buyer_socket, use_layer

# --- shop A's world ----------------------------------------------------------------------------------------

# Texts only shop A has: none may reach the outsider. Unlike anything the code or its template library says
# (the library's sample product is 北欧风陶瓷马克杯, the factories' default: not used here).
NICKNAME, TAG, BUYER_PID = "甲店买家·霜月", "甲店金卡·霜月", "A-BUYER-7Q"
WAITING_NICKNAME, WAITING_PID = "甲店排队买家·青禾", "A-WAIT-7Q"
TITLE, PRODUCT_PID = "甲店商品·青瓷茶盏", "A-SKU-7Q"
ORDER_NUMBER, RECEIVER, ADDRESS = "A-ORDER-7Q", "甲店收件人·苏木", "甲店地址·青石巷七号"
BUYER_TEXT, AGENT_TEXT = "甲店消息·今晚能发货吗", "甲店回复·亲今晚发"
PHRASE, PERSONAL_PHRASE, PHRASE_GROUP = "甲店短语·亲亲稍等", "甲店私人短语·小美在", "甲店短语分组·常用"
AGENT_GROUP, KEY_NAME = "甲店客服组·售前", "甲店密钥·对接"
LOGIN, SUPERVISOR = "jia7q_zhuguan", "甲店主管·白露"
KB_QUESTION, KB_ANSWER = "甲店知识库·茶盏能进洗碗机吗", "甲店知识答案·可以进"
SHIPPED_NUMBER, TICKET_NUMBER, TICKET_SUBJECT = "A-SHIPPED-7Q", "A-TICKET-7Q", "甲店工单·催发货"
AFTER_SALE_NOTE = "甲店售后·不想要了"
DELAY_NOTE = "甲店报备·暴雨停发"


def fragment(text: str) -> str:
    """What a probe searches for: a part of a shop-A text. A page repeating the search is then no finding,
    and one listing the match (which shows the whole text) is."""
    return text[1:-1]


@dataclass(frozen=True)
class Ids:
    """What a probe fills in: shop A's ids (``World.ids``) or ids nobody has (``MISSING``)."""

    shop: int
    shop_name: str
    user: int  # the login of shop A's owner
    staff: int  # shop A's agent
    buyer: int
    buyer_pid: str
    product: int
    product_pid: str
    order: int
    order_number: str
    conversation: int  # the agent's active chat, with messages
    queued: int  # a chat waiting in shop A's queue
    phrase: int  # a team phrase
    personal_phrase: int  # the agent's personal phrase
    phrase_group: int
    agent_group: int
    attachment: int  # an image the agent uploaded for the active chat
    service_request: int = 0  # a platform ticket (shop operations)
    after_sale: int = 0  # an after-sale request of the order (shop operations)
    delay_report: int = 0  # a delay report with an evidence file (shop operations)
    evidence: int = 0


NOBODY = 2_000_000_000
MISSING = Ids(
    shop=NOBODY,
    shop_name="无此店铺",
    user=NOBODY,
    staff=NOBODY,
    buyer=NOBODY,
    buyer_pid="NO-SUCH-BUYER",
    product=NOBODY,
    product_pid="NO-SUCH-SKU",
    order=NOBODY,
    order_number="NO-SUCH-ORDER",
    conversation=NOBODY,
    queued=NOBODY,
    phrase=NOBODY,
    personal_phrase=NOBODY,
    phrase_group=NOBODY,
    agent_group=NOBODY,
    attachment=NOBODY,
    service_request=NOBODY,
    after_sale=NOBODY,
    delay_report=NOBODY,
    evidence=NOBODY,
)


@dataclass(frozen=True)
class World:
    shop: Shop
    ids: Ids
    objects: dict[type[models.Model], models.Model]  # shop-A objects of the kinds ``Ids`` has no id of
    secrets: tuple[str, ...]


def image_file() -> SimpleUploadedFile:
    return SimpleUploadedFile("photo.png", image_bytes("PNG", (64, 48)), content_type="image/png")


@pytest.fixture
def world(
    shop_a: Shop, shop_b: Shop, owner: StaffAccount, teammate: StaffAccount, tmp_path: Any, settings: Any
) -> World:
    """One object of each kind in shop A: buyers, a product, an order, an active chat with messages and a
    queued one, team and personal phrases with a group, an agent group, an API key, routing settings and a
    supervisor with a login of their own."""
    routing_services.set_agent_status(staff=owner, status="offline")
    group = routing_config.save_group(actor=owner, group=AgentGroup(shop=shop_a, name=AGENT_GROUP))
    StaffAccount.objects.filter(pk=teammate.pk).update(max_concurrent=1)
    teammate.refresh_from_db()
    routing_services.configure_agent(staff=teammate, group=group)
    routing_services.set_agent_status(staff=teammate, status="online")

    buyer = factories.buyer(shop_a, BUYER_PID, NICKNAME, tags={"member_level": TAG})
    product_record = {"platform_id": PRODUCT_PID, "title": TITLE, "price": "88.00", "category": ""}
    shop_services.upsert_products(
        shop=shop_a, records=[{**product_record, "image_url": "https://img.example.com/a7q.jpg", "url": ""}]
    )
    product = Product.objects.get(shop=shop_a, platform_id=PRODUCT_PID)
    # Waiting to ship past its ship-by: the late-shipment task records its voucher (shop operations).
    order = factories.order(
        shop_a,
        ORDER_NUMBER,
        BUYER_PID,
        receiver_name=RECEIVER,
        address=ADDRESS,
        ship_by=timezone.now() - timedelta(hours=1),
    )
    factories.order(
        shop_a, SHIPPED_NUMBER, BUYER_PID, status="shipped", shipped_at=timezone.now() - timedelta(hours=13)
    )
    ops_tasks.late_shipments()
    ops_tasks.package_alerts()
    service_requests.receive_service_requests(
        shop=shop_a,
        records=[
            {
                "number": TICKET_NUMBER,
                "category": "general",
                "subject": TICKET_SUBJECT,
                "received_at": timezone.now(),
                "order_number": ORDER_NUMBER,
            }
        ],
    )
    ticket = ServiceRequest.objects.get(shop=shop_a, number=TICKET_NUMBER)
    report = delays.report_delay(
        actor=owner,
        reason="weather",
        note=DELAY_NOTE,
        order_numbers=[ORDER_NUMBER],
        files=[delays.Upload(name="notice.png", data=image_bytes("PNG", (40, 30)))],
    )
    after_sale = aftersale.create_request(
        shop=shop_a, order=order, kind="refund_only", reason="not_wanted", note=AFTER_SALE_NOTE
    )
    conversation, _decision = routing_services.request_human(buyer=buyer)
    routing_services.post_buyer_message(buyer=buyer, text=BUYER_TEXT)
    conversation.refresh_from_db()
    routing_services.post_agent_message(agent=teammate, conversation=conversation, text=AGENT_TEXT)
    queued, _decision = routing_services.request_human(
        buyer=factories.buyer(shop_a, WAITING_PID, WAITING_NICKNAME)
    )
    queued.refresh_from_db()
    assert (conversation.state, conversation.agent_id, queued.state) == (
        ConversationState.ACTIVE,
        teammate.pk,
        ConversationState.QUEUED,
    ), "the world's chats were routed otherwise than planned"

    phrase_group = phrase_services.create_group(actor=owner, scope="team", name=PHRASE_GROUP)
    phrase = phrase_services.create_phrase(
        actor=owner, scope="team", content=PHRASE, code="a7q", group=phrase_group, products=[product]
    )
    personal = phrase_services.create_phrase(actor=teammate, scope="personal", content=PERSONAL_PHRASE)
    api_key = shop_services.create_api_key(shop=shop_a, name=KEY_NAME, created_by=owner.user)[0]
    kb_entry = robot_knowledge.create_entry(
        actor=owner, question=KB_QUESTION, answer=KB_ANSWER, intent="product_question", product=product
    )
    factories.staff(shop_a, LOGIN, SUPERVISOR, role=Role.CS_SUPERVISOR)
    settings.MEDIA_ROOT = str(tmp_path / "media")
    attachment = routing_services.upload_agent_image(
        staff=teammate, conversation=conversation, data=image_bytes("PNG", (64, 48))
    )
    ids = Ids(
        shop=shop_a.pk,
        shop_name=shop_a.name,
        user=owner.user_id,
        staff=teammate.pk,
        buyer=buyer.pk,
        buyer_pid=BUYER_PID,
        product=product.pk,
        product_pid=PRODUCT_PID,
        order=order.pk,
        order_number=ORDER_NUMBER,
        conversation=conversation.pk,
        queued=queued.pk,
        phrase=phrase.pk,
        personal_phrase=personal.pk,
        phrase_group=phrase_group.pk,
        agent_group=group.pk,
        attachment=attachment.pk,
        service_request=ticket.pk,
        after_sale=after_sale.pk,
        delay_report=report.pk,
        evidence=report.evidence.get().pk,
    )
    shop_services.record_contact_views(user=owner.user, staff=owner, orders=[order], place="admin_form")
    objects: dict[type[models.Model], models.Model] = {
        ApiKey: api_key,
        ContactView: ContactView.objects.get(order=order),
        AgentState: AgentState.objects.get(staff=teammate),
        RoutingSettings: routing_services.routing_settings(shop_a),
        **robot_reception_objects(shop_a, conversation),
        KnowledgeEntry: kb_entry,
        LateShipment: LateShipment.objects.get(order=order),
        PackageAlert: PackageAlert.objects.get(order__number=SHIPPED_NUMBER),
        ServiceRequest: ticket,
        AfterSaleRequest: after_sale,
        DelayReport: report,
    }
    secrets = (
        *(shop_a.name, owner.display_name, teammate.display_name, NICKNAME, TAG, BUYER_PID),
        *(WAITING_NICKNAME, WAITING_PID, TITLE, PRODUCT_PID, ORDER_NUMBER, RECEIVER, ADDRESS),
        *(BUYER_TEXT, AGENT_TEXT, PHRASE, PERSONAL_PHRASE, PHRASE_GROUP, AGENT_GROUP, KEY_NAME),
        *(LOGIN, SUPERVISOR, KB_QUESTION, KB_ANSWER),
        *(SHIPPED_NUMBER, TICKET_NUMBER, TICKET_SUBJECT, AFTER_SALE_NOTE, DELAY_NOTE),
    )
    return World(shop=shop_a, ids=ids, objects=objects, secrets=secrets)


def shop_rows(shop: Shop) -> dict[str, list[dict[str, Any]]]:
    """Every row of the shop in the project's tables (found through the foreign keys that lead to the shop)
    and its staff's logins: what the outsider's requests must leave as it was."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.app_label in {"backoffice", "routing", "phrases", "robot", "reports"}:
            path = path_to_shop(model)
            if path is not None:
                found = model._default_manager.filter(**{path: shop.pk}).order_by("pk")
                rows[model._meta.label] = list(found.values())
    rows["logins"] = [
        dict(row) for row in User.objects.filter(staff_accounts__shop=shop).order_by("pk").values()
    ]
    return rows


def path_to_shop(model: type[models.Model], depth: int = 3) -> str | None:
    """The lookup from ``model`` to its shop through foreign keys (``"shop"``, ``"conversation__shop"``)."""
    if model is Shop:
        return "pk"
    keys = [f for f in model._meta.get_fields() if f.concrete and (f.many_to_one or f.one_to_one)]
    if direct := [f.name for f in keys if f.related_model is Shop]:
        return direct[0]
    if depth > 1:
        for key in keys:
            if rest := path_to_shop(cast(type[models.Model], key.related_model), depth - 1):
                return key.name if rest == "pk" else f"{key.name}__{rest}"
    return None


# --- asking ------------------------------------------------------------------------------------------------

OK = frozenset({200})
NOT_FOUND = frozenset({404})
# Refused before the object is looked up (no right to the page: 403) or as none of theirs (404). Which of
# the two may not depend on whose the id is: ``run_probe`` compares with the answer for an id nobody has.
REFUSED = frozenset({403, 404})


@dataclass(frozen=True)
class Ask:
    """One request of a probe, and the statuses it may get."""

    method: str
    path: str  # "{buyer_token}": the asking side's buyer token
    expect: frozenset[int]
    json: Any = None
    form: dict[str, Any] | None = None
    who: str = "staff"  # staff (signed in), key (the API key), buyer (the chat page's token), anonymous
    follow: bool = False


Probe = Callable[[Ids], list[Ask]]


def get(path: str, expect: frozenset[int] = OK, **kw: Any) -> Ask:
    return Ask("get", path, expect, **kw)


def post(path: str, expect: frozenset[int] = OK, **kw: Any) -> Ask:
    return Ask("post", path, expect, **kw)


def scoped(*paths: str) -> Probe:
    """Pages that take no shop object: the outsider's own to see, with nothing of shop A."""
    return lambda ids: [get(path) for path in paths]


@dataclass(frozen=True)
class Side:
    """One shop's ways in: its owner's session, its API key, a buyer's token, and no session at all."""

    clients: dict[str, Client]
    staff: StaffAccount
    buyer_token: str


def side(shop: Shop, owner: StaffAccount, api_key: str, buyer: Buyer) -> Side:
    return Side(
        clients={
            "staff": login_client(owner),
            "key": Client(HTTP_AUTHORIZATION=f"Bearer {api_key}"),
            "buyer": Client(),
            "anonymous": Client(),
        },
        staff=owner,
        buyer_token=buyer_token(buyer),
    )


@pytest.fixture
def outsider_side(shop_b: Shop, outsider: StaffAccount, key_b: str) -> Side:
    return side(shop_b, outsider, key_b, factories.buyer(shop_b, "B-BUYER-1", "乙店买家"))


def answer(asking: Side, ask: Ask) -> Any:
    send = getattr(asking.clients[ask.who], ask.method)
    path = ask.path.replace("{buyer_token}", asking.buyer_token)
    if ask.json is not None:
        return send(path, json.dumps(ask.json), content_type="application/json", follow=ask.follow)
    if ask.form is not None:
        return send(path, ask.form, follow=ask.follow)
    return send(path, follow=ask.follow)


def text_of(response: Any) -> str:
    """The response as a person or a program reads it: headers and body, JSON and HTML unescaped."""
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode("utf-8", "replace")
    if "json" in response.get("Content-Type", ""):
        try:
            text = json.dumps(json.loads(text), ensure_ascii=False)
        except ValueError:
            pass
    headers = " ".join(f"{name}: {value}" for name, value in response.headers.items())
    return html.unescape(f"{headers}\n{text}")


def run_probe(probe: Probe, world: World, outsider: Side) -> None:
    """Ask with ids nobody has (rolled back), then with shop A's; compare, and check what came back."""
    with transaction.atomic():
        for_nobody = [answer(outsider, ask).status_code for ask in probe(MISSING)]
        transaction.set_rollback(True)
    before = shop_rows(world.shop)
    problems = []
    for ask, nobody_status in zip(probe(world.ids), for_nobody, strict=True):
        response = answer(outsider, ask)
        what = f"{ask.who} {ask.method.upper()} {ask.path}"
        if response.status_code not in ask.expect:
            problems.append(f"{what}: {response.status_code}, expected one of {sorted(ask.expect)}")
        if response.status_code != nobody_status:
            problems.append(f"{what}: {response.status_code} for shop A's ids, {nobody_status} for none")
        text = text_of(response)
        if leaked := [secret for secret in world.secrets if secret in text]:
            problems.append(f"{what}: shows shop A's {leaked}")
    assert problems == [], "\n".join(problems)
    assert shop_rows(world.shop) == before, "the outsider's requests changed shop A's rows"


# --- the routes, as the project has them -------------------------------------------------------------------

API_NAMESPACE = "api-v1"


@dataclass(frozen=True)
class Route:
    key: str  # the URL name with its namespaces, or the pattern of an unnamed one
    pattern: str


def walk(resolver: URLResolver, prefix: str = "", namespaces: tuple[str, ...] = ()) -> Iterator[Route]:
    for entry in resolver.url_patterns:
        pattern = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from walk(entry, pattern, namespaces + ((entry.namespace,) if entry.namespace else ()))
        elif isinstance(entry, URLPattern):
            yield Route(":".join((*namespaces, entry.name)) if entry.name else pattern, pattern)


def is_api_operation(route: Route) -> bool:
    """The API's patterns, swept from its schema (``api_operations``), but its root, docs and schema."""
    return route.key.startswith(API_NAMESPACE + ":") and route.key not in URL_PROBES


def url_routes() -> list[Route]:
    return [route for route in walk(get_resolver()) if not is_api_operation(route)]


@functools.cache
def api_operations() -> list[tuple[str, str]]:
    schema = api.get_openapi_schema()
    return sorted((method.upper(), path) for path, ops in schema["paths"].items() for method in ops)


def socket_routes() -> list[str]:
    """The routes of the sockets' URLRouter, found through the middleware wrapped around it."""
    app: Any = application.application_mapping["websocket"]
    while not isinstance(app, URLRouter):
        app = getattr(app, "application", None) or app.inner
    return [str(cast(Any, route).pattern) for route in app.routes]


# --- the admin's model pages, from its registry ------------------------------------------------------------

# The shop-A object whose pages a model's probe asks for, by its id in ``Ids``.
WORLD_PKS: dict[type[models.Model], Callable[[Ids], int]] = {
    Shop: lambda ids: ids.shop,
    StaffAccount: lambda ids: ids.staff,
    Buyer: lambda ids: ids.buyer,
    Product: lambda ids: ids.product,
    Order: lambda ids: ids.order,
    AgentGroup: lambda ids: ids.agent_group,
    Phrase: lambda ids: ids.phrase,
    PhraseGroup: lambda ids: ids.phrase_group,
}
# The models with no id in ``Ids``: their probe asks for the world's object of the kind (``World.objects``).
WORLD_LOOKUPS: set[type[models.Model]] = {
    ApiKey,
    AgentState,
    RoutingSettings,
    ContactView,
    KnowledgeEntry,
    *(
        apps.get_model("robot", name)
        for name in ("RobotSettings", "DiversionRule", "RobotSession", "UnansweredGroup")
    ),
    LateShipment,
    PackageAlert,
    ServiceRequest,
    AfterSaleRequest,
    DelayReport,
}


def platform_models() -> dict[type[models.Model], Callable[[Ids], int]]:
    """Models of the whole platform, not of a shop, and the object whose pages each one's probe asks for:
    shop A's owner's login, a role group, Celery beat's schedules and tasks (made here)."""
    from axes import models as axes  # type: ignore[import-untyped]  # ships no types
    from django_celery_beat import models as beat

    def interval(ids: Ids) -> int:
        return int(beat.IntervalSchedule.objects.get_or_create(every=7, period="minutes")[0].pk)

    def task(ids: Ids) -> int:
        schedule = beat.IntervalSchedule.objects.get(pk=interval(ids))
        return int(beat.PeriodicTask.objects.create(name="sweep", task="sweep", interval=schedule).pk)

    def solar(ids: Ids) -> int:
        return int(beat.SolarSchedule.objects.create(event="sunrise", latitude=30, longitude=120).pk)

    def clocked(ids: Ids) -> int:
        return int(beat.ClockedSchedule.objects.create(clocked_time=timezone.now()).pk)

    def sign_in_record(model: type[models.Model], **extra: Any) -> Callable[[Ids], int]:
        """One of django-axes' sign-in records, of shop A's owner's login."""
        return lambda ids: int(
            model._default_manager.create(
                username=User.objects.get(pk=ids.user).username, ip_address="10.0.0.1", **extra
            ).pk
        )

    return {
        User: lambda ids: ids.user,
        Group: lambda ids: int(Group.objects.get(name=Role.AGENT).pk),
        axes.AccessAttempt: sign_in_record(axes.AccessAttempt, failures_since_start=1),
        axes.AccessFailureLog: sign_in_record(axes.AccessFailureLog),
        axes.AccessLog: sign_in_record(axes.AccessLog),
        beat.IntervalSchedule: interval,
        beat.CrontabSchedule: lambda ids: int(beat.CrontabSchedule.objects.create(minute="7").pk),
        beat.SolarSchedule: solar,
        beat.ClockedSchedule: clocked,
        beat.PeriodicTask: task,
    }


def registered_admin_models() -> list[type[models.Model]]:
    return sorted(admin.site._registry, key=lambda model: model._meta.label)


def admin_keys(model: type[models.Model]) -> list[str]:
    """The keys of the URL patterns the admin makes for a model."""
    app, name = model._meta.app_label, model._meta.model_name
    views = ("changelist", "add", "history", "delete", "change")
    return [f"admin:{app}_{name}_{view}" for view in views] + [f"admin/{app}/{name}/<path:object_id>/"]


def searched(model: type[models.Model], ids: Ids) -> str:
    """What to search a model's admin list or autocomplete for: a part of its shop-A object's text."""
    texts: dict[type[models.Model], str] = {
        Shop: ids.shop_name,
        StaffAccount: SUPERVISOR,
        User: LOGIN,
        Buyer: NICKNAME,
        Product: TITLE,
        Order: ORDER_NUMBER,
        ContactView: ORDER_NUMBER,
        ApiKey: KEY_NAME,
        AgentGroup: AGENT_GROUP,
        Phrase: PHRASE,
        PhraseGroup: PHRASE_GROUP,
        KnowledgeEntry: KB_QUESTION,
    }
    return fragment(texts.get(model, NICKNAME))


def admin_probe(model: type[models.Model], object_id: Callable[[Ids], int], platform: bool) -> Probe:
    """A model's admin pages: the list (searched for shop A's object too) and the add form show nothing of
    shop A; the object's pages (the bare object URL's redirect followed) are refused as for an id nobody
    has. A platform model's pages are all a 404 to shop owners, as if it were not registered."""
    base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    listed = NOT_FOUND if platform else frozenset({200, 403})
    searchable = bool(admin.site._registry[model].search_fields)

    def probe(ids: Ids) -> list[Ask]:
        pk = object_id(ids) if ids is not MISSING else NOBODY
        return [
            # A list may open the shop's one object (routing settings): followed, it is the outsider's own.
            get(base, listed, follow=not platform),
            *([get(f"{base}?q={searched(model, ids)}", listed)] if searchable else []),
            get(f"{base}add/", listed),
            *(get(f"{base}{pk}/{view}/", REFUSED) for view in ("change", "history", "delete")),
            get(f"{base}{pk}/", REFUSED, follow=True),
            post(f"{base}{pk}/change/", REFUSED, form={"name": "乙店改名"}),
            post(f"{base}{pk}/delete/", REFUSED, form={"post": "yes"}),
        ]

    return probe


def admin_model_probe(label: str, world: World) -> Probe:
    model = apps.get_model(label)
    platform = platform_models()
    if model in platform:
        made = platform[model](world.ids)  # before either pass: the same object for both
        return admin_probe(model, lambda ids: made, platform=True)
    if model in WORLD_PKS:
        return admin_probe(model, WORLD_PKS[model], platform=False)
    found = int(world.objects[model].pk)
    return admin_probe(model, lambda ids: found, platform=False)


# --- the other URL patterns' probes, and the allowlist -----------------------------------------------------


def view_on_site(ids: Ids) -> list[Ask]:
    """The admin's "view on site" redirect, for each of shop A's objects."""
    return [
        get(f"/admin/r/{ContentType.objects.get_for_model(model).pk}/{pk_of(ids)}/", NOT_FOUND)
        for model, pk_of in WORLD_PKS.items()
    ]


def autocomplete(ids: Ids) -> list[Ask]:
    """The admin's autocomplete of every relation between registered models, searched for shop A's object:
    the outsider's own shop's choices, or refused (403; 404 where the target's admin has no search)."""
    asks = []
    for model in registered_admin_models():
        for field in model._meta.get_fields():
            target = cast(type[models.Model], field.related_model)
            if field.is_relation and field.concrete and target in admin.site._registry:
                names = f"app_label={model._meta.app_label}&model_name={model._meta.model_name}"
                term = searched(target, ids)
                asks.append(
                    get(f"/admin/autocomplete/?{names}&field_name={field.name}&term={term}", OK | REFUSED)
                )
    return asks


def app_index(ids: Ids) -> list[Ask]:
    labels = sorted({model._meta.app_label for model in admin.site._registry})
    return [get(f"/admin/{label}/", OK | REFUSED) for label in labels]


URL_PROBES: dict[str, Probe] = {
    "home": scoped("/"),
    "healthz": lambda ids: [get("/healthz", frozenset({200, 503}))],  # 503: no Celery worker in the tests
    "switch-shop": lambda ids: [post("/switch-shop/", NOT_FOUND, form={"shop": ids.shop, "next": "/"})],
    "admin:index": scoped("/admin/"),
    "admin:login": lambda ids: [get("/admin/login/", frozenset({302}))],  # signed in: on to the index
    "admin:password_change": scoped("/admin/password_change/"),
    "admin:password_change_done": scoped("/admin/password_change/done/"),
    "admin:jsi18n": scoped("/admin/jsi18n/"),
    "admin:autocomplete": autocomplete,
    "admin:view_on_site": view_on_site,
    "admin:app_list": app_index,
    "admin/(?P<url>.*)$": lambda ids: [
        get(f"/admin/backoffice/buyer/{ids.buyer}/change", NOT_FOUND, follow=True)
    ],
    "admin:auth_user_password_change": lambda ids: [get(f"/admin/auth/user/{ids.user}/password/", REFUSED)],
    "admin:phrases_phrase_import": scoped("/admin/phrases/phrase/import/"),
    "admin:robot_knowledgeentry_import": scoped("/admin/robot/knowledgeentry/import/"),
    "routing:workbench": scoped("/workbench/"),
    "routing:buyer-panel": lambda ids: [get(f"/workbench/buyer/{ids.conversation}/", NOT_FOUND)],
    # A buyer of shop B at shop A's chat page, or nobody: the expired-link page (403).
    "routing:buyer-chat": lambda ids: [
        get(f"/chat/{ids.shop}/?token={{buyer_token}}", frozenset({403}), who="buyer"),
        get(f"/chat/{ids.shop}/", frozenset({403}), who="anonymous"),
    ],
    "routing:demo-picker": lambda ids: [get(f"/chat/{ids.shop}/demo/", NOT_FOUND)],  # DEBUG is off in tests
    # A buyer of shop B uploading to shop A's chat page, or nobody: refused as an expired link (403).
    "routing:buyer-upload": lambda ids: [
        post(
            f"/chat/{ids.shop}/images/?token={{buyer_token}}",
            frozenset({403}),
            who="buyer",
            form={"file": image_file()},
        ),
        post(f"/chat/{ids.shop}/images/", frozenset({403}), who="anonymous", form={"file": image_file()}),
    ],
    # Shop A's image: no image for shop B's staff or buyer (404); nobody signed in: 403.
    "routing:attachment": lambda ids: [
        get(f"/attachments/{ids.attachment}/", NOT_FOUND),
        get(f"/attachments/{ids.attachment}/?token={{buyer_token}}", NOT_FOUND, who="buyer"),
        get(f"/attachments/{ids.attachment}/", frozenset({403}), who="anonymous"),
    ],
    "routing:attachment-thumb": lambda ids: [
        get(f"/attachments/{ids.attachment}/thumb/", NOT_FOUND),
        get(f"/attachments/{ids.attachment}/thumb/?token={{buyer_token}}", NOT_FOUND, who="buyer"),
        get(f"/attachments/{ids.attachment}/thumb/", frozenset({403}), who="anonymous"),
    ],
    # Buyer self-service (robot): a buyer of shop B at shop A's endpoints, or nobody: refused as an expired
    # link (403), whatever the order or question named; the settings pages are the outsider's own shop's.
    "robot:selfservice": lambda ids: [
        get(
            f"/chat/{ids.shop}/self-service/?token={{buyer_token}}&product={ids.product}",
            frozenset({403}),
            who="buyer",
        ),
        get(f"/chat/{ids.shop}/self-service/", frozenset({403}), who="anonymous"),
    ],
    "robot:selfservice-faq": lambda ids: [
        post(
            f"/chat/{ids.shop}/self-service/faq/?token={{buyer_token}}",
            frozenset({403}),
            who="buyer",
            json={"question": 1, "client_msg_id": "sweep"},
        ),
    ],
    "robot:selfservice-cards": lambda ids: [
        post(
            f"/chat/{ids.shop}/self-service/cards/?token={{buyer_token}}",
            frozenset({403}),
            who="buyer",
            json={"order": ids.order, "kind": "confirm_address", "action": "confirm"},
        ),
    ],
    "robot:faq-settings": scoped("/self-service/faq/"),
    "robot:cards-settings": scoped("/self-service/cards/"),
    "robot:window-settings": lambda ids: [
        get("/self-service/window/"),
        post(
            "/self-service/window/",
            NOT_FOUND,
            form={"op": "add", "bar": "presale", "kind": "product_link", "product": ids.product},
        ),
    ],
    "robot:followup-settings": lambda ids: [
        get("/self-service/follow-up/"),
        post(
            "/self-service/follow-up/", NOT_FOUND, form={"op": "note", "product": ids.product, "note": "乙店"}
        ),
    ],
    # Reports: shop A's agents, groups and sessions are no filter or page of shop B's (404); searched for
    # shop A's buyer, order and words, shop B's own empty result.
    "reports:kpis": lambda ids: [
        get("/reports/"),
        get(f"/reports/?agent={ids.staff}", NOT_FOUND),
        get(f"/reports/?group={ids.agent_group}", NOT_FOUND),
        get(f"/reports/?agent={ids.staff}&export=csv", NOT_FOUND),
    ],
    "reports:history": lambda ids: [
        get(f"/reports/history/?buyer={fragment(NICKNAME)}"),
        get(f"/reports/history/?buyer={ids.order_number}&export=csv"),
        get(f"/reports/history/?q={fragment(BUYER_TEXT)}"),
        get(f"/reports/history/?agent={ids.staff}", NOT_FOUND),
        get(f"/reports/history/?group={ids.agent_group}", NOT_FOUND),
    ],
    "reports:session": lambda ids: [get(f"/reports/history/{ids.conversation}/", NOT_FOUND)],
    "reports:review": lambda ids: [
        post(f"/reports/history/{ids.conversation}/review/", NOT_FOUND, form={"score": "1"})
    ],
    "reports:transfer": lambda ids: [
        post(f"/reports/history/{ids.conversation}/transfer/", NOT_FOUND, form={"to_agent": ids.staff})
    ],
    "reports:live": scoped("/reports/live/"),
    "reports:hourly": scoped("/reports/hourly/", "/reports/hourly/?export=csv"),
    "reports:insight": scoped("/reports/insight/"),
    "api-v1:api-root": lambda ids: [get("/api/v1/", NOT_FOUND)],  # django-ninja's: always a 404
    "api-v1:openapi-json": scoped("/api/v1/openapi.json"),
    "api-v1:openapi-view": scoped("/api/v1/docs"),
    "ops:overview": scoped("/ops/"),
    "ops:handle-request": lambda ids: [
        post(f"/ops/service-requests/{ids.service_request}/handle/", NOT_FOUND)
    ],
    # The outsider's own shop's setting: shop A's is left as it was.
    "ops:act-after-sale": lambda ids: [
        post(f"/ops/after-sales/{ids.after_sale}/act/", NOT_FOUND, form={"action": "agree"})
    ],
    "ops:delay-reports": lambda ids: [
        get("/ops/delay-reports/"),
        # A form error, nothing filed. (That shop A's order numbers are unknown to shop B is tested in
        # tests/ops/test_delays.py: the refused form shows the numbers typed, which this sweep counts as A's.)
        post("/ops/delay-reports/", frozenset({422}), form={"reason": "weather", "region": "浙江省"}),
    ],
    "ops:withdraw-delay-report": lambda ids: [
        post(f"/ops/delay-reports/{ids.delay_report}/withdraw/", NOT_FOUND)
    ],
    "ops:delay-evidence": lambda ids: [get(f"/ops/delay-reports/evidence/{ids.evidence}/", NOT_FOUND)],
    "ops:holiday-pause": lambda ids: [
        post("/ops/settings/holiday-pause/", frozenset({302}), form={"pause": "on"})
    ],
}
ALLOWED: dict[str, str] = {
    "set_language": "i18n: POST only, sets the language of the person's own session; names no shop object",
    "favicon": "a redirect to the console's icon, the same for everyone; names no shop object",
    "admin:logout": "ends the person's own session; names no shop object",
}


# --- the API operations' probes ----------------------------------------------------------------------------


def key(method: str, path: str, expect: frozenset[int] = OK, **kw: Any) -> Ask:
    return Ask(method, "/api/v1" + path, expect, who="key", **kw)


def staff(method: str, path: str, expect: frozenset[int] = OK, **kw: Any) -> Ask:
    return Ask(method, "/api/v1" + path, expect, **kw)


def order_records(ids: Ids) -> dict[str, Any]:
    """An order of shop A's buyer with shop A's product, as pushed: unknown ids in shop B."""
    record = factories.order_record(ids.order_number, ids.buyer_pid)
    record["items"][0]["product_platform_id"] = ids.product_pid
    batch: dict[str, Any] = json.loads(json.dumps({"records": [record]}, default=str))
    return batch


def spreadsheet(ids: Ids) -> dict[str, Any]:
    csv = "group,code,content,keywords\n乙店分组,b1,乙店短语,\n".encode()
    return {"file": SimpleUploadedFile("phrases.csv", csv, content_type="text/csv"), "scope": "team"}


def conversation(ids: Ids, action: str = "") -> str:
    return f"/routing/conversations/{ids.conversation}{action}"


API_PROBES: dict[tuple[str, str], Probe] = {
    # integration, with shop B's key: shop A's platform ids are shop B's own to use, and never reach shop A
    ("POST", "/api/v1/buyers"): lambda ids: [
        key("post", "/buyers", json={"records": [{"platform_id": ids.buyer_pid, "nickname": "乙店改名"}]})
    ],
    ("GET", "/api/v1/buyers/{platform_id}"): lambda ids: [key("get", f"/buyers/{ids.buyer_pid}", NOT_FOUND)],
    ("POST", "/api/v1/products"): lambda ids: [
        key(
            "post",
            "/products",
            json={"records": [{"platform_id": ids.product_pid, "title": "乙", "price": 1}]},
        )
    ],
    ("GET", "/api/v1/products/{platform_id}"): lambda ids: [
        key("get", f"/products/{ids.product_pid}", NOT_FOUND)
    ],
    ("POST", "/api/v1/orders"): lambda ids: [
        key("post", "/orders", frozenset({422}), json=order_records(ids))
    ],
    ("GET", "/api/v1/orders/{number}"): lambda ids: [key("get", f"/orders/{ids.order_number}", NOT_FOUND)],
    # staff, signed in to shop B
    ("GET", "/api/v1/me"): lambda ids: [staff("get", "/me")],
    ("GET", "/api/v1/staff"): lambda ids: [staff("get", "/staff")],
    ("GET", "/api/v1/staff/{staff_id}"): lambda ids: [staff("get", f"/staff/{ids.staff}", NOT_FOUND)],
    ("PUT", "/api/v1/me/reception-limit"): lambda ids: [
        staff("put", "/me/reception-limit", json={"limit": 3})
    ],
    ("GET", "/api/v1/routing/me/state"): lambda ids: [staff("get", "/routing/me/state")],
    ("PUT", "/api/v1/routing/me/status"): lambda ids: [
        staff("put", "/routing/me/status", json={"status": "busy"})
    ],
    ("PUT", "/api/v1/routing/me/limit"): lambda ids: [staff("put", "/routing/me/limit", json={"limit": 3})],
    ("GET", "/api/v1/routing/queue"): lambda ids: [staff("get", "/routing/queue")],
    ("POST", "/api/v1/routing/queue/pull"): lambda ids: [
        staff("post", "/routing/queue/pull", NOT_FOUND, json={"conversation_id": ids.queued})
    ],
    ("GET", "/api/v1/routing/pool"): lambda ids: [staff("get", "/routing/pool")],
    ("POST", "/api/v1/routing/pool/{conversation_id}/reassign"): lambda ids: [
        staff("post", f"/routing/pool/{ids.queued}/reassign", NOT_FOUND, json={"to_agent_id": ids.staff})
    ],
    ("POST", "/api/v1/routing/pool/reassign"): lambda ids: [staff("post", "/routing/pool/reassign")],
    ("POST", "/api/v1/routing/conversations/{conversation_id}/transfer"): lambda ids: [
        staff(
            "post", conversation(ids, "/transfer"), NOT_FOUND, json={"to_agent_id": ids.staff, "force": True}
        )
    ],
    ("POST", "/api/v1/routing/conversations/{conversation_id}/end"): lambda ids: [
        staff("post", conversation(ids, "/end"), NOT_FOUND)
    ],
    ("POST", "/api/v1/routing/conversations/{conversation_id}/messages"): lambda ids: [
        staff("post", conversation(ids, "/messages"), NOT_FOUND, json={"text": "乙店"})
    ],
    ("GET", "/api/v1/routing/conversations/{conversation_id}/messages"): lambda ids: [
        staff("get", conversation(ids, "/messages"), NOT_FOUND)
    ],
    ("POST", "/api/v1/routing/conversations/{conversation_id}/images"): lambda ids: [
        staff("post", conversation(ids, "/images"), NOT_FOUND, form={"file": image_file()})
    ],
    ("GET", "/api/v1/routing/conversations/{conversation_id}/trace"): lambda ids: [
        staff("get", conversation(ids, "/trace"), NOT_FOUND)
    ],
    ("POST", "/api/v1/routing/conversations/{conversation_id}/rating-invite"): lambda ids: [
        staff("post", conversation(ids, "/rating-invite"), NOT_FOUND)
    ],
    ("GET", "/api/v1/routing/proactive/buyers"): lambda ids: [
        staff("get", f"/routing/proactive/buyers?q={fragment(NICKNAME)}"),
        staff("get", f"/routing/proactive/buyers?q={ids.order_number}"),
    ],
    ("POST", "/api/v1/routing/proactive"): lambda ids: [
        staff("post", "/routing/proactive", NOT_FOUND, json={"buyer_id": ids.buyer})
    ],
    ("GET", "/api/v1/routing/settings"): lambda ids: [staff("get", "/routing/settings")],
    ("PUT", "/api/v1/routing/settings"): lambda ids: [
        staff("put", "/routing/settings", NOT_FOUND, json={"pool_holder_id": ids.staff})
    ],
    ("GET", "/api/v1/routing/conversations"): lambda ids: [
        staff("get", "/routing/conversations?scope=active"),
        staff("get", "/routing/conversations?scope=history"),
    ],
    ("GET", "/api/v1/routing/agents"): lambda ids: [staff("get", "/routing/agents")],
    ("GET", "/api/v1/routing/products"): lambda ids: [
        staff("get", f"/routing/products?q={fragment(TITLE)}"),
        staff("get", f"/routing/products?q={ids.product_pid}"),
    ],
    ("GET", "/api/v1/robot/match"): lambda ids: [
        staff("get", f"/robot/match?text={fragment(KB_QUESTION)}"),
        staff("get", f"/robot/match?text={fragment(KB_QUESTION)}&product_id={ids.product}", NOT_FOUND),
    ],
    ("GET", "/api/v1/phrases/suggest"): lambda ids: [
        staff("get", f"/phrases/suggest?text={fragment(PHRASE)}"),
        staff("get", "/phrases/suggest?text=/a7q"),
        staff("get", f"/phrases/suggest?text=a&product_id={ids.product}", NOT_FOUND),
    ],
    ("GET", "/api/v1/phrases/recent"): lambda ids: [staff("get", "/phrases/recent")],
    ("GET", "/api/v1/robot/assist"): lambda ids: [
        staff("get", f"/robot/assist?conversation={ids.conversation}", NOT_FOUND)
    ],
    ("POST", "/api/v1/phrases/{phrase_id}/use"): lambda ids: [
        staff("post", f"/phrases/{ids.phrase}/use", NOT_FOUND, json={}),
        staff("post", f"/phrases/{ids.personal_phrase}/use", NOT_FOUND, json={}),
    ],
    ("POST", "/api/v1/phrases/render"): lambda ids: [
        staff(
            "post",
            "/phrases/render",
            NOT_FOUND,
            json={"content": "{买家昵称}", "conversation_id": ids.conversation},
        )
    ],
    ("GET", "/api/v1/phrases/variables"): lambda ids: [staff("get", "/phrases/variables")],
    ("GET", "/api/v1/phrases/groups"): lambda ids: [staff("get", "/phrases/groups")],
    ("POST", "/api/v1/phrases/groups"): lambda ids: [
        staff("post", "/phrases/groups", frozenset({201}), json={"name": "乙店分组", "scope": "team"})
    ],
    ("PUT", "/api/v1/phrases/groups/{group_id}"): lambda ids: [
        staff("put", f"/phrases/groups/{ids.phrase_group}", NOT_FOUND, json={"name": "乙店改名"})
    ],
    ("DELETE", "/api/v1/phrases/groups/{group_id}"): lambda ids: [
        staff("delete", f"/phrases/groups/{ids.phrase_group}", NOT_FOUND)
    ],
    ("GET", "/api/v1/phrases/templates"): lambda ids: [staff("get", "/phrases/templates")],
    ("POST", "/api/v1/phrases/templates/import"): lambda ids: [
        staff("post", "/phrases/templates/import", json={"scope": "team", "scenarios": None})
    ],
    ("POST", "/api/v1/phrases/import"): lambda ids: [staff("post", "/phrases/import", form=spreadsheet(ids))],
    ("GET", "/api/v1/phrases/export"): lambda ids: [
        staff("get", "/phrases/export?format=csv&scope=team"),
        staff("get", "/phrases/export?format=csv&scope=personal"),
    ],
    ("GET", "/api/v1/phrases/"): lambda ids: [
        staff("get", f"/phrases/?q={fragment(PHRASE)}"),
        staff("get", f"/phrases/?group_id={ids.phrase_group}", NOT_FOUND),
        staff("get", f"/phrases/?product_id={ids.product}", NOT_FOUND),
    ],
    ("POST", "/api/v1/phrases/"): lambda ids: [
        staff(
            "post",
            "/phrases/",
            NOT_FOUND,
            json={"content": "乙", "scope": "team", "group_id": ids.phrase_group},
        ),
        staff(
            "post",
            "/phrases/",
            NOT_FOUND,
            json={"content": "乙", "scope": "team", "product_ids": [ids.product]},
        ),
    ],
    ("GET", "/api/v1/phrases/{phrase_id}"): lambda ids: [
        staff("get", f"/phrases/{ids.phrase}", NOT_FOUND),
        staff("get", f"/phrases/{ids.personal_phrase}", NOT_FOUND),
    ],
    ("PUT", "/api/v1/phrases/{phrase_id}"): lambda ids: [
        staff("put", f"/phrases/{ids.phrase}", NOT_FOUND, json={"content": "乙店改"})
    ],
    ("DELETE", "/api/v1/phrases/{phrase_id}"): lambda ids: [
        staff("delete", f"/phrases/{ids.phrase}", NOT_FOUND)
    ],
    # shop operations: shop A's order numbers are unknown to shop B's key
    ("POST", "/api/v1/ops/service-requests"): lambda ids: [
        key(
            "post",
            "/ops/service-requests",
            frozenset({422}),
            json={
                "records": [
                    {
                        "number": TICKET_NUMBER,
                        "category": "urgent",
                        "subject": "乙",
                        "received_at": "2026-03-02T10:00:00+08:00",
                        "order_number": ids.order_number,
                    }
                ]
            },
        )
    ],
    ("POST", "/api/v1/ops/pickup-scans"): lambda ids: [
        key(
            "post",
            "/ops/pickup-scans",
            frozenset({422}),
            json={
                "records": [{"order_number": ids.order_number, "picked_up_at": "2026-03-02T10:00:00+08:00"}]
            },
        )
    ],
    ("GET", "/api/v1/ops/orders/{number}/late-shipment"): lambda ids: [
        key("get", f"/ops/orders/{ids.order_number}/late-shipment", NOT_FOUND)
    ],
    ("GET", "/api/v1/ops/shipping/due"): lambda ids: [staff("get", "/ops/shipping/due")],
    ("GET", "/api/v1/ops/service-requests/open"): lambda ids: [staff("get", "/ops/service-requests/open")],
    ("POST", "/api/v1/ops/service-requests/{request_id}/handle"): lambda ids: [
        staff("post", f"/ops/service-requests/{ids.service_request}/handle", NOT_FOUND)
    ],
    ("GET", "/api/v1/ops/package-alerts"): lambda ids: [staff("get", "/ops/package-alerts")],
    ("POST", "/api/v1/ops/after-sales"): lambda ids: [
        key(
            "post",
            "/ops/after-sales",
            frozenset({422}),
            json={
                "records": [
                    {
                        "number": "B1",
                        "order_number": ids.order_number,
                        "kind": "refund_only",
                        "reason": "other",
                    }
                ]
            },
        )
    ],
    ("POST", "/api/v1/ops/delay-reports/{report_id}/review"): lambda ids: [
        key("post", f"/ops/delay-reports/{ids.delay_report}/review", NOT_FOUND, json={"status": "approved"})
    ],
    ("GET", "/api/v1/ops/delay-reports"): lambda ids: [staff("get", "/ops/delay-reports")],
    ("POST", "/api/v1/ops/delay-reports/file"): lambda ids: [
        # Refused before anything is stored (a region without its period). Shop A's order numbers are refused
        # too (tests/ops/test_delays_api.py); the error names the numbers typed, which this sweep counts.
        key(
            "post",
            "/ops/delay-reports/file",
            frozenset({422}),
            form={"reason": "weather", "region": "浙江省", "files": image_file()},
        )
    ],
    ("GET", "/api/v1/ops/delay-reports/{report_id}"): lambda ids: [
        key("get", f"/ops/delay-reports/{ids.delay_report}", NOT_FOUND)
    ],
    ("GET", "/api/v1/ops/alerts"): lambda ids: [staff("get", "/ops/alerts")],
    ("POST", "/api/v1/ops/alerts/read"): lambda ids: [staff("post", "/ops/alerts/read")],
    ("GET", "/api/v1/ops/after-sales/open"): lambda ids: [staff("get", "/ops/after-sales/open")],
    ("POST", "/api/v1/ops/orders/{order_id}/after-sales"): lambda ids: [
        staff(
            "post",
            f"/ops/orders/{ids.order}/after-sales",
            NOT_FOUND,
            json={"kind": "refund_only", "reason": "other"},
        )
    ],
    ("POST", "/api/v1/ops/after-sales/{after_sale_id}/actions"): lambda ids: [
        staff("post", f"/ops/after-sales/{ids.after_sale}/actions", NOT_FOUND, json={"action": "agree"})
    ],
}


# --- the sockets' probes -----------------------------------------------------------------------------------


async def exchange(comm: WebsocketCommunicator, *frames: dict[str, Any]) -> list[dict[str, Any]]:
    """Send the frames, then a ping: everything received up to its pong."""
    for frame in [*frames, {"type": "ping"}]:
        await comm.send_json_to(frame)
    received: list[dict[str, Any]] = []
    while (frame := await comm.receive_json_from(timeout=TIMEOUT))["type"] != "pong":
        received.append(frame)
    return received


def error_codes(frames: list[dict[str, Any]]) -> list[str]:
    return [frame["code"] for frame in frames if frame["type"] == "error"]


async def opened(comm: WebsocketCommunicator) -> list[dict[str, Any]]:
    connected, code = await comm.connect(timeout=TIMEOUT)
    assert connected, code
    return [await comm.receive_json_from(timeout=TIMEOUT)]  # hello


def own_chat(owner: StaffAccount) -> Conversation:
    """A chat of the owner's shop that they serve."""
    routing_services.set_agent_status(staff=owner, status="online")
    conv, _decision = routing_services.request_human(buyer=factories.buyer(owner.shop, "B-CHAT", "乙店顾客"))
    conv.refresh_from_db()
    assert conv.agent_id == owner.pk
    return conv


async def agent_socket_probe(ids: Ids, outsider: Side) -> list[dict[str, Any]]:
    """Shop B's owner on the workbench socket: resume, send and cards naming shop A's chats or product are
    not_found (a card of shop A's product in their own chat too), nothing is replayed; no session: 4401."""
    assert await (await agent_socket(None)).connect(timeout=TIMEOUT) == (False, 4401)
    own = await database_sync_to_async(own_chat)(outsider.staff)
    comm = await agent_socket(outsider.staff)
    frames = await opened(comm)
    frames += await exchange(
        comm, {"type": "resume", "after": {str(ids.conversation): 0, str(ids.queued): 0}}
    )
    assert error_codes(frames) == ["not_found", "not_found"]
    assert frames[-1] == {"type": "resumed", "conversations": []}
    card = {"type": "card", "kind": "product", "id": ids.product}
    image = {"type": "image", "attachment": ids.attachment}
    replies = await exchange(
        comm,
        {"type": "send", "conversation": ids.conversation, "client_msg_id": "s1", "text": "乙店"},
        {**card, "conversation": ids.conversation, "client_msg_id": "c1"},
        {**card, "conversation": own.pk, "client_msg_id": "c2"},
        {**image, "conversation": ids.conversation, "client_msg_id": "i1"},
        {**image, "conversation": own.pk, "client_msg_id": "i2"},
    )
    assert error_codes(replies) == ["not_found"] * 5
    await comm.disconnect()
    return frames + replies


async def buyer_socket_probe(ids: Ids, outsider: Side) -> list[dict[str, Any]]:
    """A buyer of shop B on the chat socket: resume and rate naming shop A's chat are not_found; a message
    sent from shop A's product page starts a chat that names no product; no or a bad token: 4401."""
    assert await buyer_socket("").connect(timeout=TIMEOUT) == (False, 4401)
    assert await buyer_socket(outsider.buyer_token[:-2] + "xx").connect(timeout=TIMEOUT) == (False, 4401)
    comm = buyer_socket(outsider.buyer_token)
    frames = await opened(comm)
    frames += await exchange(
        comm,
        {"type": "resume", "after": {str(ids.conversation): 0}},
        {"type": "rate", "conversation": ids.conversation, "stars": 1},
    )
    assert error_codes(frames) == ["not_found", "not_found"]
    image = {"type": "image", "client_msg_id": uuid.uuid4().hex, "attachment": ids.attachment}
    assert error_codes(await exchange(comm, image)) == ["not_found"]  # shop A's image, in no chat of B's
    send = {"type": "send", "client_msg_id": uuid.uuid4().hex, "text": "在吗", "product": ids.product}
    acks = [frame for frame in await exchange(comm, send) if frame["type"] == "ack"]
    assert len(acks) == 1, acks
    chat = await database_sync_to_async(Conversation.objects.get)(pk=acks[0]["conversation"])
    assert chat.source_product_id is None, "shop A's product became the source of shop B's chat"
    await comm.disconnect()
    return frames + acks


async def monitor_socket_probe(ids: Ids, outsider: Side) -> list[dict[str, Any]]:
    """Shop B's owner on the live monitor: shop B's snapshot only; naming shop A's shop: 4409; no session:
    4401."""
    from tests.routing.sockets import SITE, session_cookie

    assert await WebsocketCommunicator(application, "/ws/monitor/", headers=SITE).connect(
        timeout=TIMEOUT
    ) == (
        False,
        4401,
    )
    cookie = [(b"cookie", await database_sync_to_async(session_cookie)(outsider.staff))]
    named = WebsocketCommunicator(application, f"/ws/monitor/?shop={ids.shop}", headers=[*SITE, *cookie])
    await named.connect(timeout=TIMEOUT)
    assert (await named.receive_output(timeout=TIMEOUT))["code"] == 4409
    comm = WebsocketCommunicator(application, "/ws/monitor/", headers=[*SITE, *cookie])
    frames = await opened(comm)
    assert frames[0]["type"] == "monitor"
    await comm.disconnect()
    return frames


async def ops_socket_probe(ids: Ids, outsider: Side) -> list[dict[str, Any]]:
    """Shop B's owner on the operations alerts: shop B's alerts only; naming shop A's shop: 4409; no
    session: 4401. (The page's right comes from the role's group, which an earlier transactional test's flush
    removed: made again first.)"""
    from tests.routing.sockets import SITE, session_cookie

    create_role_groups = importlib.import_module("backoffice.migrations.0002_role_groups").create_role_groups
    await database_sync_to_async(create_role_groups)(apps, None)
    assert await WebsocketCommunicator(application, "/ws/ops/", headers=SITE).connect(timeout=TIMEOUT) == (
        False,
        4401,
    )
    cookie = [(b"cookie", await database_sync_to_async(session_cookie)(outsider.staff))]
    named = WebsocketCommunicator(application, f"/ws/ops/?shop={ids.shop}", headers=[*SITE, *cookie])
    await named.connect(timeout=TIMEOUT)
    assert (await named.receive_output(timeout=TIMEOUT))["code"] == 4409
    comm = WebsocketCommunicator(application, "/ws/ops/", headers=[*SITE, *cookie])
    frames = await opened(comm)
    assert frames[0]["type"] == "alerts"
    await comm.disconnect()
    return frames


SocketProbe = Callable[[Ids, Side], Awaitable[list[dict[str, Any]]]]
SOCKET_PROBES: dict[str, SocketProbe] = {
    "ws/agent/": agent_socket_probe,
    "ws/buyer/": buyer_socket_probe,
    "ws/monitor/": monitor_socket_probe,
    "ws/ops/": ops_socket_probe,
}


# --- coverage: every route has a probe or a reason, and every probe a route --------------------------------


def test_every_url_pattern_has_a_probe_or_a_reason() -> None:
    covered = (
        URL_PROBES.keys() | ALLOWED.keys() | {k for m in registered_admin_models() for k in admin_keys(m)}
    )
    assert [route.key for route in url_routes() if route.key not in covered] == []


def test_every_admin_model_has_a_shop_a_object_or_is_a_platform_model() -> None:
    known = WORLD_PKS.keys() | WORLD_LOOKUPS | platform_models().keys()
    assert [model._meta.label for model in registered_admin_models() if model not in known] == []


def test_every_api_operation_has_a_probe() -> None:
    assert [operation for operation in api_operations() if operation not in API_PROBES] == []


def test_every_api_url_pattern_is_an_operation_of_the_schema() -> None:
    """So that the schema's operations are all there is under /api/v1/ (its root, docs and schema aside)."""
    patterns = {
        "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route.pattern)
        for route in walk(get_resolver())
        if is_api_operation(route)
    }
    assert patterns == {path for _method, path in api_operations()}


def test_the_served_schema_is_the_one_swept(client: Client) -> None:
    served = client.get("/api/v1/openapi.json").json()
    assert sorted((m.upper(), path) for path, ops in served["paths"].items() for m in ops) == api_operations()


def test_every_socket_route_has_a_probe() -> None:
    assert [route for route in socket_routes() if route not in SOCKET_PROBES] == []


def test_no_probe_or_reason_is_left_for_a_route_that_is_gone() -> None:
    urls = {route.key for route in walk(get_resolver())}
    operations = set(api_operations())
    registered = set(registered_admin_models())
    stale: list[object] = [k for k in (*URL_PROBES, *ALLOWED) if k not in urls]
    stale += [operation for operation in API_PROBES if operation not in operations]
    stale += [route for route in SOCKET_PROBES if route not in socket_routes()]
    stale += [model._meta.label for model in (*WORLD_PKS, *WORLD_LOOKUPS) if model not in registered]
    assert stale == []


@pytest.fixture
def insider_side(shop_a: Shop, owner: StaffAccount, key_a: str, world: World) -> Side:
    return side(shop_a, owner, key_a, Buyer.objects.get(pk=world.ids.buyer))


def test_shop_a_itself_sees_what_the_sweep_looks_for(world: World, insider_side: Side) -> None:
    """The control: requests of the probes, asked by shop A, answer with the texts the sweep looks for. So
    their absence from the outsider's answers means something, and ``text_of`` reads JSON and HTML."""
    ids = world.ids
    products = "app_label=phrases&model_name=phrase&field_name=products"
    controls = [
        (get(f"/admin/backoffice/buyer/?q={fragment(NICKNAME)}"), NICKNAME),
        (get("/admin/routing/agentstate/"), AGENT_GROUP),
        (get(f"/admin/autocomplete/?{products}&term={fragment(TITLE)}"), TITLE),
        (get(f"/workbench/buyer/{ids.conversation}/"), ADDRESS),
        (get(f"/chat/{ids.shop}/?token={{buyer_token}}", who="buyer"), ids.shop_name),
        (staff("get", "/routing/queue"), WAITING_NICKNAME),
        (staff("get", conversation(ids, "/messages")), BUYER_TEXT),
        (staff("get", f"/routing/products?q={fragment(TITLE)}"), TITLE),
        (staff("get", f"/routing/proactive/buyers?q={fragment(NICKNAME)}"), NICKNAME),
        (staff("get", f"/phrases/?q={fragment(PHRASE)}"), PHRASE),
        (staff("get", "/phrases/export?format=csv&scope=team"), PHRASE_GROUP),
        (key("get", f"/orders/{ids.order_number}"), ADDRESS),
    ]
    for ask, text in controls:
        response = answer(insider_side, ask)
        assert response.status_code == 200, ask
        assert text in text_of(response), ask


# --- the probes --------------------------------------------------------------------------------------------

# What the sweep finds while it is being fixed: rule -> the finding (xfail, strict: once fixed, the entry
# passes, so fails as XPASS, and its line here goes). Empty: nothing known leaks.
KNOWN_LEAKS: dict[str, str] = {}


def url_cases() -> list[Any]:
    cases = [pytest.param(k, id=k) for k in URL_PROBES]
    for model in registered_admin_models():
        rule = f"admin:{model._meta.label}"
        reason = KNOWN_LEAKS.get(rule)
        marks = [pytest.mark.xfail(reason=reason, strict=True, raises=AssertionError)] if reason else []
        cases.append(pytest.param(rule, id=rule, marks=marks))
    return cases


@pytest.mark.parametrize("rule", url_cases())
def test_outsider_gets_nothing_of_shop_a_from_url(rule: str, world: World, outsider_side: Side) -> None:
    probe = URL_PROBES[rule] if rule in URL_PROBES else admin_model_probe(rule.removeprefix("admin:"), world)
    run_probe(probe, world, outsider_side)


@pytest.mark.parametrize("operation", sorted(API_PROBES), ids=" ".join)
def test_outsider_gets_nothing_of_shop_a_from_api(
    operation: tuple[str, str], world: World, outsider_side: Side
) -> None:
    run_probe(API_PROBES[operation], world, outsider_side)


@pytest.fixture
def layer(redis_url: str, settings: Any) -> Iterator[None]:
    use_layer(settings, "backoffice.events.ChatLayer", redis_url)
    yield
    channel_layers.backends.clear()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("route", sorted(SOCKET_PROBES))
async def test_outsider_gets_nothing_of_shop_a_from_socket(
    route: str, layer: None, world: World, outsider_side: Side
) -> None:
    before = await database_sync_to_async(shop_rows)(world.shop)
    frames = await SOCKET_PROBES[route](world.ids, outsider_side)
    text = json.dumps(frames, ensure_ascii=False)
    assert [secret for secret in world.secrets if secret in text] == []
    assert await database_sync_to_async(shop_rows)(world.shop) == before, "the outsider changed shop A's rows"
