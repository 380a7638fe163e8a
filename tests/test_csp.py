"""The Content-Security-Policy: every page sends it with the directives that matter (scripts and styles of our
own origin only, no plugins, no framing, forms and <base> to ourselves, the chat sockets of the page's host),
the templates carry nothing it would refuse (inline scripts, handlers, styles), and the API docs page serves
Swagger UI from our own static files. The browser check is tests/browser/test_csp.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client

from backoffice.models import Shop, StaffAccount
from routing.tokens import buyer_token
from tests.backoffice import factories

# Attributes and elements the policy refuses without 'unsafe-inline' (or a nonce, which no template uses).
INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>"  # an inline script (data blocks pass)
    r"|<style\b"  # an inline stylesheet
    r"|\sstyle=\""  # a style attribute
    r"|\son[a-z]+=\""  # an event handler attribute
    r"|javascript:",  # a javascript: URL
    re.IGNORECASE,
)
TEMPLATE_DIRS = [Path(settings.BASE_DIR) / "templates"] + [
    path
    for app in ("backoffice", "routing", "phrases", "robot", "reports")
    if (path := Path(settings.BASE_DIR) / app / "templates").is_dir()
]


def policy(response: Any) -> dict[str, list[str]]:
    """The response's Content-Security-Policy as directive -> sources."""
    header = response.headers.get("Content-Security-Policy")
    assert header, f"{response.request['PATH_INFO']} sends no Content-Security-Policy"
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def assert_console_policy(response: Any) -> None:
    csp = policy(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"], "scripts only from our origin: no 'unsafe-inline', no host"
    assert csp["style-src"] == ["'self'"]
    assert csp["img-src"] == ["'self'", "data:", "https:"]
    assert csp["connect-src"] == ["'self'", "ws://testserver", "wss://testserver"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["form-action"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]


@pytest.fixture
def chat_url(shop_a: Shop) -> str:
    buyer = factories.buyer(shop_a, "csp-b1", "买家小王")
    return f"/chat/{shop_a.pk}/?token={buyer_token(buyer)}"


def test_the_workbench_sends_the_policy(owner_client: Client) -> None:
    response = owner_client.get("/workbench/")
    assert response.status_code == 200
    assert_console_policy(response)


def test_the_buyer_chat_page_and_its_expired_page_send_the_policy(
    client: Client, chat_url: str, shop_a: Shop
) -> None:
    page = client.get(chat_url)
    assert page.status_code == 200
    assert_console_policy(page)
    expired = client.get(f"/chat/{shop_a.pk}/?token=bad")
    assert expired.status_code == 403
    assert_console_policy(expired)


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/backoffice/buyer/",
        "/admin/backoffice/staffaccount/add/",
        "/admin/phrases/phrase/import/",
    ],
)
def test_admin_pages_send_the_policy(owner_client: Client, url: str) -> None:
    response = owner_client.get(url)
    assert response.status_code == 200
    assert_console_policy(response)


def test_the_sign_in_page_and_the_console_home_send_the_policy(client: Client, owner: StaffAccount) -> None:
    login = client.get("/admin/login/")
    assert login.status_code == 200
    assert_console_policy(login)
    client.force_login(owner.user)
    home = client.get("/")
    assert home.status_code == 200
    assert_console_policy(home)


def test_the_socket_sources_name_the_host_the_page_was_asked_for(owner_client: Client) -> None:
    response = owner_client.get("/workbench/", HTTP_HOST="127.0.0.1:8000")
    assert policy(response)["connect-src"] == ["'self'", "ws://127.0.0.1:8000", "wss://127.0.0.1:8000"]


def test_a_refused_host_gets_the_static_policy_and_no_error(client: Client) -> None:
    response = client.get("/admin/login/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert policy(response)["connect-src"] == ["'self'"]


def test_no_template_has_inline_script_style_or_handlers() -> None:
    """What the policy would refuse: each page's scripts and styles are static files instead."""
    found = []
    for directory in TEMPLATE_DIRS:
        for template in directory.rglob("*.html"):
            for number, line in enumerate(template.read_text().splitlines(), start=1):
                if INLINE.search(line):
                    found.append(f"{template.relative_to(settings.BASE_DIR)}:{number}: {line.strip()}")
    assert found == []


def test_the_inline_pattern_finds_what_the_policy_refuses() -> None:
    refused = [
        "<script>x()</script>",
        "<style>b{}</style>",
        '<p style="x">',
        '<a onclick="x()">',
        '<a href="javascript:x()">',
    ]
    allowed = ['<script src="/static/a.js"></script>', '<script id="d" type="application/json">{}</script>']
    assert all(INLINE.search(html) for html in refused)
    assert not any(INLINE.search(html) for html in allowed)


# --- the API docs page -------------------------------------------------------------------------------------


def test_the_api_docs_page_serves_swagger_ui_from_our_static_files(client: Client) -> None:
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert_console_policy(response)
    html = response.content.decode()
    references = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert references, "the docs page loads no script or stylesheet"
    assert [ref for ref in references if re.match(r"(https?:)?//", ref)] == [], "a CDN or other host"
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert {Path(s).name for s in scripts} == {"swagger-ui-bundle.js", "swagger-ui-init.js"}
    for ref in references:
        assert ref.startswith(settings.STATIC_URL)
        assert finders.find(ref.removeprefix(settings.STATIC_URL)), f"{ref} is not one of our static files"
    assert not INLINE.search(html), "Swagger UI's setup is a static file, not an inline script"


def test_the_api_docs_ask_no_online_validator(client: Client) -> None:
    html = client.get("/api/v1/docs").content.decode()
    match = re.search(r'<script type="application/json" id="swagger-settings">(.*?)</script>', html, re.S)
    assert match
    swagger = json.loads(match.group(1))
    assert swagger["validatorUrl"] is None
    assert swagger["url"] == "/api/v1/openapi.json"
