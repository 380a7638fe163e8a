"""``routing.backpressure`` on daphne's protocol class, without a network: a frame below the limit goes out,
one over it closes the socket once with 4408 instead, and frames after the close are dropped without
raising into the consumer (autobahn raises on a send to a closing socket)."""

from __future__ import annotations

from typing import Any

import pytest
from daphne.ws_protocol import WebSocketProtocol  # type: ignore[import-untyped]

from routing import backpressure


class Transport:
    def __init__(self, held: int) -> None:
        self.dataBuffer = b"x" * held
        self.offset = 0
        self._tempDataLen = 0


def protocol(held: int, calls: list[Any]) -> Any:
    proto = WebSocketProtocol.__new__(WebSocketProtocol)
    proto.state = WebSocketProtocol.STATE_OPEN
    proto.transport = Transport(held)
    proto.client_addr = ["127.0.0.1", 1]

    def close(code: int) -> None:
        calls.append(("close", code))
        proto.state = WebSocketProtocol.STATE_CLOSING

    proto.sendClose = close
    proto.serverSend = lambda content, binary=False: calls.append(("send", content))
    return proto


@pytest.fixture(autouse=True)
def installed(settings: Any) -> None:
    settings.WS_SEND_BUFFER_LIMIT = 1000
    backpressure.install()


def test_a_frame_below_the_limit_is_sent() -> None:
    calls: list[Any] = []
    protocol(999, calls).handle_reply({"type": "websocket.send", "text": "一"})
    assert calls == [("send", "一")]


def test_over_the_limit_the_socket_is_closed_once_and_later_frames_are_dropped() -> None:
    calls: list[Any] = []
    proto = protocol(1001, calls)
    for n in range(3):
        proto.handle_reply({"type": "websocket.send", "text": f"帧{n}"})
    assert calls == [("close", backpressure.CLOSE_SLOW_READER)]


def test_the_unsent_bytes_count_the_queued_writes_and_not_the_sent_part() -> None:
    transport = Transport(500)
    transport.offset, transport._tempDataLen = 200, 700
    assert backpressure.buffered(transport) == 1000
    assert backpressure.buffered(object()) == 0


def test_installing_twice_wraps_once() -> None:
    first = WebSocketProtocol.handle_reply
    backpressure.install()
    assert WebSocketProtocol.handle_reply is first
