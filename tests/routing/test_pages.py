"""The live-chat pages with the Django test client: the workbench (login, IM permission, 50 chats in a bounded
number of queries, escaping), the buyer panel (shop scope), the buyer chat page (token checks) and the demo
buyer picker (DEBUG only); and the routing API endpoints the pages added (sessions, transcript, rating
invitation, colleagues, product search), each with its outsider test."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.utils import timezone

from backoffice import services as backoffice_services
from backoffice.models import Buyer, Role, Shop, StaffAccount
from routing import services
from routing.models import Conversation, ConversationState, Transfer
from routing.panels import Panel, panel_functions
from routing.tokens import buyer_from_token, buyer_token
from tests.backoffice import factories
from tests.conftest import PASSWORD, login_client

API = "/api/v1/routing/"
SCRIPT = "<script>alert(1)</script>"


def online(*accounts: StaffAccount) -> None:
    for account in accounts:
        services.set_agent_status(staff=account, status="online")


def chat(shop: Shop, platform_id: str = "b1", nickname: str = "") -> Conversation:
    buyer = factories.buyer(shop, platform_id, nickname or f"买家{platform_id}")
    conv, _decision = services.request_human(buyer=buyer)
    conv.refresh_from_db()
    return conv


def initial(response: Any) -> dict[str, Any]:
    """The page's JSON (json_script) as the scripts read it."""
    match = re.search(
        r'<script id="wb-initial" type="application/json">(.*?)</script>', response.content.decode()
    )
    assert match, "the workbench has no initial JSON"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


@pytest.fixture
def teammate_chat(shop_a: Shop, owner: StaffAccount, teammate: StaffAccount) -> Conversation:
    """An active chat routed to the teammate (the only online agent)."""
    services.set_agent_status(staff=owner, status="offline")
    online(teammate)
    conv = chat(shop_a)
    assert conv.state == ConversationState.ACTIVE and conv.agent_id == teammate.pk
    return conv


# --- the workbench -----------------------------------------------------------------------------------------


def test_workbench_requires_login(client: Client, db: Any) -> None:
    response = client.get("/workbench/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_workbench_is_403_without_im_permission(shop_a: Shop) -> None:
    operations = factories.staff(shop_a, "ops_a", "运营-阿杰", role=Role.OPERATIONS, im=False)
    response = login_client(operations).get("/workbench/")
    assert response.status_code == 403
    assert "IM" in response.content.decode()


def test_workbench_is_403_without_a_staff_account(superuser: Any) -> None:
    assert login_client(superuser).get("/workbench/").status_code == 403


def test_workbench_is_403_when_the_current_shops_account_has_no_im(
    shop_a: Shop, shop_b: Shop, teammate: StaffAccount
) -> None:
    """The same person works for shop B too; with shop B current and no IM there, the workbench refuses."""
    backoffice_services.create_staff_account(
        shop=shop_b,
        login=teammate.user.username,
        password=PASSWORD,
        display_name="外包",
        role=Role.AGENT,
        im_enabled=False,
    )
    client = login_client(teammate)
    assert client.get("/workbench/").status_code == 200
    assert client.post("/switch-shop/", {"shop": shop_b.pk}).status_code == 302
    assert client.get("/workbench/").status_code == 403


def test_workbench_shows_my_chats_with_unread_count_and_reply_timer(
    teammate_client: Client, teammate: StaffAccount, teammate_chat: Conversation
) -> None:
    buyer = teammate_chat.buyer
    services.post_buyer_message(buyer=buyer, text="在吗", client_msg_id="b-1")
    services.post_agent_message(agent=teammate, conversation=teammate_chat, text="在的", client_msg_id="a-1")
    services.post_buyer_message(buyer=buyer, text="什么时候发货？", client_msg_id="b-2")
    services.post_buyer_message(buyer=buyer, text="急用", client_msg_id="b-3")

    response = teammate_client.get("/workbench/")
    assert response.status_code == 200
    page = response.content.decode()
    assert f'data-id="{teammate_chat.pk}"' in page
    assert "急用" in page  # the last message as the row's preview
    data = initial(response)
    [row] = data["sessions"]
    assert row["id"] == teammate_chat.pk
    assert row["unread"] == 2  # the buyer's messages after the agent's last reply
    assert row["last_seq"] == 4
    assert row["waiting_since"] is not None
    assert data["me"]["staff_id"] == teammate.pk and data["me"]["status"] == "online"
    assert data["history"] == []


def test_workbench_has_the_phrase_panel_and_links_the_admin_for_team_phrase_managers(
    teammate_client: Client, shop_a: Shop
) -> None:
    response = teammate_client.get("/workbench/")
    page = response.content.decode()
    assert 'id="phrase-panel"' in page and 'id="suggest-list"' in page
    assert {"name": "phrases", "data": {"api": "/api/v1/phrases/", "manage_team": False}} in initial(
        response
    )["panels"]
    assert 'id="phrase-admin"' not in page  # an agent cannot change team phrases

    supervisor = factories.staff(shop_a, "sup_a", "主管-老周", role=Role.CS_SUPERVISOR)
    page = login_client(supervisor).get("/workbench/").content.decode()
    assert 'id="phrase-admin"' in page and 'href="/admin/phrases/phrase/"' in page


def test_workbench_has_the_personal_phrase_form_and_its_strings(teammate_client: Client) -> None:
    response = teammate_client.get("/workbench/")
    page = response.content.decode()
    for element in ("phrase-new", "phrase-form", "phrase-content", "phrase-code", "phrase-keywords"):
        assert f'id="{element}"' in page
    assert 'id="phrase-content" rows="3" maxlength="1000"' in page
    strings = initial(response)["strings"]
    for key in ("phrase_new_title", "phrase_edit_title", "phrase_no_group", "phrase_edit", "phrase_delete"):
        assert strings[key]
    assert "%(content)s" in strings["phrase_delete_confirm"]


def test_workbench_lists_ended_chats_of_the_last_72_hours_as_history(
    teammate_client: Client, teammate: StaffAccount, teammate_chat: Conversation, shop_a: Shop
) -> None:
    services.end_conversation(conversation=teammate_chat, reason="agent", by=teammate)
    old = chat(shop_a, "b2")
    services.end_conversation(conversation=old, reason="agent", by=teammate)
    Conversation.objects.filter(pk=old.pk).update(ended_at=timezone.now() - timedelta(hours=73))

    data = initial(teammate_client.get("/workbench/"))
    assert data["sessions"] == []
    assert [row["id"] for row in data["history"]] == [teammate_chat.pk]
    assert data["history"][0]["repliable_until"] is not None


def test_a_chat_i_served_and_transferred_away_is_in_my_history_read_only(
    teammate_client: Client,
    teammate: StaffAccount,
    colleague: StaffAccount,
    teammate_chat: Conversation,
    shop_a: Shop,
) -> None:
    """Issue 14: the history listed only chats that ended with me, so a chat I served and handed on was
    gone from the workbench. It is listed (the colleague's now, so read only: ``agent_id`` is theirs),
    newest first with my ended chats; once it comes back to me it is a session again."""
    ended = chat(shop_a, "b2")  # the teammate's too: the only online agent
    online(colleague)
    services.transfer(conversation=teammate_chat, to_agent=colleague, by=teammate, note="")
    services.end_conversation(conversation=ended, reason="agent", by=teammate)

    data = initial(teammate_client.get("/workbench/"))
    assert data["sessions"] == []
    rows = {row["id"]: row for row in data["history"]}
    assert [row["id"] for row in data["history"]] == [ended.pk, teammate_chat.pk]
    assert rows[teammate_chat.pk]["agent_id"] == colleague.pk
    assert rows[teammate_chat.pk]["agent_name"] == colleague.display_name
    assert rows[teammate_chat.pk]["state"] == "active"
    assert rows[ended.pk]["agent_id"] == teammate.pk
    history = get(teammate_client, "conversations?scope=history").json()
    assert [row["id"] for row in history] == [ended.pk, teammate_chat.pk]

    services.transfer(conversation=teammate_chat, to_agent=teammate, by=colleague, note="")
    data = initial(teammate_client.get("/workbench/"))
    assert [row["id"] for row in data["sessions"]] == [teammate_chat.pk]
    assert [row["id"] for row in data["history"]] == [ended.pk]


def test_a_chat_transferred_away_more_than_72_hours_ago_is_not_history(
    teammate_client: Client, teammate: StaffAccount, colleague: StaffAccount, teammate_chat: Conversation
) -> None:
    online(colleague)
    services.transfer(conversation=teammate_chat, to_agent=colleague, by=teammate, note="")
    long_ago = timezone.now() - timedelta(hours=73)
    Transfer.objects.filter(conversation=teammate_chat).update(created_at=long_ago)
    assert initial(teammate_client.get("/workbench/"))["history"] == []


def test_workbench_with_50_chats_renders_in_a_bounded_number_of_queries(
    shop_a: Shop, owner: StaffAccount, teammate: StaffAccount, django_assert_max_num_queries: Any
) -> None:
    services.set_agent_status(staff=owner, status="offline")
    StaffAccount.objects.filter(pk=teammate.pk).update(max_concurrent=50)
    online(teammate)
    convs = [chat(shop_a, f"b{i}") for i in range(50)]
    assert {c.agent_id for c in convs} == {teammate.pk}
    for conv in convs[:10]:
        services.post_buyer_message(buyer=conv.buyer, text="你好", client_msg_id=f"m{conv.pk}")
    factories.order(shop_a, "O-1", "b1")
    client = login_client(teammate)

    with django_assert_max_num_queries(15):
        response = client.get("/workbench/")
    assert response.status_code == 200
    data = initial(response)
    assert len(data["sessions"]) == 50
    assert sum(row["unread"] for row in data["sessions"]) == 10
    assert response.content.decode().count('class="session"') == 50 + 1  # the rows and the row template


def test_workbench_shows_a_buyer_message_with_script_as_text(
    teammate_client: Client, teammate_chat: Conversation
) -> None:
    Buyer.objects.filter(pk=teammate_chat.buyer_id).update(nickname=SCRIPT)
    services.post_buyer_message(buyer=teammate_chat.buyer, text=SCRIPT, client_msg_id="x")
    page = teammate_client.get("/workbench/").content.decode()
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # row name and preview, escaped
    data = initial(teammate_client.get("/workbench/"))
    assert data["sessions"][0]["last_text"] == SCRIPT  # JSON for textContent, not markup


# --- the buyer panel ---------------------------------------------------------------------------------------


def test_buyer_panel_shows_every_order_newest_first_with_items_amounts_and_address_changes(
    teammate_client: Client, teammate_chat: Conversation, shop_a: Shop, shop_b: Shop
) -> None:
    now = timezone.now()
    factories.order(shop_a, "O-OLD", "b1", created_at=now - timedelta(days=20), status="completed")
    factories.order(
        shop_a,
        "O-NEW",
        "b1",
        created_at=now - timedelta(hours=2),
        carrier="顺丰速运",
        tracking_number="SF123",
    )
    # The same order pushed again with another address: an address change.
    factories.order(
        shop_a, "O-NEW", "b1", created_at=now - timedelta(hours=2), address="上海市浦东新区世纪大道100号"
    )
    factories.order(shop_b, "O-B", "b1")  # the same platform id in shop B: not this buyer's shop

    response = teammate_client.get(f"/workbench/buyer/{teammate_chat.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert page.index("O-NEW") < page.index("O-OLD")
    assert "O-B" not in page
    assert "北欧风陶瓷马克杯" in page and "79.80" in page
    # the current address and its change history (receiver, phone, address), masked for an agent
    # (backoffice/privacy.py; tests/backoffice/test_privacy.py has the full view)
    assert "上海市浦东新区****" in page and "世纪大道" not in page
    assert "王小明 138****0000 浙江省杭州市西湖区**** → 王小明 138****0000 上海市浦东新区****" in page


def test_buyer_panel_shows_the_product_the_buyer_came_from(
    teammate_client: Client, teammate_chat: Conversation, shop_a: Shop
) -> None:
    product = factories.product(shop_a, "p9", "记忆棉慢回弹枕头")
    Conversation.objects.filter(pk=teammate_chat.pk).update(source_product=product)
    page = teammate_client.get(f"/workbench/buyer/{teammate_chat.pk}/").content.decode()
    assert "记忆棉慢回弹枕头" in page
    assert f'data-product="{product.pk}"' in page  # the workbench ranks this product's phrases first


def test_outsider_gets_404_for_the_buyer_panel_of_a_shop_a_chat(
    outsider_client: Client, teammate_chat: Conversation
) -> None:
    assert outsider_client.get(f"/workbench/buyer/{teammate_chat.pk}/").status_code == 404


def test_buyer_panel_needs_the_im_permission(shop_a: Shop, teammate_chat: Conversation) -> None:
    operations = factories.staff(shop_a, "ops_a", "运营-阿杰", role=Role.OPERATIONS, im=False)
    assert login_client(operations).get(f"/workbench/buyer/{teammate_chat.pk}/").status_code == 403


def test_buyer_panel_escapes_buyer_data(teammate_client: Client, teammate_chat: Conversation) -> None:
    Buyer.objects.filter(pk=teammate_chat.buyer_id).update(nickname=SCRIPT)
    page = teammate_client.get(f"/workbench/buyer/{teammate_chat.pk}/").content.decode()
    assert SCRIPT not in page and "&lt;script&gt;" in page


# --- the buyer chat page -----------------------------------------------------------------------------------


def test_buyer_page_opens_with_a_valid_token(client: Client, shop_a: Shop) -> None:
    buyer = factories.buyer(shop_a, "b1", "爱吃草莓的小熊")
    token = buyer_token(buyer)
    response = client.get(f"/chat/{shop_a.pk}/", {"token": token})
    assert response.status_code == 200
    page = response.content.decode()
    assert shop_a.name in page
    assert json.dumps(token) in page  # handed to the script for /ws/buyer/?token=
    assert 'name="referrer" content="no-referrer"' in page  # the token stays out of Referer headers


@pytest.mark.parametrize("token", ["", "not-a-token", "eyJzaG9wIjoxfQ:1abc:bad"])
def test_buyer_page_with_a_bad_token_says_the_link_expired(client: Client, shop_a: Shop, token: str) -> None:
    response = client.get(f"/chat/{shop_a.pk}/", {"token": token} if token else {})
    assert response.status_code == 403
    assert 'id="expired"' in response.content.decode()


def test_buyer_page_with_an_expired_token_is_403(client: Client, shop_a: Shop, settings: Any) -> None:
    token = buyer_token(factories.buyer(shop_a, "b1"))
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.BUYER_TOKEN_MAX_AGE + 60)):
        response = client.get(f"/chat/{shop_a.pk}/", {"token": token})
    assert response.status_code == 403
    assert 'id="expired"' in response.content.decode()


def test_buyer_page_refuses_a_token_of_another_shop(client: Client, shop_a: Shop, shop_b: Shop) -> None:
    token = buyer_token(factories.buyer(shop_b, "b1"))
    assert client.get(f"/chat/{shop_a.pk}/", {"token": token}).status_code == 403
    assert client.get(f"/chat/{shop_b.pk}/", {"token": token}).status_code == 200


def test_buyer_page_escapes_the_buyer_and_shop_names(client: Client, shop_a: Shop) -> None:
    Shop.objects.filter(pk=shop_a.pk).update(name=SCRIPT)
    token = buyer_token(factories.buyer(shop_a, "b1", SCRIPT))
    page = client.get(f"/chat/{shop_a.pk}/", {"token": token}).content.decode()
    assert SCRIPT not in page and "&lt;script&gt;" in page


def test_demo_picker_is_404_unless_the_demo_turned_it_on(owner: StaffAccount, settings: Any) -> None:
    settings.DEMO_BUYER_PICKER = False
    settings.DEBUG = True  # development settings alone do not hand out buyer tokens
    factories.buyer(owner.shop, "b1")
    assert login_client(owner).get(f"/chat/{owner.shop_id}/demo/").status_code == 404


def test_demo_picker_hands_out_no_tokens_to_anyone_but_the_shops_staff(
    client: Client, owner: StaffAccount, shop_b: Shop, settings: Any
) -> None:
    """Before: any visitor got a token for any buyer of any shop (the picker is a shop's own demo tool)."""
    settings.DEMO_BUYER_PICKER = True
    factories.buyer(owner.shop, "b1", "买家甲")
    for visitor in (client, login_client(StaffAccount.objects.get(shop=shop_b, role=Role.OWNER))):
        response = visitor.get(f"/chat/{owner.shop_id}/demo/")
        assert response.status_code == 404
        assert "token=" not in response.content.decode()


def test_demo_picker_links_buyers_with_fresh_tokens(owner: StaffAccount, settings: Any) -> None:
    settings.DEMO_BUYER_PICKER = True
    shop_a = owner.shop
    buyers = [factories.buyer(shop_a, f"b{i}", f"买家{i}") for i in range(3)]
    client = login_client(owner)
    response = client.get(f"/chat/{shop_a.pk}/demo/")
    assert response.status_code == 200
    links = re.findall(r'href="(/chat/\d+/\?token=[^"]+)"', response.content.decode())
    assert len(links) == 3
    found = set()
    for link in links:
        url = urlparse(link.replace("&amp;", "&"))
        assert url.path == f"/chat/{shop_a.pk}/"
        buyer = buyer_from_token(parse_qs(url.query)["token"][0])
        assert buyer is not None
        found.add(buyer.pk)
        assert Client().get(link.replace("&amp;", "&")).status_code == 200
    assert found == {b.pk for b in buyers}


def test_demo_picker_of_a_demo_shop_needs_no_sign_in_where_the_demo_turned_it_on(
    client: Client, outsider: StaffAccount, settings: Any
) -> None:
    """The demo walk-through opens the picker in a second window without signing in (seed_demo's shops are
    demo shops, their buyers invented); a real shop's picker stays its staff's only (the test above)."""
    demo = backoffice_services.create_shop(
        name="演示店", manager_name="林晓鹿", owner_login="demo_owner", owner_password=PASSWORD, demo=True
    )
    factories.buyer(demo, "d1", "演示买家")
    settings.DEMO_BUYER_PICKER = True
    for visitor in (client, login_client(outsider)):
        response = visitor.get(f"/chat/{demo.pk}/demo/")
        assert response.status_code == 200
        link = re.findall(r'href="(/chat/\d+/\?token=[^"]+)"', response.content.decode())[0]
        assert Client().get(link.replace("&amp;", "&")).status_code == 200

    settings.DEMO_BUYER_PICKER = False  # production's default: no picker at all
    assert client.get(f"/chat/{demo.pk}/demo/").status_code == 404


def test_demo_picker_of_an_unknown_shop_is_404(owner: StaffAccount, settings: Any) -> None:
    settings.DEMO_BUYER_PICKER = True
    assert login_client(owner).get("/chat/999999/demo/").status_code == 404


# --- the API the pages use ---------------------------------------------------------------------------------


def get(client: Client, path: str) -> Any:
    return client.get(API + path)


def post(client: Client, path: str, body: Any = None) -> Any:
    return client.post(API + path, json.dumps(body or {}), content_type="application/json")


def test_my_conversations_lists_active_chats_and_recent_history(
    teammate_client: Client, teammate: StaffAccount, teammate_chat: Conversation, shop_a: Shop
) -> None:
    services.post_buyer_message(buyer=teammate_chat.buyer, text="在吗", client_msg_id="b-1")
    rows = get(teammate_client, "conversations").json()
    assert [(r["id"], r["unread"], r["last_text"]) for r in rows] == [(teammate_chat.pk, 1, "在吗")]
    assert get(teammate_client, "conversations?scope=history").json() == []

    services.end_conversation(conversation=teammate_chat, reason="agent", by=teammate)
    assert get(teammate_client, "conversations").json() == []
    [row] = get(teammate_client, "conversations?scope=history").json()
    assert row["id"] == teammate_chat.pk and row["state"] == "ended"
    assert get(teammate_client, "conversations?scope=everything").status_code == 422


def test_outsider_sees_none_of_shop_a_conversations(
    outsider_client: Client, outsider: StaffAccount, teammate_chat: Conversation
) -> None:
    assert get(outsider_client, "conversations").json() == []
    assert get(outsider_client, "conversations?scope=history").json() == []


def test_transcript_in_order_after_a_seq(
    teammate_client: Client, teammate: StaffAccount, teammate_chat: Conversation
) -> None:
    services.post_buyer_message(buyer=teammate_chat.buyer, text=SCRIPT, client_msg_id="b-1")
    services.post_agent_message(agent=teammate, conversation=teammate_chat, text="您好", client_msg_id="a-1")
    messages = get(teammate_client, f"conversations/{teammate_chat.pk}/messages").json()
    assert [(m["seq"], m["sender"], m["text"]) for m in messages] == [
        (1, "buyer", SCRIPT),
        (2, "agent", "您好"),
    ]
    assert messages[1]["agent_name"] == teammate.display_name
    assert messages[1]["conversation"] == teammate_chat.pk and messages[1]["card"] is None
    after = get(teammate_client, f"conversations/{teammate_chat.pk}/messages?after=1").json()
    assert [m["seq"] for m in after] == [2]


def test_transcript_is_for_the_chats_agent_or_a_supervisor(
    shop_a: Shop, owner_client: Client, teammate_chat: Conversation
) -> None:
    colleague = factories.staff(shop_a, "agent_a2", "售后-小林")
    path = f"conversations/{teammate_chat.pk}/messages"
    assert get(login_client(colleague), path).status_code == 403
    assert get(owner_client, path).status_code == 200


def test_outsider_cannot_read_a_shop_a_transcript(
    outsider_client: Client, teammate_chat: Conversation
) -> None:
    assert get(outsider_client, f"conversations/{teammate_chat.pk}/messages").status_code == 404


def test_rating_invitation_goes_into_an_active_chat(
    teammate_client: Client, teammate: StaffAccount, teammate_chat: Conversation
) -> None:
    response = post(teammate_client, f"conversations/{teammate_chat.pk}/rating-invite")
    assert response.status_code == 200, response.content
    message = response.json()
    assert (message["conversation"], message["seq"], message["sender"]) == (teammate_chat.pk, 1, "system")

    services.end_conversation(conversation=teammate_chat, reason="agent", by=teammate)
    assert post(teammate_client, f"conversations/{teammate_chat.pk}/rating-invite").status_code == 409


def test_only_the_chats_agent_invites_a_rating(shop_a: Shop, teammate_chat: Conversation) -> None:
    colleague = factories.staff(shop_a, "agent_a2", "售后-小林")
    assert post(login_client(colleague), f"conversations/{teammate_chat.pk}/rating-invite").status_code == 403


def test_outsider_cannot_invite_a_rating_in_a_shop_a_chat(
    outsider_client: Client, teammate_chat: Conversation
) -> None:
    assert post(outsider_client, f"conversations/{teammate_chat.pk}/rating-invite").status_code == 404


def test_colleagues_to_transfer_to_with_presence(
    teammate_client: Client, teammate: StaffAccount, shop_a: Shop, outsider: StaffAccount
) -> None:
    colleague = factories.staff(shop_a, "agent_a2", "售后-小林")
    factories.staff(shop_a, "ops_a", "运营-阿杰", role=Role.OPERATIONS, im=False)
    online(colleague)
    agents = {a["name"]: a for a in get(teammate_client, "agents").json()}
    assert agents["售后-小林"] == {"id": colleague.pk, "name": "售后-小林", "status": "online"}
    assert teammate.display_name not in agents  # not myself
    assert "运营-阿杰" not in agents  # no IM permission
    assert outsider.display_name not in agents  # another shop
    assert all(set(a) == {"id", "name", "status"} for a in agents.values())  # no reception limits


def test_product_search_is_shop_scoped(
    teammate_client: Client, outsider_client: Client, shop_a: Shop, shop_b: Shop
) -> None:
    factories.product(shop_a, "p1", "北欧风陶瓷马克杯", "39.90")
    factories.product(shop_a, "p2", "记忆棉慢回弹枕头", "129.00")
    factories.product(shop_b, "p3", "陶瓷马克杯 数码款", "59.00")
    found = get(teammate_client, "products?q=马克杯").json()
    assert [(p["title"], p["price"]) for p in found] == [("北欧风陶瓷马克杯", "39.90")]
    assert len(get(teammate_client, "products").json()) == 2
    assert [p["title"] for p in get(outsider_client, "products?q=北欧").json()] == []


def test_page_endpoints_need_the_im_permission(shop_a: Shop) -> None:
    client = login_client(factories.staff(shop_a, "ops_a", "运营-阿杰", role=Role.OPERATIONS, im=False))
    for path in ("conversations", "agents", "products"):
        assert get(client, path).status_code == 403, path


# --- panels of other apps ----------------------------------------------------------------------------------


def assist_panel(request: Any, staff: StaffAccount) -> Panel | None:
    """A panel as the robot's assist mode will add one: routing's templates do not change for it."""
    if staff.role == Role.OWNER:
        return None  # a panel may stay out
    return Panel(
        name="assist",
        help_template="phrases/_workbench_help.html",
        scripts=("robot/assist.js",),
        styles=("robot/assist.css",),
        data={"api": "/api/v1/robot/"},
        strings={"assist_title": "智能辅助"},
    )


@pytest.fixture
def with_assist_panel(settings: Any) -> Any:
    # The quick phrases and this test's panel only (the robot's real assist panel has the same name).
    settings.WORKBENCH_PANELS = ["phrases.workbench.panel", "tests.routing.test_pages.assist_panel"]
    panel_functions.cache_clear()
    yield
    panel_functions.cache_clear()


@pytest.mark.usefixtures("with_assist_panel")
def test_another_app_adds_a_workbench_panel_through_the_setting(teammate_client: Client) -> None:
    response = teammate_client.get("/workbench/")
    page = response.content.decode()
    data = initial(response)
    assert [panel["name"] for panel in data["panels"]] == ["phrases", "assist"]
    assert data["panels"][1]["data"] == {"api": "/api/v1/robot/"}
    assert data["strings"]["assist_title"] == "智能辅助" and data["strings"]["phrase_team"]
    assert page.index("robot/assist.js") < page.index("routing/workbench.js")  # before the workbench script
    assert "robot/assist.css" in page and 'id="phrase-panel"' in page


@pytest.mark.usefixtures("with_assist_panel")
def test_a_panel_stays_out_when_it_says_so_and_may_not_take_another_panels_strings(
    owner_client: Client, teammate_client: Client, settings: Any
) -> None:
    panels = initial(owner_client.get("/workbench/"))["panels"]
    assert [panel["name"] for panel in panels] == ["phrases"]
    settings.WORKBENCH_PANELS = [*settings.WORKBENCH_PANELS, "phrases.workbench.panel"]
    panel_functions.cache_clear()
    with pytest.raises(ImproperlyConfigured, match="phrase_team"):
        teammate_client.get("/workbench/")


def test_the_configured_workbench_panels_are_phrases_the_robots_assist_and_after_sale(
    teammate_client: Client,
) -> None:
    panel_functions.cache_clear()
    names = [panel["name"] for panel in initial(teammate_client.get("/workbench/"))["panels"]]
    assert names == ["phrases", "assist", "aftersale"]
