"""Buyer messages stored from the event loop: the plain case of ``messages.post_buyer_messages`` written on
an asynchronous psycopg connection of the loop's own, with no hop to a worker thread and back.

That hop was most of a buyer message's latency (issue 20): after every round trip the writing thread waits
for the GIL while the loop serves the sockets. The plain case is most of the traffic: every send a text into
an open conversation whose agent is not gone, none a resend. It runs the statement of PostgreSQL's strategy
(``messages._batch_sql``) and reads its rows with the same function (``messages._read_batch_rows``), so the
rules are the same code: BEGIN with the statement (one round trip), COMMIT, and the events built from the
returned rows.

Anything else is rolled back and declined (None): a buyer without an open conversation, a resend, a
conversation whose agent is gone, an image, a resend that raced the statement. The caller then stores the
batch the usual way (``post_buyer_messages`` in a worker thread), where every rule lives. So does a database
error: the connection is dropped (the next batch opens a new one) and the batch goes the usual way, where a
send that did commit before the error is a resend (every socket send has a ``client_msg_id``), stored once.

PostgreSQL only, and only with ``settings.ROUTING_BUYER_WRITES_ON_LOOP`` (default on; the environment's
``BUYER_WRITES_ON_LOOP=0`` turns it off): each event loop (each daphne process) holds one more connection to
the database, outside Django's pool.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Sequence
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection
from django.utils import timezone

from backoffice.errors import DomainError
from routing import events
from routing.models import Message
from routing.services.messages import (
    BuyerSend,
    _batch_sql,
    _Declined,
    _first_sends,
    _message_events,
    _read_batch_rows,
    _resent_and_repeated,
    check_text,
)

logger = logging.getLogger(__name__)


class _LoopConnection:
    """One event loop's connection, used by one batch at a time (a transaction spans several awaits)."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.conn: psycopg.AsyncConnection[Any] | None = None

    async def open(self) -> psycopg.AsyncConnection[Any]:
        if self.conn is None or self.conn.closed or self.conn.broken:
            # Django's own parameters and adapters for this database (the test database in tests), with
            # its client-side binding: the statement is sent as the worker thread's strategy sends it.
            params = connection.get_connection_params()
            params["cursor_factory"] = psycopg.AsyncClientCursor
            self.conn = await psycopg.AsyncConnection.connect(**params, autocommit=True)
        return self.conn

    async def drop(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            await conn.close()


_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopConnection] = weakref.WeakKeyDictionary()


def _loop_connection() -> _LoopConnection:
    return _loops.setdefault(asyncio.get_running_loop(), _LoopConnection())


def enabled() -> bool:
    return connection.vendor == "postgresql" and bool(getattr(settings, "ROUTING_BUYER_WRITES_ON_LOOP", True))


async def close() -> None:
    """Close this loop's connection (a loop about to end; the next batch would open a new one)."""
    if (held := _loops.get(asyncio.get_running_loop())) is not None:
        async with held.lock:
            await held.drop()


def discard_all() -> None:
    """Close every loop's connection at once, without its loop (a test's loop has ended by then)."""
    for held in list(_loops.values()):
        conn, held.conn = held.conn, None
        if conn is not None and not conn.closed:
            conn.pgconn.finish()


async def loop_connection() -> psycopg.AsyncConnection[Any]:
    """This loop's connection, opened if need be (``tests.roundtrips`` traces it)."""
    held = _loop_connection()
    async with held.lock:
        return await held.open()


async def post_buyer_messages_on_loop(
    sends: Sequence[BuyerSend],
) -> tuple[list[Message | DomainError], list[events.Sent]] | None:
    """``post_buyer_messages`` for a plain batch, written from the event loop: each send's result in its
    place, and the events to send (``events.publish_now``: committed already). None when the batch is not
    plain or the database failed: nothing was written by this call, and the caller stores the batch the
    usual way."""
    if not enabled() or any(send.attachment is not None for send in sends):
        return None
    results: dict[int, Message | DomainError] = {}
    todo: list[tuple[int, BuyerSend]] = []
    for i, send in enumerate(sends):
        try:
            check_text(send.text)
        except DomainError as exc:
            results[i] = exc
        else:
            todo.append((i, send))
    sent: list[events.Sent] = []
    if todo:
        now = timezone.now()
        rows, first = _first_sends(todo)
        sql, params = _batch_sql([m for _i, _s, m in rows], [send.buyer.pk for _i, send, _m in rows], now)
        held = _loop_connection()
        async with held.lock:
            try:
                conn = await held.open()
                # BEGIN and the statement in one round trip (the simple query protocol takes both), the rows
                # read, then COMMIT, or ROLLBACK when the batch is not plain.
                cursor = await conn.execute(f"BEGIN; {sql}", params)
                cursor.nextset()
                found = await cursor.fetchall()
                try:
                    read = _read_batch_rows(rows, found, now, results)
                    plain = not (read.missing or read.resent or read.gone)
                except _Declined:
                    plain = False
                await conn.execute("COMMIT" if plain else "ROLLBACK")
            except BaseException as exc:
                await held.drop()  # an open transaction ends with it (rolled back)
                if not isinstance(exc, psycopg.Error):
                    raise
                logger.warning(
                    "buyer batch not stored on the event loop; stored the usual way", exc_info=True
                )
                return None
        if not plain:
            return None
        _resent_and_repeated(todo, [], first, results)  # no resend here: a repeat gets its first's message
        sent = events.encoded(_message_events(read.new))
    return [results[i] for i in range(len(sends))], sent
