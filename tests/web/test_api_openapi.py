"""The OpenAPI document: it describes every route of the API and nothing else, it is a valid OpenAPI 3.1
document, and the real answers have the shapes it gives."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Route

from hub.config import Settings
from hub.web import create_app
from hub.web.api import OPERATIONS, openapi_document
from hub.web.api_schema import API_PREFIX, DOCUMENT_PATH, Who
from hub.web.kit import page_translations
from tests.web.conftest import Site
from tests.web.test_api import PRINCIPAL, TEACHER, Api
from tests.web.test_api_authz import _sample_ids, _url

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _api_routes(tmp_path: Path) -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every route the app serves under /api/v1, and the document's own."""
    app = create_app(Settings(data_dir=tmp_path, database_url=f"sqlite://{tmp_path / 'x.sqlite3'}"))
    found = set()
    for route in app.routes:
        if not isinstance(route, Route):
            continue
        if not (route.path.startswith(API_PREFIX + "/") or route.path == DOCUMENT_PATH):
            continue
        path = re.sub(r"{(\w+):\w+}", r"{\1}", route.path)
        found |= {(method, path) for method in route.methods or () if method != "HEAD"}
    return found


def test_every_route_is_described_and_every_description_is_a_route(tmp_path: Path) -> None:
    document = openapi_document()
    described = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item if method in HTTP_METHODS
    }
    routes = _api_routes(tmp_path)
    assert routes == described
    assert len(routes) == len(OPERATIONS) > 20


def test_the_document_is_valid_openapi_3_1() -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(openapi_document())


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [node["$ref"]] if isinstance(node.get("$ref"), str) else [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_the_document_holds_together() -> None:
    """Checks that hold whatever validator is installed: references, parameters, security, ids."""
    document = openapi_document()
    assert document["openapi"] == "3.1.0"
    schemas = document["components"]["schemas"]
    for ref in _refs(document):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
    schemes = set(document["components"]["securitySchemes"])
    assert schemes == {"session", "csrf"}
    ids = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            ids.append(operation["operationId"])
            in_path = {p["name"] for p in operation.get("parameters", ()) if p["in"] == "path"}
            assert in_path == set(re.findall(r"{(\w+)}", path)), (method, path)
            statuses = set(operation["responses"])
            assert any(s.startswith("2") for s in statuses)
            for requirement in operation.get("security", document["security"]):
                assert set(requirement) <= schemes
            if method in {"post", "delete"} and operation.get("security") != []:
                assert operation["security"] == [{"session": [], "csrf": []}], (method, path)
                assert "403" in statuses
            if operation.get("security") != []:
                assert "401" in statuses
            if in_path:
                assert "404" in statuses
            if "requestBody" in operation:
                assert {"415", "422"} <= statuses
    assert len(ids) == len(set(ids)) == len(OPERATIONS)


def test_the_app_serves_the_document(site: Site) -> None:
    response = site.client.get(DOCUMENT_PATH)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.json() == openapi_document()


@pytest.mark.parametrize("lang", ["fr", "nl"])
def test_every_summary_is_translated_for_the_api_page(lang: str) -> None:
    catalog = page_translations(lang)._catalog
    missing = [op.summary for op in OPERATIONS if not catalog.get(op.summary)]
    assert not missing


def test_the_answers_have_the_documented_shapes(site: Site) -> None:
    """Every GET of the table, for each kind of person it serves, answers what its response model describes."""
    ids = _sample_ids(site)
    checked: set[str] = set()
    for kind, email in (("guardian", ""), ("staff", TEACHER), ("staff", PRINCIPAL)):
        api = Api(site)
        if email:
            api.sign_in_staff(email)
        else:
            api.sign_in_guardian(ids["guardian"]["guardian"])
        for op in OPERATIONS:
            if op.method != "GET" or op.who not in (Who.PUBLIC, Who.SIGNED_IN, Who(kind)):
                continue
            response = site.client.get(_url(op, ids[kind]))
            assert response.status_code == op.status, (op.path, response.text)
            assert op.response is not None
            op.response.model_validate(response.json())
            checked.add(op.path)
    assert checked == {op.path for op in OPERATIONS if op.method == "GET"}
