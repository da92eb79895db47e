"""GET /docs/spec (route 44): the OpenAPI document, generated from the route table.

What a client relies on: the document is served as YAML or as a page by
Accept (415, 12024 otherwise), validates as OpenAPI 3, covers every route of
the contract and of the route table, and says what the server really does --
the bodies it takes, the parameters and their limits, the answers and their
error codes. The schemathesis run against a real server is in
test_openapi_fuzz.py.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from litestar import get
from litestar.routes import HTTPRoute
from openapi_spec_validator import validate as validate_openapi

from tests import conftest
from tests.conftest import ADMIN, HTML
from webapp.accounts.service import ACCOUNT_SCHEMA, PASSWORD_SCHEMA
from webapp.app import create_app
from webapp.docs import openapi
from webapp.notify.policy import NOTIFICATION_POLICY_SCHEMA
from webapp.tasks.schemas import additional_extract_schema, gc_schema

YAML = {"Accept": "application/x-yaml"}
ID_RE = re.compile(r"^[0-9]{10},[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

CONTRACT = [
    # ROUTES.md, routes 1-50 ({api} is /4), then the extensions the app has.
    ("GET", "/"),
    ("GET", "/version"),
    ("GET", "/accounts"),
    ("GET", "/accounts/{account_id}"),
    ("GET", "/accounts/{account_id}/lists"),
    ("GET", "/tasks"),
    ("GET", "/4/luna_sys_info"),
    ("GET", "/4/login"),
    ("POST", "/4/login"),
    ("PATCH", "/4/login"),
    ("DELETE", "/4/login"),
    ("GET", "/4/search"),
    ("GET", "/4/accounts"),
    ("POST", "/4/accounts"),
    ("GET", "/4/accounts/{account_id}"),
    ("PUT", "/4/accounts/{account_id}"),
    ("DELETE", "/4/accounts/{account_id}"),
    ("GET", "/4/lists"),
    ("GET", "/4/lists/{list_id}"),
    ("GET", "/4/tasks"),
    ("GET", "/4/tasks/count"),
    ("GET", "/4/tasks/{task_id}"),
    ("PATCH", "/4/tasks/{task_id}"),
    ("DELETE", "/4/tasks/{task_id}"),
    ("GET", "/4/tasks/{task_id}/notification_policy"),
    ("PUT", "/4/tasks/{task_id}/notification_policy"),
    ("GET", "/4/tasks/{task_id}/result"),
    ("GET", "/4/tasks/{task_id}/errors"),
    ("GET", "/4/tasks/{task_id}/errors/count"),
    ("GET", "/4/tasks/{task_id}/subtasks"),
    ("GET", "/4/errors"),
    ("GET", "/4/errors/count"),
    ("GET", "/4/errors/{error_id}"),
    ("POST", "/4/tasks/gc"),
    ("POST", "/4/tasks/additional_extract"),
    ("POST", "/4/tasks/schedules"),
    ("GET", "/4/tasks/schedules"),
    ("GET", "/4/tasks/schedules/{schedule_id}"),
    ("PUT", "/4/tasks/schedules/{schedule_id}"),
    ("PATCH", "/4/tasks/schedules/{schedule_id}"),
    ("DELETE", "/4/tasks/schedules/{schedule_id}"),
    ("GET", "/docs/spec"),
    ("GET", "/docs/dev"),
    ("GET", "/config"),
    ("GET", "/healthcheck"),
    ("GET", "/4/healthcheck"),
    ("GET", "/plugins"),
    ("GET", "/metrics"),
    ("GET", "/4/tasks/schedules/preview"),
    ("POST", "/4/tasks/schedules/{schedule_id}/run"),
    ("GET", "/4/tasks/schedules/{schedule_id}/fires"),
    ("GET", "/docs/dev/{page}"),
]
"""Route 3 (GET /login, the sign-in page) is a page-only route, out of the schema."""


async def served(client: Any) -> dict[str, Any]:
    response = await client.get("/docs/spec", headers=YAML)
    assert response.status_code == 200, response.text
    return dict(yaml.safe_load(response.text))


def operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item}


def resolved(document: dict[str, Any], node: Any) -> Any:
    """`node` with every local $ref replaced by what it points at."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return resolved(document, target)
        return {key: resolved(document, value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolved(document, item) for item in node]
    return node


def answer_schema(
    document: dict[str, Any], method: str, path: str, status: int, media: str = "application/json"
) -> dict[str, Any]:
    response = document["paths"][path][method.lower()]["responses"][str(status)]
    return dict(resolved(document, response)["content"][media]["schema"])


def assert_documented(document: dict[str, Any], method: str, path: str, response: Any) -> None:
    """The answer's status is documented for the operation and its body fits."""
    schema = answer_schema(document, method, path, response.status_code)
    errors = list(Draft202012Validator(schema).iter_errors(response.json()))
    assert not errors, f"{method} {path} {response.status_code}: {errors[0].message}"


# ------------------------------------------------------------------ negotiation


@pytest.mark.parametrize("accept", ["application/x-yaml", "application/yaml", "text/yaml"])
async def test_the_document_is_yaml_for_each_yaml_name(client, accept):
    response = await client.get("/docs/spec", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == accept
    assert ID_RE.match(response.headers["luna-request-id"])
    document = yaml.safe_load(response.text)
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "luna-admin"


async def test_the_document_validates_as_openapi_3(client):
    validate_openapi(await served(client))


async def test_the_document_needs_no_credentials(client):
    response = await client.get("/docs/spec", headers=YAML)
    assert response.status_code == 200
    wrong = await client.get("/docs/spec", headers={**YAML, "Authorization": "Basic Zm9vOmJhcg=="})
    assert wrong.status_code == 200


@pytest.mark.parametrize(
    "accept",
    [
        "application/json",
        "*/*",
        "",
        "text/plain",
        "application/*",
        "application/x-yaml;q=0",
        "application/json, application/xml",
    ],
)
async def test_anything_but_yaml_or_html_is_refused_with_12024(client, accept):
    response = await client.get("/docs/spec", headers={"Accept": accept})
    assert response.status_code == 415
    body = response.json()
    assert body["error_code"] == 12024
    assert body["link"] == "/docs/errors#error-12024"


async def test_the_preferred_form_wins(client):
    yaml_first = await client.get(
        "/docs/spec", headers={"Accept": "text/html;q=0.5, application/x-yaml"}
    )
    assert yaml_first.headers["content-type"].startswith("application/x-yaml")
    html_first = await client.get(
        "/docs/spec", headers={"Accept": "application/x-yaml;q=0.4, text/html"}
    )
    assert html_first.headers["content-type"].startswith("text/html")
    assert "accept" in html_first.headers["vary"].lower()


async def test_a_browser_gets_the_document_as_a_page(client):
    document = await served(client)
    response = await client.get("/docs/spec", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    # Every operation is on the page, with its anchor, and the shared schemas too.
    for path, item in document["paths"].items():
        for operation in item.values():
            assert f'id="{operation["operationId"]}"' in page
        assert f"<strong>{path}</strong>" in page
    assert 'id="schema-Task"' in page
    assert (
        '<a href="/docs/errors#error-28001" title="Task with id &#39;{task_id}&#39; not found">'
        "28001</a>" in page
    )
    # Descriptions are Markdown: code spans are code, nothing is raw HTML.
    assert "<code>WWW-Authorization</code>" in page
    # Rendered here: nothing is loaded from another host.
    assert not re.search(r'(src|href)="(https?:)?//', page)
    scripts = re.findall(r"<script[^>]*>", page)
    assert all('src="/static/' in script for script in scripts), scripts


# ------------------------------------------------------------------ coverage


async def test_every_route_of_the_contract_is_documented(client):
    documented = operations(await served(client))
    assert [route for route in CONTRACT if route not in documented] == []


async def test_the_document_is_exactly_the_route_table(client, app):
    """Paths and methods come from the app's routes: every handler in the schema is
    there, and nothing else (form routes marked include_in_schema=False stay out)."""
    expected = set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.resolve_include_in_schema():
                expected |= {
                    (method, route.path_format)
                    for method in handler.http_methods
                    if method not in ("HEAD", "OPTIONS")
                }
    documented = operations(await served(client))
    assert documented == expected
    assert ("POST", "/accounts/{account_id}/delete") not in documented  # a page's form
    assert not any(path.startswith("/static") for _, path in documented)


def test_a_route_without_a_declaration_is_named():
    app = create_app(conftest.test_settings())

    @get("/undeclared-for-the-test", sync_to_thread=False)
    def undeclared() -> str:
        return "no declaration"

    app.register(undeclared)
    problems = openapi.missing_declarations(app)
    assert len(problems) == 1
    assert "GET /undeclared-for-the-test" in problems[0]
    assert "undeclared" in problems[0]
    with pytest.raises(openapi.MissingDeclarations):
        openapi.build(app)


def test_the_running_app_has_no_undeclared_route(app):
    assert openapi.missing_declarations(app) == []


# ------------------------------------------------------------------ bodies


async def test_bodies_are_the_schemas_the_handlers_validate_with(client):
    document = await served(client)
    schemas = document["components"]["schemas"]
    assert schemas["NewAccount"] == ACCOUNT_SCHEMA
    assert schemas["NewPassword"] == PASSWORD_SCHEMA
    assert schemas["NewGcTask"] == gc_schema()
    assert schemas["NewAdditionalExtractTask"] == additional_extract_schema()
    assert schemas["NotificationPolicy"] == NOTIFICATION_POLICY_SCHEMA

    def body_of(method: str, path: str) -> Any:
        operation = document["paths"][path][method]
        return operation["requestBody"]["content"]["application/json"]["schema"]

    assert body_of("post", "/4/accounts") == {"$ref": "#/components/schemas/NewAccount"}
    assert body_of("put", "/4/accounts/{account_id}") == body_of("post", "/4/accounts")
    assert body_of("patch", "/4/login") == {"$ref": "#/components/schemas/NewPassword"}
    assert body_of("put", "/4/tasks/{task_id}/notification_policy") == {
        "$ref": "#/components/schemas/NotificationPolicy"
    }
    # A schedule's task is checked against its task type's own schema.
    branches = schemas["NewSchedule"]["properties"]["task"]["oneOf"]
    by_type = {branch["properties"]["task_type"]["const"]: branch for branch in branches}
    assert set(by_type) == {4, 8}
    gc_branch = copy.deepcopy(by_type[4])
    gc_branch["properties"].pop("task_type")
    gc_branch["required"].remove("task_type")
    assert gc_branch == gc_schema()


async def test_the_server_takes_what_the_document_allows_and_refuses_the_rest(client):
    document = await served(client)
    schema = resolved(document, document["components"]["schemas"]["NewGcTask"])
    validator = Draft202012Validator(schema)
    good = {"content": {"target": "face_descriptors", "filters": {"descriptor_version": 54}}}
    bad = {"content": {"target": "faces", "filters": {"descriptor_version": 54}}}
    assert validator.is_valid(good) and not validator.is_valid(bad)

    created = await client.post("/4/tasks/gc", json=good, headers=ADMIN)
    assert created.status_code == 201
    assert_documented(document, "POST", "/4/tasks/gc", created)
    refused = await client.post("/4/tasks/gc", json=bad, headers=ADMIN)
    assert refused.status_code == 400
    assert refused.json()["error_code"] == 12022
    assert_documented(document, "POST", "/4/tasks/gc", refused)


# ------------------------------------------------------------------ answers


async def test_answers_fit_the_documented_schemas(client):
    document = await served(client)
    created = await client.post(
        "/4/tasks/gc",
        json={"content": {"target": "faces", "filters": {}}, "description": "doc"},
        headers=ADMIN,
    )
    task_id = created.json()["task_id"]
    assert created.headers["location"] == f"/4/tasks/{task_id}"
    for method, path, url, status in [
        ("GET", "/4/accounts", "/4/accounts", 200),
        ("GET", "/4/tasks", "/4/tasks", 200),
        ("GET", "/4/tasks/{task_id}", f"/4/tasks/{task_id}", 200),
        ("GET", "/4/tasks/{task_id}/subtasks", f"/4/tasks/{task_id}/subtasks", 200),
        ("GET", "/4/tasks/count", "/4/tasks/count?task_type=4", 200),
        ("GET", "/4/tasks/{task_id}", "/4/tasks/999999", 404),
        ("GET", "/4/tasks/{task_id}", "/4/tasks/abc", 400),
        ("GET", "/4/accounts", "/4/accounts?page_size=1001", 400),
        ("GET", "/version", "/version", 200),
    ]:
        response = await client.get(url, headers=ADMIN)
        assert response.status_code == status, (url, response.text)
        assert_documented(document, method, path, response)
        assert ID_RE.match(response.headers["luna-request-id"])


async def test_each_operation_lists_its_error_codes(client):
    document = await served(client)

    def codes(method: str, path: str, status: int) -> list[int]:
        schema = answer_schema(document, method, path, status)
        return list(schema["allOf"][1]["properties"]["error_code"]["enum"])

    assert codes("GET", "/4/tasks/{task_id}", 404) == [28001]
    assert codes("PATCH", "/4/tasks/{task_id}", 400) == [12012, 12046, 28019, 29005, 29227, 29301]
    assert codes("GET", "/version", 408) == [29225]
    assert 12010 in codes("GET", "/4/accounts", 401)
    assert codes("DELETE", "/4/accounts/{account_id}", 409) == [29006]
    assert codes("GET", "/docs/spec", 415) == [12024]
    assert "401" not in document["paths"]["/version"]["get"]["responses"]
    # The body-related codes only where there is a body; a body of another type is 12002.
    assert 12022 in codes("POST", "/4/tasks/gc", 400)
    assert 12022 not in codes("GET", "/4/tasks", 400)
    assert 12002 in codes("PATCH", "/4/login", 400)
    assert codes("POST", "/4/accounts", 413) == [29220, 29221, 29223, 37003]
    assert 29224 in codes("POST", "/4/accounts", 400)


async def test_the_document_describes_the_answers_of_issue_9(client):
    document = await served(client)
    paths = document["paths"]

    def codes(method: str, path: str, status: int) -> list[int]:
        schema = answer_schema(document, method, path, status)
        return list(schema["allOf"][1]["properties"]["error_code"]["enum"])

    # POST /4/login: 201 with no body, so no content described; only the cookie.
    signed_in = paths["/4/login"]["post"]["responses"]["201"]
    assert "content" not in signed_in
    assert set(signed_in["headers"]) == {"Luna-Request-Id", "Set-Cookie"}
    for path, item in paths.items():
        for method, operation in item.items():
            responses = operation["responses"]
            # A database that cannot be reached: 503 29201, on every operation.
            assert codes(method, path, 503) == [29201], (method, path)
            # No body of another type is 415 any more: that is 12002.
            if "requestBody" in operation:
                assert "415" not in responses, (method, path)
                assert 12002 in codes(method, path, 400)
            # Every change, and only a change, can be refused as cross-site.
            unsafe = method != "get"
            assert (unsafe and 29200 in codes(method, path, 403)) or (
                not unsafe and ("403" not in responses or 29200 not in codes(method, path, 403))
            ), (method, path)
    # /config and /plugins are public, as the reference shows them.
    for path in ("/config", "/plugins"):
        assert paths[path]["get"]["security"] == []
        assert "401" not in paths[path]["get"]["responses"]


async def test_query_parameters_have_the_limits_the_handlers_check(client):
    """For every GET without path parameters: each documented integer bound and enum
    is where the server draws the line (the value inside taken, outside refused with
    12012 naming the parameter). Required parameters get their documented example."""
    document = await served(client)
    checked = 0
    for path, item in document["paths"].items():
        operation = item.get("get")
        if operation is None or "{" in path or not path.startswith("/4/"):
            continue
        required = {
            p["name"]: p["schema"]["examples"][0]
            for p in operation["parameters"]
            if "$ref" not in p and p.get("required") and "examples" in p["schema"]
        }
        for param in operation["parameters"]:
            if "$ref" in param or param["in"] != "query":
                continue
            schema = param["schema"]
            cases = []
            if "maximum" in schema:
                cases += [(schema["maximum"], True), (schema["maximum"] + 1, False)]
            if "minimum" in schema:
                cases += [(schema["minimum"], True), (schema["minimum"] - 1, False)]
            if "enum" in schema and schema.get("type") == "integer":
                cases += [(schema["enum"][0], True), (max(schema["enum"]) + 1, False)]
            for value, allowed in cases:
                params = {**required, param["name"]: value}
                response = await client.get(path, params=params, headers=ADMIN)
                checked += 1
                if allowed:
                    assert response.status_code == 200, (path, param["name"], value, response.text)
                else:
                    assert response.status_code == 400, (path, param["name"], value)
                    assert response.json()["detail"] == (f"Bad query parameters '{param['name']}'")
    assert checked > 40


async def test_the_request_id_parameter_is_the_one_the_server_checks(client):
    document = await served(client)
    parameter = document["components"]["parameters"]["LunaRequestId"]
    pattern = re.compile(parameter["schema"]["pattern"])
    good = "1536751345,8b8b5937-2e9c-4e8b-a7a7-5caf86621b5a"
    assert pattern.match(good)
    answer = await client.get("/version", headers={"Luna-Request-Id": good})
    assert answer.headers["luna-request-id"] == good
    for bad in ("", "1536751345,8B8B5937-2E9C-4E8B-A7A7-5CAF86621B5A", "nope"):
        assert not pattern.match(bad)
        refused = await client.get("/version", headers={"Luna-Request-Id": bad})
        assert refused.status_code == 400, bad
        assert refused.json()["error_code"] == 29005


async def test_security_follows_the_guards(client):
    document = await served(client)
    paths = document["paths"]
    assert paths["/4/accounts"]["get"]["security"] == [{"basic": []}, {"session": []}]
    assert paths["/version"]["get"]["security"] == []
    assert paths["/docs/spec"]["get"]["security"] == []
    assert paths["/4/login"]["post"]["security"] == [{"basic": []}]
    schemes = document["components"]["securitySchemes"]
    assert schemes["basic"] == {
        "type": "http",
        "scheme": "basic",
        "description": schemes["basic"]["description"],
    }
    assert schemes["session"]["in"] == "cookie"
    assert schemes["session"]["name"] == "luna_admin_session"
    # And the server agrees: no credentials, 401 on a guarded route only.
    assert (await client.get("/4/accounts")).status_code == 401
    assert (await client.get("/version")).status_code == 200


async def test_a_repeated_or_empty_parameter_is_as_the_document_says(client):
    """allowEmptyValue: `page=` is no page; a parameter given twice is refused."""
    document = await served(client)
    page = next(
        p for p in document["paths"]["/4/accounts"]["get"]["parameters"] if p.get("name") == "page"
    )
    assert page["allowEmptyValue"] is True
    empty = await client.get("/4/accounts?page=&page_size=", headers=ADMIN)
    assert empty.status_code == 200
    twice = await client.get("/4/accounts?page=1&page=2", headers=ADMIN)
    assert twice.status_code == 400
    assert twice.json()["detail"] == "Bad query parameters 'page'"
