"""``/openapi.json`` cannot drift from the router: every route is documented, nothing more."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from gateway.app import make_app
from gateway.openapi import document, documented, routed
from pipeline.runtime.settings import Settings

pytestmark = pytest.mark.unit


def test_every_route_is_documented_and_every_documented_route_exists() -> None:
    routes = routed(make_app(Settings()).router)
    paths = documented(document())
    missing, stale = sorted(routes - paths), sorted(paths - routes)
    assert not missing, f"routes without an entry in gateway/openapi.py: {missing}"
    assert not stale, f"gateway/openapi.py documents routes the app lacks: {stale}"


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    validate(doc)  # raises OpenAPIValidationError naming the bad node


def test_every_authenticated_operation_documents_the_error_body_for_401() -> None:
    doc = document()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if path.startswith("/v1/") and operation.get("security") != []:
                assert operation["responses"]["401"] == {"$ref": "#/components/responses/401"}, (
                    method,
                    path,
                )
