from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection

from backoffice import services as shop_services
from backoffice.models import Shop, StaffAccount
from routing import events, services
from routing.models import AgentGroup
from routing.services import loopstore, messages
from tests.conftest import PASSWORD

_counter = {"n": 0}


ON_LOOP = "postgresql-loop"  # the chat consumers' way: the event loop's (routing.services.loopstore) first
WORKER_STORES = sorted(messages.BUYER_STORES)  # a test that only these apply to: parametrize, indirect


@pytest.hookimpl(tryfirst=True)  # before pytest-django's, which runs the transactional tests last
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The event loop writes on a connection of its own, which sees only committed rows: a test on that
    strategy runs in a transactional test database (after the others: its flush empties the tables that
    the migrations filled)."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("buyer_store") == ON_LOOP:
            item.add_marker(pytest.mark.django_db(transaction=True))


@pytest.fixture(params=[*WORKER_STORES, ON_LOOP])
def buyer_store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """A test of buyer-message rules runs once per storage strategy (``messages.BUYER_STORES``) and once as
    the chat consumers store (``ON_LOOP``: the plain case from an event loop, the rest declined to
    PostgreSQL's statement in a worker thread): one set of rules, three ways of storing them. All but the
    ORM's need PostgreSQL."""
    name = str(request.param)
    if name != "orm" and connection.vendor != "postgresql":
        pytest.skip("this storage strategy needs PostgreSQL (DATABASE_URL=postgres://...)")
    if name == ON_LOOP:
        monkeypatch.setattr(messages, "buyer_store", lambda: "postgresql")
        on_loop = stored_from_a_loop(messages.post_buyer_messages)
        monkeypatch.setattr(messages, "post_buyer_messages", on_loop)
        monkeypatch.setattr(services, "post_buyer_messages", on_loop)
    else:
        monkeypatch.setattr(messages, "buyer_store", lambda: name)
    return name


def stored_from_a_loop(
    store: Callable[[Sequence[services.BuyerSend]], list[Any]],
) -> Callable[[Sequence[services.BuyerSend]], list[Any]]:
    """``post_buyer_messages`` as a chat consumer stores (``routing.consumers.store_buyer_sends``): from an
    event loop, or by ``store`` in a worker thread when the loop declines; the loop's events published."""

    def post(sends: Sequence[services.BuyerSend]) -> list[Any]:
        async def run() -> list[Any]:
            try:
                on_loop = await loopstore.post_buyer_messages_on_loop(sends)
            finally:
                await loopstore.close()  # each call runs in a loop of its own
            if on_loop is None:
                return await sync_to_async(store)(sends)
            results, sent = on_loop
            await sync_to_async(events.publish)([(group, event) for group, _payload, event in sent])
            return list(results)

        return async_to_sync(run)()

    post.worker = store  # type: ignore[attr-defined]  # the worker thread's way alone (a lock holder in a race)
    return post


@pytest.fixture
def make_agent(shop_a: Shop) -> Callable[..., StaffAccount]:
    def build(
        name: str,
        max_concurrent: int = 5,
        status: str = "online",
        group: AgentGroup | None = None,
        weight: int = 1,
        routing: bool = True,
        shop: Shop | None = None,
        offline_routing: bool = False,
    ) -> StaffAccount:
        _counter["n"] += 1
        staff = shop_services.create_staff_account(
            shop=shop or shop_a,
            login=f"agent{_counter['n']}_{name}",
            password=PASSWORD,
            display_name=name,
            role="agent",
            im_enabled=True,
        )
        StaffAccount.objects.filter(pk=staff.pk).update(max_concurrent=max_concurrent)
        staff.refresh_from_db()
        services.configure_agent(
            staff=staff, group=group, weight=weight, routing=routing, offline_routing=offline_routing
        )
        services.set_agent_status(staff=staff, status=status)
        return staff

    return build
