"""The check the database pool runs on a connection as it hands it out (settings.py, ``OPTIONS["pool"]``).

Django builds the pool with psycopg's ``ConnectionPool.check_connection`` when ``CONN_HEALTH_CHECKS`` is on
and gives no way to pass another, so ``install()`` puts this one in its place. psycopg's check is a round
trip per checkout, and a pool whose idle connections all died at once (a PostgreSQL restart,
``pg_terminate_backend``) was walked one stale connection at a time with a growing pause between them (1 s,
2 s, 4 s...), so requests timed out with a healthy connection a moment away. This check costs no round
trip for a healthy connection: an idle connection has nothing to read, so a readable socket means the
server sent something while it was idle (a terminated backend's error and end of stream, a notice). Only
then does it ask the server; when that fails, every idle connection of the pool is checked at once, so the
next try gets a live one.
"""

from __future__ import annotations

import select
import threading
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

_server_check = ConnectionPool.check_connection
_sweeping = threading.local()


def check_connection(conn: psycopg.Connection[Any]) -> None:
    if conn.closed:
        raise psycopg.OperationalError("the connection is closed")
    readable, _writable, _broken = select.select([conn.fileno()], [], [], 0)
    if not readable:
        return
    try:
        _server_check(conn)
    except psycopg.Error:
        pool = getattr(conn, "_pool", None)
        if isinstance(pool, ConnectionPool) and not getattr(_sweeping, "on", False):
            _sweeping.on = True
            try:
                pool.check()  # the others most likely died with it: replace them all now
            finally:
                _sweeping.on = False
        raise


def install() -> None:
    ConnectionPool.check_connection = staticmethod(check_connection)  # type: ignore[method-assign]
