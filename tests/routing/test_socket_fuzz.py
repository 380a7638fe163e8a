"""A fuzz test of both chat sockets: any text frame gets at most error events, never a closed socket (1011) or
a server error; the server still answers after each batch."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from backoffice.models import Buyer, StaffAccount
from routing import tokens
from tests.routing.sockets import (
    agent,
    buyer,
    buyer_socket,
    connect,
    layer,
    session_cookie,
    session_socket,
    until,
)

__all__ = ["agent", "buyer", "layer"]  # fixtures
pytestmark = [pytest.mark.usefixtures("layer")]

# --- frames ------------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
frame_types = st.sampled_from(["ping", "resume", "send", "card", "rate", "", "hello", "zz"]) | st.text(
    max_size=8
)
fields = st.sampled_from(["type", "after", "conversation", "client_msg_id", "text", "kind", "id", "stars"])
frames = st.builds(
    lambda kind, extra: {"type": kind, **extra}, frame_types, st.dictionaries(fields, json_values, max_size=5)
) | json_values.map(lambda v: v)
raw_texts = st.text(min_size=1, max_size=60) | st.binary(min_size=1, max_size=40).map(
    lambda b: b.decode("latin-1")
)


@pytest.fixture
def credentials(agent: StaffAccount, buyer: Buyer) -> tuple[bytes, str]:
    """The agent's session cookie and the buyer's token, made once for every example."""
    return session_cookie(agent), tokens.buyer_token(buyer)


@pytest.mark.django_db(transaction=True)
@hypothesis_settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(frames.map(lambda f: json.dumps(f)) | raw_texts, min_size=5, max_size=25))
def test_socket_fuzz_never_closes_or_errors_the_server(
    credentials: tuple[bytes, str], batch: list[str]
) -> None:
    """Any text frame gets at most error events: the socket stays open (no 1011: an exception in the
    consumer fails the test) and the server still answers after the batch."""
    cookie, token = credentials

    async def run() -> None:
        for ws in (
            buyer_socket(token),
            session_socket(cookie),
        ):
            await connect(ws)
            try:
                for text in batch:
                    await ws.send_to(text_data=text)
                await ws.send_json_to({"type": "zz-end-of-batch"})
                marker = await until(ws, "error", code="unknown_type")
                while "zz-end-of-batch" not in marker["message"]:
                    marker = await until(ws, "error", code="unknown_type")
            finally:
                await ws.disconnect()

    async_to_sync(run)()
