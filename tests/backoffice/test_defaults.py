"""Safe defaults: with nothing set, the settings are a local installation (no debug pages, localhost only)
with a signing key of its own, generated once and kept in the data folder; production refuses to start
without a key. Each case imports the settings in a fresh interpreter with exactly the environment given."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
READ = (
    "import json, django; from django.conf import settings; django.setup(); "
    "print(json.dumps({'debug': settings.DEBUG, 'key': settings.SECRET_KEY, 'hosts': settings.ALLOWED_HOSTS, "
    "'picker': settings.DEMO_BUYER_PICKER, 'redirect': getattr(settings, 'SECURE_SSL_REDIRECT', False)}))"
)
OLD_CONSTANT = "dev-only-insecure-key-do-not-use-in-production-0123456789abcdef"


def settings_with(var_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DEMO_BUYER_PICKER"}}
    clean.update(VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="backoffice.settings", **env)
    return subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", READ], cwd=ROOT, env=clean, capture_output=True, text=True, check=False
    )


def read(var_dir: Path, **env: str) -> dict[str, Any]:
    done = settings_with(var_dir, **env)
    assert done.returncode == 0, done.stderr
    values: dict[str, Any] = json.loads(done.stdout)
    return values


def test_unset_debug_is_no_debug_localhost_only_and_no_demo_picker(tmp_path: Path) -> None:
    values = read(tmp_path)
    assert values["debug"] is False
    assert values["picker"] is False
    assert set(values["hosts"]) <= {"localhost", "127.0.0.1", "[::1]", "testserver"}
    assert values["redirect"] is False  # plain HTTP on localhost still works


def test_each_installation_generates_its_own_key_once(tmp_path: Path) -> None:
    first = read(tmp_path / "one")["key"]
    assert first == read(tmp_path / "one")["key"]  # kept in the data folder, the same on every start
    other = read(tmp_path / "two")["key"]
    assert first != other
    assert OLD_CONSTANT not in (first, other)
    assert len(str(first)) >= 50
    key_file = tmp_path / "one" / "secret_key"
    assert key_file.read_text().strip() == first
    assert key_file.stat().st_mode & 0o077 == 0  # readable by its owner only
    assert read(tmp_path / "one", DEBUG="1")["key"] == first  # development uses it too


def test_a_buyer_token_of_one_installation_is_refused_by_another(tmp_path: Path) -> None:
    """Before: every installation signed with the repository's constant, so anyone could forge tokens."""
    make = (
        "import django; django.setup(); from django.core import signing; "
        "print(signing.dumps({'shop': 1, 'buyer': 1}, salt='routing.buyer-token', compress=True))"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    env.update(VAR_DIR=str(tmp_path / "one"), DJANGO_SETTINGS_MODULE="backoffice.settings")
    token = subprocess.run(  # noqa: S603
        [sys.executable, "-c", make], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    check = (
        "import sys, django; django.setup(); from django.core import signing\n"
        "try:\n signing.loads(sys.argv[1], salt='routing.buyer-token'); print('accepted')\n"
        "except signing.BadSignature:\n print('refused')"
    )
    for var_dir, expected in (("one", "accepted"), ("two", "refused")):
        env["VAR_DIR"] = str(tmp_path / var_dir)
        out = subprocess.run(  # noqa: S603
            [sys.executable, "-c", check, token],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip() == expected


def test_production_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    done = settings_with(tmp_path, DEBUG="0", ALLOWED_HOSTS="console.example.com")
    assert done.returncode != 0
    assert "SECRET_KEY must be set" in done.stderr
    assert not (tmp_path / "secret_key").exists()
    values = read(tmp_path, DEBUG="0", ALLOWED_HOSTS="console.example.com", SECRET_KEY="k" * 60)
    assert values["redirect"] is True and values["hosts"] == ["console.example.com"]
