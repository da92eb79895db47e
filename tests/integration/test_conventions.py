"""Cross-cutting HTTP: request ids, the error format, negotiation, Exclude-Header."""

from __future__ import annotations

import re

from tests.conftest import ADMIN, HTML

ID_RE = re.compile(r"^[0-9]{10},[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


async def test_version_needs_no_auth_and_reports_the_api(client):
    response = await client.get("/version")
    assert response.status_code == 200
    version = response.json()["Version"]
    assert version["api"] == 4
    assert {"major", "minor", "patch"} <= set(version)


async def test_request_id_is_generated_when_absent(client):
    response = await client.get("/version")
    assert ID_RE.match(response.headers["luna-request-id"])


async def test_request_id_is_echoed_when_well_formed(client):
    rid = "1536751345,8b8b5937-2e9c-4e8b-a7a7-5caf86621b5a"
    response = await client.get("/version", headers={"Luna-Request-Id": rid})
    assert response.headers["luna-request-id"] == rid


async def test_malformed_request_id_is_refused(client):
    response = await client.get("/4/accounts", headers={**ADMIN, "Luna-Request-Id": "nope"})
    assert response.status_code == 400
    assert response.json()["error_code"] == 29005
    assert ID_RE.match(response.headers["luna-request-id"])


async def test_request_id_is_on_framework_errors_too(client):
    response = await client.get("/no/such/route", headers=ADMIN)
    assert response.status_code == 404
    assert ID_RE.match(response.headers["luna-request-id"])
    body = response.json()
    assert body["error_code"] == 12013
    assert set(body) == {"error_code", "desc", "detail", "link"}
    assert body["link"] == "/docs/errors#error-12013"


async def test_method_not_allowed_is_a_json_error(client):
    response = await client.patch("/4/accounts", headers=ADMIN)
    assert response.status_code == 405
    assert response.json()["error_code"] == 12021


async def test_missing_credentials_ask_for_basic_auth(client):
    response = await client.get("/4/accounts")
    assert response.status_code == 401
    assert response.json()["error_code"] == 12010
    assert response.headers["www-authenticate"] == 'Basic realm="luna-admin"'


async def test_exclude_header_drops_www_authenticate(client):
    response = await client.get("/4/accounts", headers={"Exclude-Header": "WWW-Authorization"})
    assert response.status_code == 401
    assert "www-authenticate" not in response.headers


async def test_json_is_the_default_and_html_is_negotiated(client):
    as_json = await client.get("/4/accounts", headers={**ADMIN, "Accept": "*/*"})
    assert as_json.headers["content-type"].startswith("application/json")
    as_page = await client.get("/4/accounts", headers={**ADMIN, **HTML})
    assert as_page.headers["content-type"].startswith("text/html")
    assert "<html" in as_page.text and "root@visionlabs.ai" in as_page.text
    partial = await client.get("/4/accounts", headers={**ADMIN, "HX-Request": "true"})
    assert partial.headers["content-type"].startswith("text/html")
    assert "<html" not in partial.text and 'id="accounts-table"' in partial.text


async def test_error_reference_lists_every_code(client):
    response = await client.get("/docs/errors")
    codes = {entry["error_code"] for entry in response.json()["errors"]}
    assert {11009, 12002, 12005, 12010, 12012, 12014, 12022, 12024, 15012} <= codes


UTC_SQL = "'2026-01-01T03:00:00.123456+03:00'::timestamptz"


async def test_times_are_answered_in_utc_with_milliseconds(client):
    from webapp import db

    row = await db.fetchrow(f"SELECT {db.iso_sql(UTC_SQL, 't')}")
    assert row is not None and row["t"] == "2026-01-01T00:00:00.123Z"


async def test_observers_hear_every_request_with_its_route_and_error_code(client, app):
    heard: list[tuple[str, str, int, int | None]] = []
    app.observers.append(
        lambda method, route, status, code, _seconds: heard.append((method, route, status, code))
    )
    try:
        await client.get("/version")
        await client.get("/4/tasks/12345", headers=ADMIN)
        await client.get("/no/such/route", headers=ADMIN)
        await client.get("/version", headers={"Luna-Request-Id": "nope"})
    finally:
        app.observers.pop()
    assert heard == [
        ("GET", "/version", 200, None),
        ("GET", "/4/tasks/{task_id}", 404, 28001),
        ("GET", "<unmatched>", 404, 12013),
        ("GET", "<unmatched>", 400, 29005),
    ]
