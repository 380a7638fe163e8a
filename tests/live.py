"""Real servers for the tests and benchmarks that need them: subprocesses (daphne, the bare relay) serving
the test database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def served_database_url() -> str:
    """DATABASE_URL with the database pytest-django created (``test_<name>``) in place of the given one,
    for a server in another process."""
    return urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"]).geturl()


def server_env(prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": served_database_url(),
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
    """A daphne process on a free port; yields ("127.0.0.1:port", process) once it accepts connections."""
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


def unique_prefix() -> str:
    return f"live{uuid.uuid4().hex[:8]}"
