"""A stalled reader cannot grow the server's memory (issue 18, fault 4; PROTOCOL.md, "Slow readers").

Daphne writes every frame the consumers send straight to the connection's Twisted transport, which keeps
whatever the kernel does not take yet in its own buffer, without a limit: a tab that stops reading its socket
(a frozen device, a stalled network path) while its chats keep talking would grow that buffer for as long as
the connection lives. ``install()`` puts a limit in front of it, per socket: before a frame is written, the
bytes the transport still holds are counted, and once they exceed ``WS_SEND_BUFFER_LIMIT`` (bytes, default
1 MiB) the frame is dropped and the socket is closed with ``CLOSE_SLOW_READER`` (4408). The close frame waits
behind the buffer; a reader that catches up within autobahn's close-handshake timeout (1 s) sees the code,
otherwise the connection is dropped. Either way the buffer is freed, the consumer gets its disconnect
(presence, groups), and the frames sent after the close are discarded instead of raising in the consumer.

Nothing is lost by it: the database holds every message, and the page reconnects (4408 is not an access
code) and resumes after the last seq it has, which replays what it missed (PROTOCOL.md, "Resume").

So a socket holds at most the limit plus one frame: the server's memory for its sockets is bounded by
``sockets x (limit + largest frame)`` on top of the kernel's own socket buffers.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

CLOSE_SLOW_READER = 4408
DEFAULT_LIMIT = 1024 * 1024


def limit() -> int:
    """The per-socket limit in bytes (settings.WS_SEND_BUFFER_LIMIT)."""
    return int(getattr(settings, "WS_SEND_BUFFER_LIMIT", DEFAULT_LIMIT))


def buffered(transport: Any) -> int:
    """Bytes a Twisted transport holds that the kernel has not taken yet (``FileDescriptor``'s written but
    unsent data: the unsent part of ``dataBuffer`` plus the writes queued after it); 0 for a transport
    without such buffers."""
    data = getattr(transport, "dataBuffer", b"")
    return len(data) - int(getattr(transport, "offset", 0)) + int(getattr(transport, "_tempDataLen", 0))


def install() -> None:
    """Wrap daphne's ``WebSocketProtocol.handle_reply`` (the one place the application's frames reach a
    socket) with the limit; idempotent. Called by the ASGI entry point (``backoffice/asgi.py``)."""
    from daphne.ws_protocol import WebSocketProtocol  # type: ignore[import-untyped]

    original = WebSocketProtocol.handle_reply
    if getattr(original, "bounded", False):
        return

    def handle_reply(self: Any, message: dict[str, Any]) -> None:
        if message.get("type") == "websocket.send" and self.state != self.STATE_CONNECTING:
            if self.state != self.STATE_OPEN:
                return  # closed for a slow reader (or closing): nothing more goes into its buffer
            held = buffered(self.transport)
            if held > limit():
                logger.warning(
                    "closing a websocket of %s whose reader stalled: %d bytes unsent", self.client_addr, held
                )
                self.sendClose(code=CLOSE_SLOW_READER)
                return
        original(self, message)

    handle_reply.bounded = True  # type: ignore[attr-defined]
    WebSocketProtocol.handle_reply = handle_reply
