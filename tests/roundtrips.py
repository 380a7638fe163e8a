"""Counting the database round trips of a consumer call, for the tests and the live-chat benchmark."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from psycopg.pq import Trace
from psycopg_pool import ConnectionPool


def round_trips(call: Callable[[], Any]) -> int:
    """The round trips to PostgreSQL of ``call`` run as the consumers run their database work
    (``database_sync_to_async``: old connections closed before and after, a connection from the pool):
    every ``ReadyForQuery`` the server sends on the connections the pool hands out meanwhile, from the
    hand-out on (libpq's trace). Needs the pool (DATABASE_URL=postgres://..., DB_POOL on: the default)."""
    traces: list[tuple[Path, Any]] = []
    original = ConnectionPool.getconn

    def traced(self: ConnectionPool[Any], timeout: float | None = None) -> Any:
        conn = original(self, timeout)
        trace = Path(tempfile.mkstemp(prefix="roundtrips-")[1])
        traces.append((trace, conn))
        conn.pgconn.trace(os.open(trace, os.O_WRONLY | os.O_APPEND))
        conn.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)
        return conn

    ConnectionPool.getconn = traced  # type: ignore[method-assign]
    try:
        async_to_sync(database_sync_to_async(call))()
    finally:
        ConnectionPool.getconn = original  # type: ignore[method-assign]
        for _trace, conn in traces:
            conn.pgconn.untrace()  # flushes the trace
    count = 0
    for trace, _conn in traces:
        count += trace.read_text().count("\tReadyForQuery")
        trace.unlink()
    return count
