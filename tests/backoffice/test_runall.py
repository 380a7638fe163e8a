"""`manage.py runall` (what `make run` ends with) on the zero-setup defaults: SQLite and the embedded Redis.

Starts the real processes, waits for /healthz to report the database, Redis and a Celery worker, then stops
them with Ctrl-C (SIGINT); and a second start after the supervisor was killed outright works.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import ROOT, free_port


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


@pytest.fixture
def zero_setup_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(VAR_DIR=str(tmp_path / "var"), DEBUG="1", PYTHONUNBUFFERED="1")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    yield env


def start(
    env: dict[str, str], port: int, log: Path, *, sigint_ignored: bool = False
) -> subprocess.Popen[bytes]:
    """runall in the background; ``sigint_ignored``: started with SIGINT ignored, as a non-interactive shell
    starts a background job (``make run &`` in a script), which Python would otherwise keep ignoring."""

    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    return subprocess.Popen(  # noqa: S603
        [sys.executable, "manage.py", "runall", "--port", str(port), "--concurrency", "1"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        preexec_fn=ignore_sigint if sigint_ignored else None,
    )


def wait_healthy(
    port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"runall exited early:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                return dict(json.load(response))
        except urllib.error.HTTPError as exc:
            last = exc.read().decode()
        except OSError as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"never healthy: {last}\n{log.read_text()[-3000:]}")


def child_pids(log: Path) -> dict[str, int]:
    return {name: int(pid) for name, pid in re.findall(r"started (\S+) pid (\d+)", log.read_text())}


def test_runall_starts_everything_and_ctrl_c_stops_it(zero_setup_env: dict[str, str], tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "run.log"
    proc = start(zero_setup_env, port, log)
    try:
        health = wait_healthy(port, proc, log)
        assert health["status"] == "ok"
        pids = child_pids(log)
        assert set(pids) == {"redis", "daphne", "celery-worker", "celery-beat"}
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(alive(p) for p in pids.values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [name for name, pid in pids.items() if alive(pid)]
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_second_start_after_a_crash_works(zero_setup_env: dict[str, str], tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "crash.log"
    proc = start(zero_setup_env, port, log)
    wait_healthy(port, proc, log)
    pids = child_pids(log)
    proc.kill()  # no chance to clean up: the children must go with it, the socket file stays behind
    proc.wait()
    deadline = time.monotonic() + 15
    while any(alive(p) for p in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [name for name, pid in pids.items() if alive(pid)]

    log2 = tmp_path / "restart.log"
    proc2 = start(zero_setup_env, port, log2, sigint_ignored=True)  # and Ctrl-C stops it all the same
    try:
        assert wait_healthy(port, proc2, log2)["status"] == "ok"
    finally:
        proc2.send_signal(signal.SIGINT)
        proc2.wait(timeout=30)
