"""Database connections under daphne: every HTTP request runs on a thread of its own, so persistent
connections were never reused and piled up until PostgreSQL refused new clients. A web process takes its
connections from a bounded pool (settings.py); this drives a live daphne with a few hundred requests, one
after another and concurrently, and counts the server's connections in PostgreSQL."""

from __future__ import annotations

import http.client
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from backoffice.models import StaffAccount
from tests.conftest import login_client, requires_postgres
from tests.live import (
    application_name,
    daphne,
    monitor,
    server_connections,
    server_env,
    unique_prefix,
    wait_until,
)

POOL_MAX = 4


def daphne_saw_them_go(host: str) -> bool:
    """No connection to the server is left half-closed (CLOSE_WAIT: the client hung up, the server has not
    handled it yet), read from the kernel's socket table."""
    port = f"{int(host.rsplit(':', 1)[1]):04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                local, state = row.split()[1], row.split()[3]
                if local.endswith(":" + port) and state == "08":
                    return False
    return True


def waiting_on_a_lock(db: Any, name: str) -> list[Any]:
    rows: list[Any] = db.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s "
        "AND wait_event_type = 'Lock'",
        [name],
    ).fetchall()
    return rows


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_live_daphne_keeps_its_database_connections_bounded(owner: StaffAccount) -> None:
    prefix = unique_prefix()
    env = {**server_env(prefix), "DB_POOL_MAX": str(POOL_MAX), "DB_POOL_TIMEOUT": "5"}
    cookie = f"sessionid={login_client(owner).cookies['sessionid'].value}"
    with daphne(env) as (host, _process), monitor() as db:
        name = application_name(prefix)
        address, port = host.split(":")

        def get(path: str) -> int:
            conn = http.client.HTTPConnection(address, int(port), timeout=60)  # a safety net only
            try:
                conn.request("GET", path, headers={"Cookie": cookie})
                response = conn.getresponse()
                response.read()
                return response.status
            finally:
                conn.close()

        seen: list[int] = []
        for i in range(200):  # one after another: each on a new daphne thread
            assert get("/api/v1/routing/settings" if i % 2 else "/api/v1/me") == 200
            if i % 20 == 0:
                seen.append(len(server_connections(db, name)))
        with ThreadPoolExecutor(max_workers=12) as workers:  # more at once than the pool holds
            statuses = list(workers.map(get, ["/api/v1/routing/settings"] * 200))
        seen.append(len(server_connections(db, name)))
        assert statuses == [200] * 200  # waiting for a free connection, not refused

        # Tabs closed mid-request: Django cancels a request whose client went away and then sends
        # request_finished on the event loop's thread, not on the thread whose connection the view took.
        # The views here wait on a table lock, so they are still running when their clients hang up.
        hung_up = []
        with db.transaction():
            db.execute("LOCK TABLE routing_routingsettings IN ACCESS EXCLUSIVE MODE")
            for _ in range(POOL_MAX):
                raw = socket.create_connection((address, int(port)), timeout=60)
                request = f"GET /api/v1/routing/settings HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n\r\n"
                raw.sendall(request.encode())
                hung_up.append(raw)
            wait_until(
                lambda: len(waiting_on_a_lock(db, name)) == POOL_MAX,
                lambda: f"views waiting on the lock: {waiting_on_a_lock(db, name)}",
            )
            for raw in hung_up:
                raw.close()
            wait_until(lambda: daphne_saw_them_go(host), lambda: "daphne still serves the hung-up requests")
        assert [get("/api/v1/me") for _ in range(POOL_MAX + 2)] == [200] * (POOL_MAX + 2)  # not drained

        # PostgreSQL drops every connection of the server (a restart, an administrator): the pool replaces
        # them as it hands them out, and no request fails.
        for _attempt in range(3):
            db.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = %s",
                [name],
            )
            wait_until(lambda: not server_connections(db, name), lambda: "connections still there")
            assert [get("/api/v1/routing/settings") for _ in range(10)] == [200] * 10
        seen.append(len(server_connections(db, name)))
        assert max(seen) <= POOL_MAX, seen
