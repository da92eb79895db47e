"""No request, on any route, gets a 500 from garbage (issue 9, item 16).

Each class is sent to every route of the route table (and every documented time
filter and time field), not only where it was first found:

- headers with bytes past ASCII (latin-1, broken UTF-8) wherever they are read,
  the credentials and the session cookie included;
- paths with NUL, a bad percent-escape or percent-encoded bytes that are not
  UTF-8: refused before routing with 400 29227, static files included;
- query strings of garbage on every route;
- times that leave years 1-9999 when converted to UTC, in every time filter
  (400 12012 naming it), every time field of a body (400 12022), and the
  licence expiration setting (which then broke /system).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from litestar.routes import HTTPRoute

from tests import conftest
from tests.conftest import ADMIN, ADMIN_LOGIN, ADMIN_PASSWORD, HTML
from tests.integration.helpers import account_count, sign_in
from tests.integration.tasks_helpers import create_gc
from webapp import db
from webapp.app import create_app
from webapp.docs import openapi

APP = create_app(conftest.test_settings())
"""The route table and the OpenAPI document are read from an app of the test settings."""

ODD_VALUES = [b"\xc3\xa9t\xc3\xa9", b"\xff\xfe\x80 latin-1 \xe9", b"caf\xe9, http://[::1"]
ODD_HEADERS = [
    "accept",
    "accept-language",
    "accept-encoding",
    "content-type",
    "user-agent",
    "referer",
    "origin",
    "sec-fetch-site",
    "hx-current-url",
    "hx-target",
    "hx-trigger",
    "x-forwarded-for",
    "x-forwarded-proto",
    "exclude-header",
    "if-none-match",
    "if-modified-since",
    "range",
]
PARAMETER_VALUES = {
    "account_id": str(uuid.uuid4()),
    "list_id": str(uuid.uuid4()),
    "task_id": "1",
    "error_id": "1",
    "schedule_id": "1",
    "name": "LICENSE_EXPIRATION_TIME",
    "page": "index.html",
    "file_path": "css/app.css",
}
GARBAGE_QUERY = (
    "page=%00&page_size=%C3%28&q=%FF%FE&account_id=%E9&task_ids=1,%00&task_type=%2B&"
    "create_time__gte=%C3&event_time__lt=0001-01-01T00%3A00%3A00%2B14%3A00&cron=%00&"
    "cron_timezone=%C3%28&month=%E9&next=%00&action=%FF&include_luna_services=%C3&%00=%00"
)
OVERFLOWING_TIMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


def routes() -> list[tuple[str, str]]:
    """(method, concrete path) of every route of the app."""
    found = []
    for route in APP.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path = route.path_format
        for name in route.path_parameters:
            path = path.replace("{" + name + "}", PARAMETER_VALUES[name])
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            found.append((method, path))
    return found


ROUTES = routes()


def body_for(method: str) -> dict[str, Any]:
    return {"content": b"{}"} if method in ("POST", "PUT", "PATCH") else {}


async def test_headers_past_ascii_on_every_route(client):
    failures = []
    for method, path in ROUTES:
        for value in ODD_VALUES:
            headers: dict[str, Any] = {**ADMIN, "HX-Request": "true"}
            headers.update(dict.fromkeys(ODD_HEADERS, value))
            answer = await client.request(method, path, headers=headers, **body_for(method))
            if answer.status_code >= 500:
                failures.append((method, path, value, answer.text[:200]))
        for name, value in (
            ("Authorization", b"Basic " + ODD_VALUES[0]),
            ("Cookie", b"luna_admin_session=" + ODD_VALUES[1]),
        ):
            answer = await client.request(method, path, headers={name: value, **HTML})
            if answer.status_code >= 500:
                failures.append((method, path, name, answer.text[:200]))
        # Without credentials, from htmx: the 401 reads where the operator was.
        odd_url = {"HX-Request": "true", "HX-Current-URL": b"http://[caf\xe9/accounts"}
        answer = await client.request(method, path, headers=odd_url)
        if answer.status_code >= 500:
            failures.append((method, path, "HX-Current-URL", answer.text[:200]))
        odd_id = await client.request(method, path, headers={"Luna-Request-Id": ODD_VALUES[0]})
        if odd_id.status_code != 400 or odd_id.json()["error_code"] != 29005:
            failures.append((method, path, "Luna-Request-Id", odd_id.text[:200]))
    assert failures == []


async def test_headers_past_ascii_with_a_session_on_every_route(client):
    """The session cookie's checks (the origin of a change) read headers too."""
    failures = []
    for method, path in ROUTES:
        await sign_in(client, ADMIN_LOGIN, ADMIN_PASSWORD)
        for value in ODD_VALUES:
            headers: dict[str, Any] = {"HX-Request": "true"}
            headers.update(dict.fromkeys(ODD_HEADERS, value))
            answer = await client.request(method, path, headers=headers, **body_for(method))
            if answer.status_code >= 500:
                failures.append((method, path, value, answer.text[:200]))
        client.cookies.clear()
    # The sign-in form, whose origin is checked before any credential.
    for value in ODD_VALUES:
        answer = await client.post(
            "/login", data={"login": "a", "password": "b"}, headers={**HTML, "Origin": value}
        )
        if answer.status_code >= 500:
            failures.append(("POST", "/login", value, answer.text[:200]))
    assert failures == []


async def test_paths_with_nul_or_bad_escapes_on_every_route(client):
    failures = []
    for method, path in ROUTES:
        head, _, tail = path.rpartition("/")
        for spoiled in (
            f"{path}%00",
            f"{head}/%00{tail}",
            f"{path}%00.png",
            f"{head}/{tail}%ZZ",
            f"{head}/%C3%28{tail}",
            f"{head}/{tail}%E9",
        ):
            answer = await client.request(method, spoiled, headers=ADMIN, **body_for(method))
            if answer.status_code != 400 or answer.json()["error_code"] != 29227:
                failures.append((method, spoiled, answer.status_code, answer.text[:200]))
    assert failures == []


async def test_a_garbage_query_on_every_route(client):
    failures = []
    for method, path in ROUTES:
        for headers in (ADMIN, {**ADMIN, **HTML}):
            answer = await client.request(
                method, f"{path}?{GARBAGE_QUERY}", headers=headers, **body_for(method)
            )
            if answer.status_code >= 500:
                failures.append((method, path, answer.text[:200]))
    assert failures == []


def documented_time_parameters() -> list[tuple[str, str]]:
    document = openapi.document(APP)
    found = []
    for path, operations in document["paths"].items():
        for _method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if "date-time" in json.dumps(parameter):
                    found.append((path, parameter["name"]))
    return found


TIME_PARAMETERS = documented_time_parameters()


def test_the_time_filters_are_found():
    assert ("/4/accounts", "create_time__gte") in TIME_PARAMETERS
    assert ("/4/tasks", "end_time__lt") in TIME_PARAMETERS
    assert ("/audit", "event_time__gte") in TIME_PARAMETERS
    assert len(TIME_PARAMETERS) >= 30


async def test_times_overflowing_in_utc_in_every_filter(client):
    task_id = await create_gc(client, {"target": "faces", "filters": {}})
    failures = []
    for path, name in TIME_PARAMETERS:
        path = path.replace("{task_id}", str(task_id))
        for value in OVERFLOWING_TIMES:
            answer = await client.get(path, params={name: value}, headers=ADMIN)
            if answer.status_code != 400 or answer.json() != {
                "error_code": 12012,
                "desc": "Bad/incomplete input data",
                "detail": f"Bad query parameters '{name}'",
                "link": "/docs/errors#error-12012",
            }:
                failures.append((path, name, value, answer.text[:200]))
            page = await client.get(path, params={name: value}, headers={**ADMIN, **HTML})
            if page.status_code != 400:
                failures.append((path, name, value, "page", page.status_code))
        # The ends of the range that convert are valid filters.
        for value in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59+00:00"):
            answer = await client.get(path, params={name: value}, headers=ADMIN)
            if answer.status_code != 200:
                failures.append((path, name, value, answer.text[:200]))
    assert failures == []


GC = {"target": "faces", "filters": {}}
SCHEDULE = {"task": {"task_type": 4, "content": GC}, "trigger": {"cron": "0 3 * * *"}}
TIME_BODIES = {
    "NewGcTask": ("/4/tasks/gc", {"content": GC}, ("content", "filters")),
    "NewSchedule": ("/4/tasks/schedules", SCHEDULE, ("task", "content", "filters")),
}


def test_every_documented_time_field_of_a_body_is_sent_here():
    schemas = openapi.document(APP)["components"]["schemas"]
    documented = {
        name
        for name, schema in schemas.items()
        if name.startswith("New") and "date-time" in json.dumps(schema)
    }
    assert documented == set(TIME_BODIES)


async def _rows() -> tuple[int, int]:
    tasks = await db.fetchrow("SELECT count(*) AS n FROM task")
    schedules = await db.fetchrow("SELECT count(*) AS n FROM task_schedule")
    assert tasks is not None and schedules is not None
    return int(tasks["n"]), int(schedules["n"])


@pytest.mark.parametrize("body_schema", sorted(TIME_BODIES))
async def test_times_overflowing_in_utc_in_every_body(client, body_schema):
    for field in ("create_time__gte", "create_time__lt"):
        for value in OVERFLOWING_TIMES:
            await _send_time_in_body(client, body_schema, field, value)


async def _send_time_in_body(client: Any, body_schema: str, field: str, value: str) -> None:
    path, body, where = TIME_BODIES[body_schema]
    body = json.loads(json.dumps(body))
    target = body
    for key in where:
        target = target[key]
    target[field] = value
    answer = await client.post(path, json=body, headers=ADMIN)
    assert answer.status_code == 400, (field, value, answer.text)
    assert answer.json()["error_code"] == 12022
    assert await _rows() == (0, 0)
    # The same through the page form of the GC task.
    if body_schema == "NewGcTask":
        form = {"content.target": "faces", f"content.filters.{field}": value}
        page = await client.post("/tasks/gc", data=form, headers={**ADMIN, **HTML})
        assert 400 <= page.status_code < 500
        assert await _rows() == (0, 0)


@pytest.mark.parametrize(
    "value",
    [
        *OVERFLOWING_TIMES,
        "0999-12-31T00:00:00Z",  # stored as "999-...", which broke /system until reset
        "0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
    ],
)
async def test_a_licence_time_out_of_range_is_refused_and_changes_nothing(client, value):
    path = "/4/settings/LICENSE_EXPIRATION_TIME"
    answer = await client.patch(path, json={"value": value}, headers=ADMIN)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error_code"] == 12022
    page = await client.post(
        "/settings/LICENSE_EXPIRATION_TIME", data={"value": value}, headers={**ADMIN, **HTML}
    )
    assert 400 <= page.status_code < 500
    row = await db.fetchrow("SELECT is_default FROM setting WHERE name = 'LICENSE_EXPIRATION_TIME'")
    assert row is not None and row["is_default"] is True
    for checked in ("/system", "/4/luna_sys_info"):
        assert (await client.get(checked, headers={**ADMIN, **HTML})).status_code == 200


async def test_a_licence_time_in_range_is_stored_with_four_digit_years(client):
    for value, stored in (
        ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000Z"),
        ("2027-06-30T23:00:00-02:00", "2027-07-01T01:00:00.000Z"),
        ("9999-12-31T23:59:59.999+00:00", "9999-12-31T23:59:59.999Z"),
    ):
        answer = await client.patch(
            "/4/settings/LICENSE_EXPIRATION_TIME", json={"value": value}, headers=ADMIN
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["value"] == stored
        info = await client.get("/4/luna_sys_info", headers=ADMIN)
        assert info.json()["license_info"]["expiration_time"]["value"] == stored
        assert (await client.get("/system", headers={**ADMIN, **HTML})).status_code == 200


async def test_non_ascii_basic_credentials_are_wrong_credentials(client):
    for header in (b"Basic \xc3\xa9", b"Basic \xe9\xe9\xe9\xe9", b"\xc3\xa9 \xc3\xa9"):
        answer = await client.get("/4/accounts", headers={"Authorization": header})
        assert answer.status_code == 401 and answer.json()["error_code"] == 41006
        signed = await client.post("/4/login", headers={"Authorization": header})
        assert signed.status_code == 401 and signed.json()["error_code"] == 41006
    assert await account_count() == 1
