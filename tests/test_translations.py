"""The console speaks Simplified Chinese, whole and with the right words.

Every admin page of every registered model (found from the admin site's registry, so a model added later is
covered too: list, add, change, history with a change of every field, delete confirmation, the add form sent
empty and the "delete selected" confirmation, with one object of each model), the admin index and app pages,
the sign-in and home pages, the workbench with its phrase panel and buyer panel, the team-phrase import page
and the buyer's chat page are rendered in zh-hans, as the shop's owner, an agent and (for the platform's
pages) a platform superuser, and their visible text is read: text nodes outside <script> and <style>, the
attributes a person sees or hears (title, placeholder, aria-label, alt, a button's value) and the strings the
pages hand to their scripts (the "strings" of a JSON script). Any run of two or more Latin letters there is an
untranslated English word, unless it is on ``ALLOWED`` (names of formats, brands and keys a Chinese interface
writes in Latin letters) or part of a data value the test made itself (``World.data``: it keeps its data
Chinese or numeric where the field allows, so that list stays short).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import django.contrib.admin as django_admin
import pytest
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.test import Client
from django.utils import timezone, translation
from django.utils.text import capfirst

from backoffice import services as shop_services
from backoffice.models import (
    AddressChange,
    ApiKey,
    ContactView,
    ContactViewPlace,
    Order,
    Role,
    Shop,
    StaffAccount,
)
from phrases import services as phrase_services
from robot import knowledge as robot_knowledge
from robot.models import KnowledgeEntry
from routing import config as routing_config
from routing import services as routing_services
from routing.models import AgentGroup, AgentState, RoutingSettings
from routing.tokens import buyer_token
from tests.backoffice import factories
from tests.conftest import PASSWORD, login_client, make_shop
from tests.robot.world import robot_reception_objects

# Latin-letter words a Chinese interface writes as they are. Keep it short: every entry says why.
ALLOWED = {
    # names of formats, protocols and products (the file types of the phrase import, the sign-in records)
    "API", "ID", "IM", "IP", "CSV", "xlsx", "Excel", "GET", "POST", "SHA", "LDAP", "Mac",
    # the image formats a chat or a phrase takes (the upload's hint and its refusal)
    "JPEG", "PNG", "GIF", "WebP",
    # keys of the keyboard, as printed on them (the workbench's help, Django's multiple-choice hint)
    "Enter", "Shift", "Alt", "Esc", "Tab", "Control", "Command",
    # the demo picker is for development only (DEBUG), and says so
    "DEBUG",
    # units of size, written so in Chinese interfaces too (the image upload's limit: 10 MB)
    "MB", "KB",
    # the unsubscribe keyword buyers reply (退订 or TD), quoted by the follow-up settings page
    "TD",
}  # fmt: skip  # one group a line reads better than one word a line

WORD = re.compile(r"[A-Za-z]{2,}")
# The placeholders of a string handed to a script, filled in there: "%(name)s", "{name}".
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w+\}")
SEEN_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt"}
BUTTONS = {"submit", "button", "reset"}
# Django's icons (yes/no, the search field's magnifier) have their alt text in English whatever the language.
DJANGO_ICONS = {"True", "False", "None", "Search"}
# Not yet in Chinese, and not ours to word: Celery beat's pages (platform superusers only) describe schedules
# through cron-descriptor in English and list the time zones by their IANA names. Listed here so that the
# sweep still covers every other registered model; remove the app once its pages are translated.
UNFINISHED_APPS = {"django_celery_beat"}


class VisibleText(HTMLParser):
    """The text a person sees or hears on a page (see the module's docstring)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip: list[str] = []  # the open elements whose text is not read
        self._json: list[str] | None = None  # the text of an open JSON script

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        # Not read: scripts and styles, and values (a <textarea>'s text, as an <input>'s value; Django's <bdi>
        # isolate of a value, such as a password's hash) are data, not labels.
        if tag in ("script", "style", "textarea", "bdi"):
            self._skip.append(tag)
            self._json = [] if tag == "script" and values.get("type") == "application/json" else None
        for name in SEEN_ATTRIBUTES:
            if values.get(name) and not (tag == "img" and values[name] in DJANGO_ICONS):
                self.parts.append(str(values[name]))
        if tag == "input" and values.get("type") in BUTTONS and values.get("value"):
            self.parts.append(str(values["value"]))

    def handle_endtag(self, tag: str) -> None:
        if self._skip and tag == self._skip[-1]:
            self._skip.pop()
            if self._json is not None:
                self.parts.extend(script_strings(json.loads("".join(self._json))))
                self._json = None

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)
        elif self._json is not None:
            self._json.append(data)


def script_strings(data: Any) -> list[str]:
    """The texts a page hands to its script: the values under every "strings" key of its JSON."""
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "strings" and isinstance(value, dict):
                found += [str(text) for text in value.values()]
            else:
                found += script_strings(value)
    elif isinstance(data, list):
        for item in data:
            found += script_strings(item)
    return found


def english_words(html: str, data: tuple[str, ...]) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    text = PLACEHOLDER.sub(" ", "\n".join(parser.parts))
    for value in sorted(data, key=len, reverse=True):  # the longest first: a value may hold a shorter one
        text = text.replace(value, " ")
    return sorted({word for word in WORD.findall(text) if word not in ALLOWED})


# --- the world: one object of each kind, in Chinese --------------------------------------------------------


@dataclass
class World:
    shop: Shop
    owner: StaffAccount
    agent: StaffAccount
    superuser: Any
    objects: dict[type[models.Model], models.Model]
    chat_url: str
    buyer_panel_url: str
    data: tuple[str, ...] = field(default=())


def platform_objects(owner: StaffAccount) -> dict[type[models.Model], models.Model]:
    """One object of each of the platform's models (logins, role groups, sign-in records, Celery beat)."""
    from axes import models as axes  # type: ignore[import-untyped]  # ships no types
    from django_celery_beat import models as beat

    record = {"username": owner.user.username, "ip_address": "10.0.0.1", "user_agent": "", "path_info": "/"}
    interval = beat.IntervalSchedule.objects.create(every=7, period=beat.IntervalSchedule.MINUTES)
    return {
        get_user_model(): owner.user,
        Group: Group.objects.get(name=Role.AGENT),
        axes.AccessAttempt: axes.AccessAttempt.objects.create(**record, failures_since_start=1),
        axes.AccessFailureLog: axes.AccessFailureLog.objects.create(**record),
        axes.AccessLog: axes.AccessLog.objects.create(**record),
        beat.IntervalSchedule: interval,
        beat.CrontabSchedule: beat.CrontabSchedule.objects.create(minute="7"),
        beat.SolarSchedule: beat.SolarSchedule.objects.create(event="sunrise", latitude=30, longitude=120),
        beat.ClockedSchedule: beat.ClockedSchedule.objects.create(clocked_time=timezone.now()),
        beat.PeriodicTask: beat.PeriodicTask.objects.create(name="每日清理", task="清理", interval=interval),
    }


def shop_operations(shop: Shop, order: Order) -> dict[type[models.Model], models.Model]:
    """One of each shop-operations record: a late order's voucher, a package record, a ticket, an
    after-sale request."""
    from backoffice import tasks
    from backoffice.models import AfterSaleRequest, LateShipment, PackageAlert, ServiceRequest
    from backoffice.operations import aftersale, service_requests

    now = timezone.now()
    late = factories.order(shop, "3002", "1001", ship_by=now - timedelta(hours=1))
    factories.order(shop, "3003", "1001", status="shipped", shipped_at=now - timedelta(hours=13))
    tasks.late_shipments()
    tasks.package_alerts()
    service_requests.receive_service_requests(
        shop=shop,
        records=[{"number": "4001", "category": "urgent", "subject": "买家催发货", "received_at": now}],
    )
    import tempfile

    from django.test import override_settings

    from backoffice.models import DelayReport, StaffAccount
    from backoffice.operations import delays
    from tests.routing.images import image_bytes

    with override_settings(MEDIA_ROOT=tempfile.mkdtemp(prefix="ops-evidence-")):  # not var/media
        report = delays.report_delay(
            actor=StaffAccount.objects.get(shop=shop, role="owner"),
            reason="weather",
            note="暴雨停发",
            order_numbers=["3002"],
            # ".PNG": the admin's delete confirmation lists the file by its name, and "png" is no Chinese.
            files=[delays.Upload(name="证明.PNG", data=image_bytes("PNG", (20, 20)))],
        )
    return {
        DelayReport: report,
        LateShipment: LateShipment.objects.get(order=late),
        PackageAlert: PackageAlert.objects.get(order__number="3003"),
        ServiceRequest: ServiceRequest.objects.get(shop=shop, number="4001"),
        AfterSaleRequest: aftersale.create_request(
            shop=shop, order=order, kind="refund_only", reason="quality"
        ),
    }


@pytest.fixture
def world(db: Any) -> World:
    shop = make_shop("小鹿家居旗舰店", "林晓鹿", "店主林晓鹿")
    owner = StaffAccount.objects.get(shop=shop, role=Role.OWNER)
    agent = factories.staff(shop, "客服小美", "售前小美")
    superuser = get_user_model().objects.create_superuser("平台管理员", "", PASSWORD)
    routing_services.set_agent_status(staff=owner, status="offline")
    group = routing_config.save_group(actor=owner, group=AgentGroup(shop=shop, name="售前组"))
    routing_services.configure_agent(staff=agent, group=group)
    routing_services.set_agent_status(staff=agent, status="online")

    buyer = factories.buyer(shop, "1001", "买家小王", tags={"会员等级": "金卡"})
    product = factories.product(shop, "2001", "北欧风陶瓷马克杯")
    order = factories.order(shop, "3001", "1001")
    now = timezone.now()
    shipped = {"status": "shipped", "shipped_at": now, "carrier": "中通快递", "tracking_number": "7312345678"}
    record = factories.order_record("3001", "1001", address="浙江省杭州市西湖区文二路2号", **shipped)
    shop_services.upsert_orders(shop=shop, records=[record])  # a new address: an address change
    conversation, _decision = routing_services.request_human(buyer=buyer, source_product=product)
    routing_services.post_buyer_message(buyer=buyer, text="今天能发货吗")
    conversation.refresh_from_db()
    routing_services.post_agent_message(agent=agent, conversation=conversation, text="亲，今天发")

    phrase_group = phrase_services.create_group(actor=owner, scope="team", name="物流问题")
    phrase = phrase_services.create_phrase(
        actor=owner,
        scope="team",
        content="亲，已为您催发货",
        code="101",
        group=phrase_group,
        products=[product],
    )
    phrase_services.create_phrase(actor=agent, scope="personal", content="小美在的")
    shop_services.record_contact_views(
        user=owner.user,
        staff=owner,
        orders=[Order.objects.get(pk=order.pk)],
        place=ContactViewPlace.ADMIN_FORM,
    )
    api_key = shop_services.create_api_key(shop=shop, name="对接密钥", created_by=owner.user)[0]
    ops = shop_operations(shop, order)
    objects: dict[type[models.Model], models.Model] = {
        Shop: shop,
        StaffAccount: agent,
        type(buyer): buyer,
        type(product): product,
        Order: order,
        ApiKey: api_key,
        ContactView: ContactView.objects.get(order=order),
        AgentGroup: group,
        AgentState: AgentState.objects.get(staff=agent),
        RoutingSettings: routing_services.routing_settings(shop),
        type(phrase): phrase,
        type(phrase_group): phrase_group,
        **robot_reception_objects(shop, conversation),
        KnowledgeEntry: robot_knowledge.create_entry(
            actor=owner, question="支持花呗分期吗", answer="支持花呗分期付款", intent="coupon"
        ),
        **platform_objects(owner),
        **ops,
    }
    assert AddressChange.objects.filter(order=order).exists()
    for model, obj in objects.items():
        if model._meta.app_label not in UNFINISHED_APPS:
            logged_change(obj, superuser)
    chat_url = f"/chat/{shop.pk}/?token={buyer_token(buyer)}"
    # Data in Latin letters: the API key's random prefix, the role groups' names (the role codes the rights
    # are looked up by) and the sign-in records' names (django-axes words them in English, untranslated); the
    # template library's phrase codes, which the after-sale guide names ("/sh12": what the agent types).
    from phrases.library import TEMPLATES

    data = (
        *(f"/{template.code}" for template in TEMPLATES),
        *ApiKey.objects.values_list("prefix", flat=True),
        *Group.objects.values_list("name", flat=True),
        *(str(obj) for model, obj in objects.items() if model._meta.app_label == "axes"),
    )
    buyer_panel_url = f"/workbench/buyer/{conversation.pk}/"
    return World(shop, owner, agent, superuser, objects, chat_url, buyer_panel_url, data)


def logged_change(obj: models.Model, user: Any) -> None:
    """A history entry saying every field a form can change changed, stored as the admin stores one (Django's
    ``construct_change_message``: each field by its form label, in English: the capitalized verbose name)."""
    fields = [f for f in (*obj._meta.fields, *obj._meta.many_to_many) if f.editable and not f.auto_created]
    with translation.override(None):
        labels = [capfirst(str(f.verbose_name)) for f in fields]
    LogEntry.objects.log_actions(
        user_id=user.pk,
        queryset=[obj],
        action_flag=CHANGE,
        change_message=json.dumps([{"changed": {"fields": labels}}]),
        single_object=True,
    )


# --- the pages ---------------------------------------------------------------------------------------------


def admin_pages(world: World) -> Iterator[tuple[str, dict[str, Any] | None, type[models.Model]]]:
    """Every admin page of every registered model: the path, the form posted (None: a GET) and the model. The
    pages a form leads to as well: the add form sent empty (its errors) and the "delete selected" action's
    confirmation."""
    for model in sorted(admin.site._registry, key=lambda m: m._meta.label):
        if model._meta.app_label in UNFINISHED_APPS:
            continue
        assert model in world.objects, (
            f"{model._meta.label} is new in the admin: give world() one object of it"
        )
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        pk = world.objects[model].pk
        yield base, None, model
        yield f"{base}add/", None, model
        for view in ("change", "history", "delete"):
            yield f"{base}{pk}/{view}/", None, model
        yield f"{base}add/", {}, model
        yield base, {"action": "delete_selected", "_selected_action": [pk]}, model


def clients(world: World, model: type[models.Model] | None) -> list[tuple[str, Client]]:
    """Who looks: the owner for the shop's pages, the platform superuser for the platform's (and for the
    shop's, which show it more: every shop's rows, the shop filter)."""
    superuser = ("superuser", login_client(world.superuser))
    shop_page = model is None or getattr(admin.site._registry[model], "shop_scoped", False)
    return [("owner", login_client(world.owner)), superuser] if shop_page else [superuser]


def findings(client: Client, path: str, form: dict[str, Any] | None, world: World) -> tuple[int, list[str]]:
    # A list that is one object's page (the routing settings) redirects to it: read where it leads.
    response = client.get(path, follow=True) if form is None else client.post(path, form)
    if response.status_code != 200:
        return response.status_code, []
    return 200, english_words(response.content.decode(), world.data)


def test_every_admin_page_is_in_chinese(world: World) -> None:
    untranslated: dict[str, list[str]] = {}
    shown: set[str] = set()
    for path, form, model in admin_pages(world):
        for who, client in clients(world, model):
            status, words = findings(client, path, form, world)
            if status == 200 and form is None:
                shown.add(path)
            if words:
                untranslated[f"{'POST ' if form is not None else ''}{path} ({who})"] = words
    assert not untranslated, "English on the zh-hans admin:\n" + "\n".join(
        f"{page}: {' '.join(words)}" for page, words in untranslated.items()
    )
    # Every model's list and object page was rendered (a page refused to everyone is no page anyone sees).
    for model in admin.site._registry:
        if model._meta.app_label in UNFINISHED_APPS:
            continue
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        assert {base, f"{base}{world.objects[model].pk}/change/"} <= shown, model


def other_pages(client: Client) -> list[str]:
    """The admin's index and the page of each app it lists to the account, and the console's own pages."""
    listed = client.get("/admin/").context["app_list"]
    labels = sorted({app["app_label"] for app in listed} - UNFINISHED_APPS)
    return [
        "/",
        "/admin/",
        *(f"/admin/{label}/" for label in labels),
        "/admin/password_change/",
        "/admin/password_change/done/",
        "/admin/phrases/phrase/import/",
        "/admin/robot/knowledgeentry/import/",
        # buyer self-service's settings pages (robot)
        "/self-service/faq/",
        "/self-service/cards/",
        "/self-service/window/",
        "/self-service/follow-up/",
        "/workbench/",
    ]


def test_the_console_pages_are_in_chinese(world: World, settings: Any) -> None:
    settings.DEMO_BUYER_PICKER = True
    owner, superuser = login_client(world.owner), login_client(world.superuser)
    untranslated: dict[str, list[str]] = {}
    pages = [
        *((path, "owner", owner) for path in other_pages(owner)),
        *((path, "superuser", superuser) for path in other_pages(superuser)[:-7]),  # no staff account
        ("/workbench/", "agent", login_client(world.agent)),
        (world.buyer_panel_url, "agent", login_client(world.agent)),
        (
            "/workbench/",
            "no IM",
            login_client(factories.staff(world.shop, "运营小李", "运营小李", Role.OPERATIONS, im=False)),
        ),
        (f"/chat/{world.shop.pk}/demo/", "owner", login_client(world.owner)),
        ("/admin/login/", "anonymous", Client()),
        (world.chat_url, "buyer", Client()),
        (f"/chat/{world.shop.pk}/?token=expired", "buyer", Client()),
    ]
    refused = {
        ("/workbench/", "no IM"),
        (f"/chat/{world.shop.pk}/?token=expired", "buyer"),
    }  # their own pages
    for path, who, client in pages:
        response = client.get(path)
        assert response.status_code == (403 if (path, who) in refused else 200), (path, who)
        if words := english_words(response.content.decode(), world.data):
            untranslated[f"{path} ({who})"] = words
    assert not untranslated, "English on zh-hans pages:\n" + "\n".join(
        f"{page}: {' '.join(words)}" for page, words in untranslated.items()
    )


# --- the right word, and the language by default ---------------------------------------------------------


def text_of(response: Any) -> str:
    parser = VisibleText()
    parser.feed(response.content.decode())
    return " ".join(parser.parts)


def test_status_of_an_agent_and_of_an_order_read_differently(world: World) -> None:
    """One msgid "status" served both: the agents' list read 订单状态 (order status)."""
    owner = login_client(world.owner)
    agents = text_of(owner.get("/admin/routing/agentstate/"))
    assert "在线状态" in agents and "订单状态" not in agents
    orders = text_of(owner.get("/admin/backoffice/order/"))
    assert "订单状态" in orders and "在线状态" not in orders


def test_delivered_of_a_message_and_of_an_order_read_differently(world: World) -> None:
    """One msgid "Delivered" served both: a chat message the server took read 已签收 (parcel signed for)."""
    page = login_client(world.agent).get("/workbench/")
    strings = page.context["initial"]["strings"]
    assert strings["acked"] == "已送达"
    Order.objects.filter(pk=world.objects[Order].pk).update(status="delivered")
    assert "已签收" in text_of(login_client(world.owner).get("/admin/backoffice/order/"))


def test_the_rights_checkboxes_are_in_chinese(world: World) -> None:
    """The permission names are stored in English; the staff form and a role group's form say them in
    Chinese, from the models' own (translated) texts."""
    staff_form = text_of(
        login_client(world.owner).get(f"/admin/backoffice/staffaccount/{world.agent.pk}/change/")
    )
    assert "可配置机器人" in staff_form and "可管理团队短语" in staff_form
    assert "Can " not in staff_form
    group = Group.objects.get(name=Role.AGENT)
    group_form = text_of(login_client(world.superuser).get(f"/admin/auth/group/{group.pk}/change/"))
    assert "店铺 | 买家 | 可查看买家" in group_form and "客服 | 客服分组 | 可修改客服分组" not in group_form
    assert "Can " not in group_form


def changed_in_admin(client: Client, path: str, form: dict[str, Any]) -> str:
    """POST an admin change form; the success message the next page shows."""
    response = client.post(path, form, follow=True)
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert len(messages) == 1, (messages, response.context.get("errors"))
    return messages[0]


def test_success_and_history_messages_are_in_chinese(world: World) -> None:
    """After a change in the admin: the success message names the model and the object in Chinese ("routing
    settings of 小鹿家居旗舰店" was English) and the history names the changed fields in Chinese (Django
    stores their English labels, and looked "Weight" up where the catalog has "weight")."""
    owner = login_client(world.owner)
    state = world.objects[AgentState]
    other = routing_config.save_group(actor=world.owner, group=AgentGroup(shop=world.shop, name="售后组"))
    base = f"/admin/routing/agentstate/{state.pk}/"
    message = changed_in_admin(owner, f"{base}change/", {"group": other.pk, "weight": 3, "routing": "on"})
    assert re.sub(r"<[^>]+>", "", message) == "成功修改了 客服状态“售前小美 在线 1/10”。", message
    history = text_of(owner.get(f"{base}history/"))
    assert "已修改客服分组 和 权重。" in history, history

    settings_path = f"/admin/routing/routingsettings/{world.objects[RoutingSettings].pk}/change/"
    form = {"queue_order": "fifo", "offline_mode": "queue", "pool_holder": "", "no_queue": "on"}
    message = changed_in_admin(owner, settings_path, {**form, "owner_routes_in_simple_mode": "on"})
    assert "小鹿家居旗舰店的分流设置" in message and not english_words(message, ()), message


def test_the_console_is_chinese_whatever_the_browser_asks_until_the_person_chooses(world: World) -> None:
    """An English-language browser got an English back office (LocaleMiddleware follows Accept-Language):
    the console speaks Chinese until the person picks another language in the header's menu."""
    english_browser = {"Accept-Language": "en-US,en;q=0.9"}
    assert "登录" in text_of(Client().get("/admin/login/", headers=english_browser))
    owner = login_client(world.owner)
    assert "店铺设置" in text_of(owner.get("/admin/", headers=english_browser))
    owner.post("/i18n/setlang/", {"language": "en", "next": "/admin/"})
    assert "Shop settings" in text_of(owner.get("/admin/", headers=english_browser))
    assert "Shop settings" in text_of(owner.get("/admin/", headers={"Accept-Language": "zh-CN"}))


def test_the_import_page_names_the_columns_of_its_row_errors_in_chinese(world: World) -> None:
    """The table of bad rows showed the file's column keys ("code")."""
    rows = "分组,编码,内容,关键词\n物流问题,1 2,编码错误,\n"
    upload = SimpleUploadedFile("短语.csv", rows.encode(), content_type="text/csv")
    page = login_client(world.owner).post("/admin/phrases/phrase/import/", {"file": upload})
    assert [(e["row"], str(e["field"])) for e in page.context["row_errors"]] == [(2, "编码")]
    assert english_words(page.content.decode(), ("1 2",)) == []


def test_the_new_api_key_page_is_in_chinese(world: World) -> None:
    page = login_client(world.owner).post("/admin/backoffice/apikey/add/", {"name": "新的对接"})
    assert page.status_code == 200
    key = page.context["key"]
    assert english_words(page.content.decode(), (page.context["raw_key"], key.prefix)) == []


ADMIN_SCRIPTS = Path(django_admin.__file__).parent / "static" / "admin" / "js"
SCRIPT_GETTEXT = re.compile(r"""\b(?:gettext|ngettext)\(\s*(['"])(.*?)(?<!\\)\1""")


def test_the_admin_scripts_speak_chinese(world: World) -> None:
    """The admin's own scripts (the two-box product picker of a group's scope, the calendar) take their words
    from the JavaScript catalog: every word they ask for has its Chinese there (Django's zh_Hans catalog lacks
    its newest ones; backoffice/third_party_locale adds them)."""
    body = login_client(world.owner).get("/admin/jsi18n/").content.decode()
    catalog = json.loads(re.search(r"const newcatalog = (\{.*?\});", body, re.S).group(1))  # type: ignore[union-attr]
    asked = set()
    for script in ADMIN_SCRIPTS.glob("*.js"):
        for match in SCRIPT_GETTEXT.finditer(script.read_text()):
            asked.add(match.group(2).replace('\\"', '"').replace("\\'", "'"))
    assert 'Choose %s by selecting them and then select the "Choose" arrow button.' in asked  # the scan works
    assert sorted(asked - catalog.keys()) == []
