"""Real servers for the tests and benchmarks that need them: subprocesses (daphne, the bare relay) serving
the test database.

A server started with ``server_env`` tags its database connections (PostgreSQL ``application_name``
``shopdesk-live:<prefix>``) so that a test can tell them apart from its own: ``release_database`` waits
until they are idle and closes them, so that nothing of a server's can hold or wait for a lock when
pytest-django flushes the tables (TRUNCATE) after a transactional test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import psycopg
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
LIVE_APPLICATION = "shopdesk-live"  # application_name of the servers' connections: shopdesk-live:<prefix>
# The longest a wait for a server may take: a safety net for a busy machine, not the time a step should take.
SAFETY_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def served_database_url(application_name: str | None = None) -> str:
    """DATABASE_URL with the database pytest-django created (``test_<name>``) in place of the given one,
    for a server in another process; its connections named ``application_name`` when given."""
    url = urlsplit(os.environ["DATABASE_URL"])
    query = parse_qsl(url.query)
    if application_name is not None:
        query = [(k, v) for k, v in query if k != "application_name"] + [
            ("application_name", application_name)
        ]
    return url._replace(path="/" + connection.settings_dict["NAME"], query=urlencode(query)).geturl()


def application_name(prefix: str) -> str:
    return f"{LIVE_APPLICATION}:{prefix}"


def server_env(prefix: str) -> dict[str, str]:
    """The environment of a server on the test database whose channel layer and database connections carry
    ``prefix`` (``unique_prefix()``)."""
    return {
        **os.environ,
        "DATABASE_URL": served_database_url(application_name(prefix)),
        "DEBUG": "1",
        "CHANNELS_PREFIX": prefix,
        "PYTHONUNBUFFERED": "1",
    }


def start_server(args: list[str], port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``python args...`` from the project root, output to ``log``; returned once ``port`` accepts
    connections (fails with the log's tail if the process exits or does not listen within 60 s)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{args} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.1)
    stop([proc])
    raise AssertionError(f"{args} did not listen on {port} within 60 s:\n{log.read_text()[-3000:]}")


def stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextmanager
def daphne(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A daphne process on a free port; yields ("127.0.0.1:port", process) once it accepts connections. On
    exit the process is stopped and, for a ``server_env`` environment, its database connections are gone
    (a connection of a stopped process can still be finishing a statement) before the caller goes on."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="daphne-", suffix=".log")[1])
    proc = start_server(
        ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "backoffice.asgi:application"], port, env, log
    )
    try:
        yield f"127.0.0.1:{port}", proc
    finally:
        stop([proc])
        log.unlink()
        name = dict(parse_qsl(urlsplit(env["DATABASE_URL"]).query)).get("application_name", "")
        if name.startswith(LIVE_APPLICATION + ":"):
            release_database(name)


def unique_prefix() -> str:
    return f"live{uuid.uuid4().hex[:8]}"


# --- waiting on a server ----------------------------------------------------------------------------------


def wait_until(
    condition: Callable[[], Any], what: Callable[[], str], timeout: float = SAFETY_TIMEOUT
) -> None:
    """Return as soon as ``condition()`` is true, checking every 20 ms; AssertionError with ``what()`` (the
    state seen) if it is still false after ``timeout`` s. For state that only another process can show (a
    database, Redis): the browser's own state is waited on with Playwright's ``expect``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {timeout:.0f} s: {what()}")
        time.sleep(0.02)


def monitor() -> psycopg.Connection[Any]:
    """A connection of our own to the test database: it works in a package fixture's teardown too, where
    pytest-django blocks the ORM, and leaves the test's connection alone."""
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"],
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"] or None,
        password=settings["PASSWORD"] or None,
        application_name="shopdesk-tests:monitor",
        autocommit=True,
    )


def server_connections(db: psycopg.Connection[Any], name: str) -> list[tuple[int, str, str]]:
    """(pid, state, query) of every connection to the test database named ``name``."""
    return db.execute(
        "SELECT pid, state, left(query, 200) FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name = %s",
        [name],
    ).fetchall()


def release_database(name: str, timeout: float = SAFETY_TIMEOUT) -> None:
    """Make sure the connections of server ``name`` (``application_name``) hold no lock and can take none
    before the caller touches the tables: wait until none of them runs a statement or has a transaction
    open, then terminate them (``pg_terminate_backend``) and wait until they are gone. A running server
    opens new ones on its next request: its connection pool checks a connection as it hands it out
    (settings.py). Connections still busy after ``timeout`` s are terminated all the same (the
    flush after this must not wait on them), then reported."""
    with monitor() as db:
        seen: list[tuple[int, str, str]] = []

        def idle() -> bool:
            seen[:] = [c for c in server_connections(db, name) if c[1] != "idle"]
            return not seen

        stuck = ""
        try:
            wait_until(idle, lambda: f"{name} connections busy: {seen}", timeout)
        except AssertionError as exc:
            stuck = str(exc)
        db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            [name],
        )
        wait_until(
            lambda: not server_connections(db, name),
            lambda: f"{name} connections not gone after pg_terminate_backend: {server_connections(db, name)}",
            timeout,
        )
    if stuck:
        raise AssertionError(f"a live server kept using the database (terminated): {stuck}")
