"""Counting the database round trips of a consumer call, for the tests and the live-chat benchmark."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from psycopg.pq import Trace
from psycopg_pool import ConnectionPool

from routing.services import loopstore


def _traced(pgconn: Any) -> Path:
    """Start libpq's trace of a connection into a new file."""
    trace = Path(tempfile.mkstemp(prefix="roundtrips-")[1])
    pgconn.trace(os.open(trace, os.O_WRONLY | os.O_APPEND))
    pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)
    return trace


def _ready_for_query(trace: Path) -> int:
    """Every ``ReadyForQuery`` the server sent in a trace: one a round trip. The file is deleted."""
    count = trace.read_text().count("\tReadyForQuery")
    trace.unlink()
    return count


@contextmanager
def _pooled_round_trips() -> Iterator[list[int]]:
    """The round trips on the connections the pool hands out in the block, from the hand-out on: the
    list holds their sum once the block has ended."""
    traces: list[tuple[Path, Any]] = []
    original = ConnectionPool.getconn

    def traced(self: ConnectionPool[Any], timeout: float | None = None) -> Any:
        conn = original(self, timeout)
        traces.append((_traced(conn.pgconn), conn))
        return conn

    counted: list[int] = []
    ConnectionPool.getconn = traced  # type: ignore[method-assign]
    try:
        yield counted
    finally:
        ConnectionPool.getconn = original  # type: ignore[method-assign]
        for _trace, conn in traces:
            conn.pgconn.untrace()  # flushes the trace
        counted.append(sum(_ready_for_query(trace) for trace, _conn in traces))


def round_trips(call: Callable[[], Any]) -> int:
    """The round trips to PostgreSQL of ``call`` run as the consumers run their database work
    (``database_sync_to_async``: old connections closed before and after, a connection from the pool):
    every ``ReadyForQuery`` the server sends on the connections the pool hands out meanwhile, from the
    hand-out on (libpq's trace). Needs the pool (DATABASE_URL=postgres://..., DB_POOL on: the default)."""
    with _pooled_round_trips() as counted:
        async_to_sync(database_sync_to_async(call))()
    return counted[0]


def loop_round_trips(call: Callable[[], Awaitable[Any]]) -> tuple[int, int]:
    """The round trips to PostgreSQL of ``call`` run on an event loop as the chat consumers run it: on the
    loop's own connection (``routing.services.loopstore``; opened before the count starts), and on the
    pooled connections of the worker threads it calls (``round_trips``'s count), as a pair."""
    traces: list[Path] = []

    async def run() -> None:
        conn = await loopstore.loop_connection()
        traces.append(_traced(conn.pgconn))
        try:
            await call()
        finally:
            if not conn.closed:
                conn.pgconn.untrace()
            await loopstore.close()

    with _pooled_round_trips() as counted:
        async_to_sync(run)()
    return sum(_ready_for_query(trace) for trace in traces), counted[0]
