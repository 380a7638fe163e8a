"""The OpenAPI schema (/api/v1/openapi.json) tells the truth about every operation: the error codes it can
answer, and bounds on everything it accepts. What an operation actually answers is checked by the schema
fuzz test (tests/test_api_fuzz.py); this checks the rules, so that a new operation cannot leave them out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import models
from django.test import Client

from backoffice.models import Buyer, Order, OrderItem, Product


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return Client().get("/api/v1/openapi.json").json()  # type: ignore[no-any-return]


def operations(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def expected_errors(operation: dict[str, Any]) -> set[str]:
    """401 for everyone (every operation needs a key or a session); 403 for signed-in staff (no account in
    the shop, a missing right, no CSRF token); 400 and 422 with a body (not JSON; invalid); 422 with any
    parameter; 404 where an id in the path is looked up."""
    locations = {parameter["in"] for parameter in operation.get("parameters", [])}
    schemes = {name for requirement in operation.get("security", []) for name in requirement}
    codes = {"401"}
    if "SessionAuth" in schemes:
        codes.add("403")
    if "requestBody" in operation:
        codes |= {"400", "422"}
    if locations:
        codes.add("422")
    if "path" in locations:
        codes.add("404")
    return codes


def test_every_operation_documents_its_error_codes(schema: dict[str, Any]) -> None:
    wrong = {}
    for label, operation in operations(schema):
        documented = {code for code in operation["responses"] if code.startswith("4")}
        missing = expected_errors(operation) - documented
        # 409 (a changed state) and a 404 for an id in the body are the operation's own to document.
        extra = documented - expected_errors(operation) - {"404", "409"}
        if missing or extra:
            wrong[label] = {"missing": sorted(missing), "never answered": sorted(extra)}
    assert not wrong, wrong


def test_every_error_response_has_the_error_schema(schema: dict[str, Any]) -> None:
    for label, operation in operations(schema):
        for code, response in operation["responses"].items():
            if code.startswith("4"):
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/ErrorOut", (label, code)


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """The schema a node stands for: through references and one-branch ``allOf`` wrappers."""
    while True:
        if "$ref" in node:
            node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
        elif len(node.get("allOf", [])) == 1:
            node = node["allOf"][0]
        else:
            return node


def unbounded(schema: dict[str, Any], node: dict[str, Any], where: str) -> Iterator[str]:
    """Places in an input schema that take a string, list or map of any size."""
    node = resolve(schema, node)
    for branch in node.get("anyOf", []) + node.get("allOf", []):
        yield from unbounded(schema, branch, where)
    kind = node.get("type")
    if kind == "string" and not ({"maxLength", "enum", "const", "pattern"} & node.keys()):
        if node.get("format") not in {"date-time", "binary"}:  # both parsed to a bounded value
            yield where
    if kind == "array":
        if "maxItems" not in node:
            yield where
        yield from unbounded(schema, node.get("items", {}), f"{where}[]")
    if kind == "object":
        yield from unbounded_members(schema, node, where)


def unbounded_members(schema: dict[str, Any], node: dict[str, Any], where: str) -> Iterator[str]:
    for name, value in node.get("properties", {}).items():
        yield from unbounded(schema, value, f"{where}.{name}")
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        if "maxProperties" not in node:
            yield where
        yield from unbounded(schema, node.get("propertyNames", {"type": "string"}), f"{where}{{key}}")
        yield from unbounded(schema, extra, f"{where}{{}}")
    for pattern, value in node.get("patternProperties", {}).items():
        yield from unbounded(schema, value, f"{where}{{{pattern}}}")


def test_every_string_list_and_map_the_api_accepts_is_bounded(schema: dict[str, Any]) -> None:
    found: list[str] = []
    for label, operation in operations(schema):
        for parameter in operation.get("parameters", []):
            found += unbounded(schema, parameter["schema"], f"{label} {parameter['in']}:{parameter['name']}")
        for content in operation.get("requestBody", {}).get("content", {}).values():
            found += unbounded(schema, content["schema"], f"{label} body")
    assert not found, found


def longest(schema: dict[str, Any], node: dict[str, Any]) -> int | None:
    node = resolve(schema, node)
    lengths = [longest(schema, branch) for branch in node.get("anyOf", [])] + [node.get("maxLength")]
    known = [length for length in lengths if length is not None]
    return max(known) if known else None


@pytest.mark.parametrize(
    ("component", "model"),
    [("BuyerIn", Buyer), ("ProductIn", Product), ("OrderIn", Order), ("OrderItemIn", OrderItem)],
)
def test_pushed_records_fit_their_columns(
    schema: dict[str, Any], component: str, model: type[models.Model]
) -> None:
    """The integration's records are stored as sent: a string the schema lets through must fit its column
    (a 501-character URL passed the schema's 2,083 and failed the insert)."""
    checked = 0
    for name, node in schema["components"]["schemas"][component]["properties"].items():
        field = next((f for f in model._meta.get_fields() if f.name == name), None)
        column = getattr(field, "max_length", None)
        if column is not None and "enum" not in resolve(schema, node):  # a choice: the enum bounds it
            assert longest(schema, node) == column, (component, name)
            checked += 1
    assert checked
