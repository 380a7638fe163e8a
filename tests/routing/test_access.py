"""One access rule: "may this account do R" is ``backoffice.access.has_right`` everywhere. Taking the routing
right from the CS-supervisor role (a platform superuser may edit a role's group in the admin) closes every
supervisor door at once (services, API, admin, the socket's resume through ``routing.access``), and granting
it to a plain agent opens them all. The same for the team-phrase right."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from backoffice.access import Right, has_right
from backoffice.errors import Forbidden
from backoffice.models import Role, Shop, StaffAccount
from routing import services
from routing.access import readable
from routing.models import Conversation, EndReason
from tests.backoffice import factories
from tests.conftest import api_call, login_client

pytestmark = pytest.mark.usefixtures("owner_offline")
Agent = Callable[..., StaffAccount]


def permission(right: Right) -> Permission:
    return Permission.objects.get(content_type__app_label="backoffice", codename=right.split(".")[1])


def doors(account: StaffAccount, conv: Conversation, target: StaffAccount) -> dict[str, bool]:
    """Whether each supervisor door lets ``account`` through, for a colleague's chat ``conv``."""
    client = login_client(account)
    api = "/api/v1/routing/"
    opened = {
        "transcript": api_call(client, "get", f"{api}conversations/{conv.pk}/messages").status_code == 200,
        "trace": api_call(client, "get", f"{api}conversations/{conv.pk}/trace").status_code == 200,
        "settings": api_call(client, "put", f"{api}settings", {"no_queue": False}).status_code == 200,
        "admin": client.get("/admin/routing/agentgroup/").status_code == 200,
        "resume": readable(account).filter(pk=conv.pk).exists(),  # what the agent socket's resume asks
    }
    try:
        services.transfer(conversation=conv, to_agent=target, by=account, force=True)
    except Forbidden:
        opened["forced transfer"] = False
    else:
        opened["forced transfer"] = True
    return opened


def test_the_routing_right_opens_every_supervisor_door_and_its_absence_closes_them(
    shop_a: Shop, make_agent: Agent
) -> None:
    holder, target = make_agent("小美"), make_agent("小林", max_concurrent=1, status="offline")
    supervisor = factories.staff(shop_a, "sup_a", "主管-老周", role=Role.CS_SUPERVISOR)
    agent = factories.staff(shop_a, "plain", "客服-小周")
    conv, _decision = services.request_human(buyer=factories.buyer(shop_a, "a1", "小王"))
    assert conv.agent_id == holder.pk  # the only one online
    services.set_agent_status(staff=target, status="online")

    assert set(doors(supervisor, conv, target).values()) == {True}  # the role has the right by default
    services.transfer(
        conversation=conv, to_agent=holder, by=supervisor, force=True
    )  # back for the next round

    Group.objects.get(name=Role.CS_SUPERVISOR).permissions.remove(permission(Right.MANAGE_ROUTING))
    assert not has_right(supervisor, Right.MANAGE_ROUTING)
    assert set(doors(supervisor, conv, target).values()) == {False}
    with pytest.raises(Forbidden):
        services.end_conversation(conversation=conv, reason=EndReason.AGENT, by=supervisor)

    agent.rights.add(permission(Right.MANAGE_ROUTING))
    assert set(doors(agent, conv, target).values()) == {True}


def test_the_owner_holds_every_right_whatever_its_group_says(shop_a: Shop, owner: StaffAccount) -> None:
    Group.objects.get(name=Role.OWNER).permissions.remove(permission(Right.MANAGE_TEAM_PHRASES))
    assert all(has_right(owner, right) for right in Right)
    disabled = factories.staff(shop_a, "gone", "离职客服", role=Role.CS_SUPERVISOR)
    StaffAccount.objects.filter(pk=disabled.pk).update(is_active=False)
    disabled.refresh_from_db()
    assert not any(has_right(disabled, right) for right in Right)


def test_the_team_phrase_right_decides_the_api_the_admin_and_the_workbench_alike(shop_a: Shop) -> None:
    supervisor = factories.staff(shop_a, "sup_b", "主管-小吴", role=Role.CS_SUPERVISOR)
    client: Client = login_client(supervisor)

    def opened() -> set[bool]:
        created = api_call(client, "post", "/api/v1/phrases/", {"scope": "team", "content": "亲，在的"})
        admin = client.get("/admin/phrases/phrase/")
        workbench = client.get("/workbench/").content.decode()
        return {created.status_code == 201, admin.status_code == 200, 'id="phrase-admin"' in workbench}

    assert opened() == {True}
    Group.objects.get(name=Role.CS_SUPERVISOR).permissions.remove(permission(Right.MANAGE_TEAM_PHRASES))
    assert opened() == {False}


def test_the_trace_shows_a_colleagues_load_and_limit_only_to_routing_managers(
    shop_a: Shop, owner: StaffAccount
) -> None:
    services.set_agent_status(staff=owner, status="offline")
    a = factories.staff(shop_a, "trace_a", "售前-小美")
    b = factories.staff(shop_a, "trace_b", "售前-小丽")
    for staff in (a, b):
        services.set_agent_status(staff=staff, status="online")
    conv, _decision = services.request_human(buyer=factories.buyer(shop_a, "tb", "买家"))
    url = f"/api/v1/routing/conversations/{conv.pk}/trace"
    served = a if conv.agent_id == a.pk else b
    colleague = b if served is a else a
    [agent_view] = login_client(served).get(url).json()
    mine = {c["staff_id"]: c for c in agent_view["candidates"]}
    assert mine[served.pk]["load"] is not None and mine[served.pk]["max"] == served.max_concurrent
    assert {k: mine[colleague.pk][k] for k in ("load", "max", "idle_ratio", "share")} == dict.fromkeys(
        ("load", "max", "idle_ratio", "share")
    )
    assert mine[colleague.pk]["name"] == colleague.display_name
    [owner_view] = login_client(owner).get(url).json()
    assert all(c["max"] is not None for c in owner_view["candidates"])


@pytest.mark.parametrize(("change", "status"), [({"im_enabled": False}, 403), ({"is_active": False}, 401)])
def test_an_agent_without_im_or_disabled_can_no_longer_act_in_their_chats_over_http(
    shop_a: Shop, change: dict[str, bool], status: int
) -> None:
    """Before: the message service checked only that the chat was theirs, so a reply over HTTP went out
    after IM was removed. (A disabled account signs nobody in any more: 401.)"""
    agent = factories.staff(shop_a, "revoked", "售前-小美")
    services.set_agent_status(staff=agent, status="online")
    conv, _decision = services.request_human(buyer=factories.buyer(shop_a, "rb", "买家"))
    assert conv.agent_id == agent.pk
    client = login_client(agent)
    StaffAccount.objects.filter(pk=agent.pk).update(**change)
    base = f"/api/v1/routing/conversations/{conv.pk}"
    reply = client.post(
        f"{base}/messages", {"text": "还在吗", "client_msg_id": "r1"}, content_type="application/json"
    )
    assert reply.status_code == status
    assert client.post(f"{base}/end").status_code == status
    assert not conv.messages.filter(client_msg_id="r1").exists()
    conv.refresh_from_db()
    assert conv.state == "active"
