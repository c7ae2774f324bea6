"""``/openapi.json`` names every route of the gateway, and only those: it cannot drift."""

from __future__ import annotations

import json

import pytest
from aiohttp import web
from openapi_spec_validator import validate

from gateway.app import make_app
from gateway.openapi import document
from pipeline.runtime.settings import Settings

pytestmark = pytest.mark.unit
STATIC = "/static/{filename}"


def app_routes() -> set[tuple[str, str]]:
    """(method, path) of every route; a HEAD that aiohttp adds to a GET is that GET's."""
    # Routes only: the backends open at start-up, not here. Admin routes on the public
    # listener, so the document with them is compared.
    app = make_app(Settings(gateway={"admin_listener": "public"}))
    routes: set[tuple[str, str]] = set()
    handlers: dict[tuple[str, str], object] = {}
    for route in app.router.routes():
        resource = route.resource
        assert resource is not None
        path = STATIC if isinstance(resource, web.StaticResource) else resource.canonical
        handlers[(route.method, path)] = route.handler
    for (method, path), handler in handlers.items():
        if method == "HEAD" and handlers.get(("GET", path)) == handler:
            continue
        routes.add((method.lower(), path))
    return routes


def documented() -> set[tuple[str, str]]:
    paths = document(admin=True)["paths"]
    return {(method, path) for path, item in paths.items() for method in item}


def test_every_route_is_in_the_document_and_nothing_else() -> None:
    missing = app_routes() - documented()
    extra = {op for op in documented() - app_routes() if op[0] != "head"}
    assert missing == set(), "add these routes to gateway/openapi.py"
    assert extra == set(), "the document names routes the gateway does not have"


def test_without_public_admin_routes_the_document_has_none() -> None:
    assert not [p for p in document()["paths"] if p.startswith("/v1/admin/")]
    assert not [r for r in make_app(Settings()).router.resources() if "admin" in r.canonical]


def test_it_is_openapi_3_1_with_an_error_body_on_every_failure() -> None:
    doc = json.loads(json.dumps(document(admin=True)))
    assert doc["openapi"] == "3.1.0"
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            for status, answer in operation["responses"].items():
                if int(status) >= 400 and path != STATIC:
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path)


def test_it_is_valid_against_the_openapi_3_1_schema() -> None:
    validate(json.loads(json.dumps(document(admin=True))))  # raises naming the bad node
