"""Property-based tests of the JSON API from its own OpenAPI schema (schemathesis), in-process over WSGI.

Every operation is called with generated input as the caller it is meant for: the integration operations
with shop A's API key, the staff operations as shop A's owner, signed in (session cookie and CSRF token).
Valid input (per the schema) reaches existing rows: its path parameters name a real chat, phrase, group,
account, buyer, product and order. Invalid input (a wrong type, a string too long, a malformed body) comes
with generated path parameters. Two checks for every answer: no 5xx, and a status code the operation
documents.

Bounded and deterministic (a fixed number of examples per operation and mode, derandomized) so that it runs
in the normal suite. CI runs it on PostgreSQL, where a NUL character in a query is an error (SQLite stores
it). Each call runs in a savepoint that is rolled back afterwards, so that one call's error or data cannot
spoil the next and a failure reproduces from its example alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import status_code_conformance

from backoffice.models import Shop, StaffAccount
from phrases import services as phrase_services
from routing import services as routing_services
from tests.backoffice import factories
from tests.conftest import login_client

CSRF_TOKEN = "fuzzfuzz" * 4  # any 32 letters and digits are a valid CSRF secret
EXAMPLES = {GenerationMode.POSITIVE: 8, GenerationMode.NEGATIVE: 6}
CHECKS = [not_a_server_error, status_code_conformance]

# Dates and URLs the way integrations send them, so that valid records get past the first check and reach
# the database: dates in the accepted range (2000-2100 UTC) with offsets from -14:00 to +14:00, which put
# the edges just outside it, and http(s) URLs of every length up to well beyond the column's.
_OFFSETS = st.sampled_from([timezone(timedelta(hours=h)) for h in (0, 8, -14, 14)])
_DATES = st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=_OFFSETS)  # noqa: DTZ001
schemathesis.openapi.format("date-time", _DATES.map(datetime.isoformat))
schemathesis.openapi.format(
    "uri",
    st.builds(
        "{}://shop.example.com/{}".format,
        st.sampled_from(["http", "https"]),
        st.text(alphabet="abcxyz019/-_%", max_size=2200),
    ),
)


@pytest.fixture
def wsgi_app(settings: Any) -> Iterator[WSGIHandler]:
    """The Django application over WSGI, in the test's transaction: like Django's test client, it leaves
    the connection open at the end of each request."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]  # schemathesis's WSGI host
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def known_ids(shop_a: Shop, owner: StaffAccount, teammate: StaffAccount) -> dict[str, Any]:
    """Rows of shop A for valid input to reach, by path parameter name."""
    buyer = factories.buyer(shop_a, "x1")
    factories.product(shop_a, "x1")
    order = factories.order(shop_a, "x1", buyer_platform_id="x1")
    routing_services.set_agent_status(staff=owner, status="online")
    chat, _decision = routing_services.request_human(buyer=buyer)
    group = phrase_services.create_group(actor=owner, scope=phrase_services.TEAM, name="售后")
    phrase = phrase_services.create_phrase(
        actor=owner, scope=phrase_services.TEAM, content="亲，在的", code="zd", keywords=["在吗"], group=group
    )
    from backoffice.models import ServiceRequest
    from backoffice.operations import service_requests

    service_requests.receive_service_requests(
        shop=shop_a,
        records=[{"number": "x1", "category": "urgent", "subject": "工单", "received_at": order.created_at}],
    )
    from backoffice.operations import aftersale

    made = aftersale.create_request(shop=shop_a, order=order, kind="refund_only", reason="other")
    import tempfile

    from django.test import override_settings

    from backoffice.operations import delays
    from tests.routing.images import image_bytes

    with override_settings(MEDIA_ROOT=tempfile.mkdtemp(prefix="ops-evidence-")):  # not var/media
        report = delays.report_delay(
            actor=owner,
            reason="weather",
            order_numbers=[order.number],
            files=[delays.Upload(name="n.png", data=image_bytes("PNG", (20, 20)))],
        )
    return {
        "report_id": report.pk,
        "request_id": ServiceRequest.objects.get(shop=shop_a, number="x1").pk,  # a service request's
        "after_sale_id": made.pk,
        "order_id": order.pk,
        "platform_id": "x1",  # a buyer's and a product's
        "number": order.number,
        "conversation_id": chat.pk,
        "phrase_id": phrase.pk,
        "group_id": group.pk,
        "staff_id": teammate.pk,
    }


# Strings that broke the edge before (libFuzzer-style dictionaries): a NUL character, which PostgreSQL
# refuses in text and JSON, and digits that ``str.isdigit`` takes and ``int`` refuses. A generated string
# is one of them at times; integrations' orders name the buyer and products that exist.
CONFIG = schemathesis.Config.from_dict(
    {
        "dictionaries": {"hostile": {"values": ["\x00", "a\x00b", "²", "١٢"]}, "known": {"values": ["x1"]}},
        "generation": {"dictionaries": {"string": {"dictionary": "hostile", "probability": 0.1}}},
        "parameters": {
            "body.records[*].buyer_platform_id": {"dictionary": "known", "probability": 0.9},
            "body.records[*].items[*].product_platform_id": {"dictionary": "known", "probability": 0.9},
            "body.records[*].order_number": {"dictionary": "known", "probability": 0.9},
        },
    }
)


def api_schema(wsgi_app: WSGIHandler) -> Any:
    from backoffice.urls import api  # the assembly at the top: only tests import it

    schema = schemathesis.openapi.from_dict(api.get_openapi_schema(path_prefix="/api/v1/"), config=CONFIG)
    schema.app = wsgi_app
    return schema


def caller(operation: Any, key: str, session: str) -> dict[str, Any]:
    """The headers and cookies of the caller an operation is meant for: an integration (API key) or a
    signed-in staff member."""
    schemes = {name for requirement in operation.definition.raw.get("security", []) for name in requirement}
    if "HeaderKey" in schemes:
        return {"headers": {"X-API-Key": key}}
    return {
        "headers": {"X-CSRFToken": CSRF_TOKEN},
        "cookies": {"sessionid": session, "csrftoken": CSRF_TOKEN},
    }


def fuzz(operation: Any, mode: GenerationMode, path_parameters: dict[str, Any], call: dict[str, Any]) -> None:
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES[mode],
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        savepoint = transaction.savepoint()
        try:
            response = case.call(**call)
        finally:
            transaction.savepoint_rollback(savepoint)
        case.validate_response(response, checks=CHECKS)

    run()


def modes(operation: Any) -> list[GenerationMode]:
    """Both modes; an operation without parameters or body has no invalid input."""
    has_input = bool(
        operation.definition.raw.get("parameters") or operation.definition.raw.get("requestBody")
    )
    return [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if has_input else [GenerationMode.POSITIVE]


@pytest.mark.django_db
def test_every_operation_answers_generated_input_without_5xx_and_with_documented_codes(
    wsgi_app: WSGIHandler, known_ids: dict[str, Any], owner: StaffAccount, key_a: str
) -> None:
    schema = api_schema(wsgi_app)
    session = login_client(owner).cookies["sessionid"].value
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        names = [p["name"] for p in operation.definition.raw.get("parameters", []) if p["in"] == "path"]
        for mode in modes(operation):
            known = {name: known_ids[name] for name in names} if mode == GenerationMode.POSITIVE else {}
            try:
                fuzz(operation, mode, known, caller(operation, key_a, session))
            except (AssertionError, FailureGroup) as exc:  # every operation's failures, reported together
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
