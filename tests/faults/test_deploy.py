"""The deployment that outgrows one process (README): what can be checked without an nginx here. The
proxy config passes WebSockets through (HTTP/1.1 with the Upgrade and Connection headers, no buffering, a
read timeout above the pages' heartbeat) to several daphne processes without sticky sessions; the beat
runs the DatabaseScheduler. The proof that any daphne serves any socket is tests/routing/test_two_processes.py
and the fault suite's two-process tests."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from django.conf import settings

CONF = Path(settings.BASE_DIR) / "backoffice" / "deploy" / "nginx.conf"


def block(text: str, head: str) -> str:
    start = text.index(head)
    depth = 0
    for at in range(text.index("{", start), len(text)):
        depth += {"{": 1, "}": -1}.get(text[at], 0)
        if depth == 0:
            return text[start : at + 1]
    raise AssertionError(f"{head} not closed")


def test_the_proxy_passes_websockets_through_to_several_daphnes_without_stickiness() -> None:
    text = re.sub(r"#.*", "", CONF.read_text())
    upstream = block(text, "upstream shopdesk")
    assert len(re.findall(r"^\s*server\s+\S+", upstream, re.M)) >= 2
    assert not re.search(r"\b(ip_hash|hash|sticky)\b", upstream)  # no sticky sessions
    ws = block(text, "location /ws/")
    assert "proxy_pass http://shopdesk;" in ws
    assert "proxy_http_version 1.1;" in ws
    assert "proxy_set_header Upgrade    $http_upgrade;" in ws
    assert "proxy_set_header Connection $connection_upgrade;" in ws
    assert "proxy_buffering off;" in ws
    timeout = re.search(r"proxy_read_timeout (\d+)s;", ws)
    assert timeout and int(timeout.group(1)) > 15  # above the pages' 15 s heartbeat (chat-core.js)
    assert "X-Forwarded-Proto" in ws  # SECURE_PROXY_SSL_HEADER: the Origin check sees https


def test_beat_keeps_its_schedule_in_the_database() -> None:
    assert settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"


def test_nginx_accepts_the_proxy_config(tmp_path: Path) -> None:
    """The config as nginx reads it (``nginx -t``), inside an http {} block as its header says, with a
    throwaway certificate in place of the deployment's. nginx is installed by .ci/run. Before: Debian 12's
    nginx 1.22 refused the file ("unknown directive http2": ``http2 on;`` needs 1.25.1)."""
    key, cert = tmp_path / "privkey.pem", tmp_path / "fullchain.pem"
    openssl = shutil.which("openssl") or "/usr/bin/openssl"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=shopdesk.test"]
    command = [openssl, *request, "-keyout", str(key), "-out", str(cert)]
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603 - openssl, fixed arguments
    text = CONF.read_text()
    text = text.replace("/etc/ssl/shopdesk/privkey.pem", str(key)).replace(
        "/etc/ssl/shopdesk/fullchain.pem", str(cert)
    )
    (tmp_path / "shopdesk.conf").write_text(text)
    (tmp_path / "logs").mkdir()
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/logs/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/shopdesk.conf;\n}}\n"
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    command = [nginx, "-t", "-c", str(main), "-p", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True)  # noqa: S603 - nginx -t, our own file
    assert done.returncode == 0, done.stderr
    assert "syntax is ok" in done.stderr
