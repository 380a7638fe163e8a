"""Real servers for the tests that need them: daphne subprocesses serving the test database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def served_database_url() -> str:
    """The URL of the database pytest-django created (PostgreSQL), for a server in another process."""
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def server_env(prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": served_database_url(),
        "DEBUG": "1",
        "CHANNELS_PREFIX": prefix,
        "PYTHONUNBUFFERED": "1",
    }


@contextmanager
def daphne(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A daphne process on a free port; yields ("127.0.0.1:port", process) once it accepts connections."""
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="daphne-", suffix=".log", delete=False)
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "backoffice.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"daphne exited: {Path(log.name).read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"daphne did not start: {Path(log.name).read_text()[-2000:]}"
                    ) from None
                time.sleep(0.1)
        yield f"127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        os.unlink(log.name)


def unique_prefix() -> str:
    return f"live{uuid.uuid4().hex[:8]}"
