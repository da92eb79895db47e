"""The version page (route 2), GET /{api}/luna_sys_info (route 9), the route
statistics behind it (counted in memory, flushed to PostgreSQL) and the system
page with its charts."""

from __future__ import annotations

import asyncio
import platform
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from importlib import metadata
from typing import Any

import asyncpg
import httpx
import pytest

from tests import conftest
from tests.conftest import ADMIN, HTML, TEST_DATABASE_URL, basic
from tests.integration.helpers import add_platform_data, create_account
from tests.integration.test_pages import page_sign_in
from webapp import __version__, db
from webapp.app import create_app
from webapp.system.route_stats import RouteStats
from webapp.system.sys_info import signature_is_valid

SYS_INFO = "/4/luna_sys_info"
THIS_MONTH = datetime.now(UTC).strftime("%Y-%m")


@pytest.fixture
async def stats(client: httpx.AsyncClient, app: Any) -> AsyncIterator[RouteStats]:
    """The app's route statistics, with what earlier tests counted forgotten."""
    route_stats: RouteStats = app.state.route_stats
    route_stats.discard()
    yield route_stats
    route_stats.discard()


async def server_version() -> str:
    row = await db.fetchrow("SHOW server_version")
    assert row is not None
    return str(row["server_version"])


def item_of(body: dict[str, Any], route: str, month: str = THIS_MONTH) -> dict[str, Any]:
    found = [
        item
        for item in body["stats"]["routes_stats"]
        if item["route"] == route and item["month"] == month
    ]
    assert len(found) == 1, (route, month, body["stats"]["routes_stats"])
    return found[0]


# ------------------------------------------------------------------ route 2 and 8


async def test_version_is_json_for_api_clients(client):
    for headers in (
        {},
        {"Accept": "application/json"},
        {"Accept": "*/*"},
        {"Accept": "text/html;q=0.5, application/json"},  # names HTML, prefers JSON
    ):
        response = await client.get("/version", headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        major, minor, patch = (int(part) for part in __version__.split(".")[:3])
        assert response.json() == {
            "Version": {"api": 4, "major": major, "minor": minor, "patch": patch}
        }
        assert response.headers["vary"] == "Accept"


async def test_version_answers_only_get(client):
    response = await client.post("/version")
    assert response.status_code == 405
    assert response.json()["error_code"] == 12021


async def test_version_page_shows_service_and_api_version_to_everyone(client):
    json_version = (await client.get("/version")).json()["Version"]
    response = await client.get("/version", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    service = f"{json_version['major']}.{json_version['minor']}.{json_version['patch']}"
    assert re.search(rf'data-testid="version-service">{re.escape(service)}<', response.text)
    assert re.search(r'data-testid="version-api">4 ', response.text)
    assert f"luna-admin {__version__} · API /4" in response.text  # the footer, as on every page
    # Anonymous: no component versions (they tell an attacker what to try).
    assert 'data-testid="components-hidden"' in response.text
    assert platform.python_version() not in response.text


async def test_version_page_shows_component_versions_to_a_signed_in_admin(client):
    await page_sign_in(client)
    response = await client.get("/version", headers=HTML)
    assert response.status_code == 200
    text = response.text
    assert f'data-testid="component-python">{platform.python_version()}<' in text
    assert f'data-testid="component-litestar">{metadata.version("litestar")}<' in text
    assert f'data-testid="component-piccolo">{metadata.version("piccolo")}<' in text
    assert f'data-testid="component-asyncpg">{metadata.version("asyncpg")}<' in text
    assert f'data-testid="component-apscheduler">{metadata.version("APScheduler")}<' in text
    assert f'data-testid="component-postgresql">{await server_version()}<' in text
    # Signed in: the page has the navigation with its System link.
    assert 'href="/system"' in text


# ------------------------------------------------------------------ route 9


async def test_sys_info_needs_an_admin(client):
    response = await client.get(SYS_INFO)
    assert response.status_code == 401
    assert response.json()["error_code"] == 12010
    await create_account(client, "viewer@example.com", "secret", "user")
    response = await client.get(SYS_INFO, headers=basic("viewer@example.com", "secret"))
    assert response.status_code == 403
    assert response.json()["error_code"] == 12033


async def test_sys_info_has_the_reference_fields(client, stats):
    response = await client.get(SYS_INFO, headers=ADMIN)
    assert response.status_code == 200
    body = response.json()
    assert list(body) == [
        "services_versions",
        "descriptor_info",
        "configs",
        "current_faces_attributes_count",
        "license_info",
        "signature",
        "stats",
    ]
    assert set(body["stats"]) == {
        "estimators_stats",
        "estimators_performance_stats",
        "image_processing_stats",
        "routes_stats",
    }
    # This service runs no estimators and processes no images.
    assert body["stats"]["estimators_stats"] == []
    assert body["stats"]["estimators_performance_stats"] == []
    assert body["stats"]["image_processing_stats"] == []


async def test_sys_info_reports_the_versions_of_the_service_and_its_components(client, stats):
    body = (await client.get(SYS_INFO, headers=ADMIN)).json()
    versions = body["services_versions"]
    assert versions["luna-admin"] == (await client.get("/version")).json()["Version"]
    python_major, python_minor, _ = (int(p) for p in platform.python_version_tuple())
    assert versions["Python"]["major"] == python_major
    assert versions["Python"]["minor"] == python_minor
    assert versions["Litestar"]["version"] == metadata.version("litestar")
    assert versions["APScheduler"]["version"] == metadata.version("APScheduler")
    server = await server_version()
    assert versions["PostgreSQL"]["version"] == server
    assert versions["PostgreSQL"]["major"] == int(server.split(".")[0])


async def test_sys_info_counts_descriptors_per_version_and_attributes(client, stats):
    empty = (await client.get(SYS_INFO, headers=ADMIN)).json()
    assert empty["descriptor_info"] == []
    assert empty["current_faces_attributes_count"] == 0
    first = await create_account(client)
    await add_platform_data(first, faces=5, attributes=3)  # 5 descriptors of version 56
    second = await create_account(client)
    await add_platform_data(second, faces=2, attributes=2)
    await db.fetch(
        "INSERT INTO descriptor (face_id, descriptor_version, vector) "
        "SELECT face_id, 59, '\\x00'::bytea FROM face WHERE account_id = $1",
        uuid.UUID(second),
    )
    body = (await client.get(SYS_INFO, headers=ADMIN)).json()
    assert body["descriptor_info"] == [
        {"descriptor_version": 56, "descriptor_count": 7},
        {"descriptor_version": 59, "descriptor_count": 2},
    ]
    assert body["current_faces_attributes_count"] == 5


async def test_sys_info_lists_the_settings_as_configs(client, stats):
    configs = (await client.get(SYS_INFO, headers=ADMIN)).json()["configs"]
    names = [config["name"] for config in configs]
    assert names[0] == "ROUTE_STATS_RETENTION_MONTHS"
    assert "LICENSE_FACES_LIMIT" in names
    retention = configs[0]
    assert set(retention) == {
        "id",
        "tags",
        "name",
        "value",
        "description",
        "create_time",
        "last_update_time",
        "is_default",
    }
    assert retention["value"] == 24 and retention["is_default"] is True
    assert retention["tags"] == ["statistics"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", retention["create_time"])


async def test_license_info_comes_from_the_license_settings(client, stats):
    body = (await client.get(SYS_INFO, headers=ADMIN)).json()
    assert list(body["license_info"]) == [
        "expiration_time",
        "faces_limit",
        "liveness",
        "liveness_balance",
        "streams_limit",
        "analytics_streams_limit",
        "iso",
        "body_attributes",
        "index",
        "people_counter",
        "lambdas",
        "deepfake",
    ]
    # By default the license has nothing in it.
    assert all(not item["is_available"] for item in body["license_info"].values())
    for name, value in (
        ("LICENSE_FACES_LIMIT", 1000),
        ("LICENSE_LIVENESS", 2),
        ("LICENSE_EXPIRATION_TIME", "2027-01-31T03:00:00+03:00"),
    ):
        changed = await client.patch(f"/4/settings/{name}", json={"value": value}, headers=ADMIN)
        assert changed.status_code == 200, changed.text
    info = (await client.get(SYS_INFO, headers=ADMIN)).json()["license_info"]
    assert info["faces_limit"] == {"is_available": True, "value": 1000}
    assert info["liveness"] == {"is_available": True, "value": 2}
    assert info["expiration_time"] == {"is_available": True, "value": "2027-01-31T00:00:00.000Z"}
    assert info["iso"] == {"is_available": False, "value": None}


async def test_signature_tells_an_edited_copy_from_the_original(client, stats):
    body = (await client.get(SYS_INFO, headers=ADMIN)).json()
    assert re.fullmatch(r"[0-9a-f]{64}", body["signature"])
    secret = conftest.test_settings().secret_key
    assert signature_is_valid(body, secret)
    edited = {**body, "current_faces_attributes_count": body["current_faces_attributes_count"] + 1}
    assert not signature_is_valid(edited, secret)
    assert not signature_is_valid(body, "another secret")


# ------------------------------------------------------------------ route statistics


async def test_routes_are_counted_per_template_and_month_with_status_and_error_codes(client, stats):
    for _ in range(3):
        await client.get("/version")
    await client.get("/4/tasks/12345", headers=ADMIN)
    await client.get("/4/tasks/777", headers=ADMIN)
    await client.get("/4/accounts?page=0", headers=ADMIN)
    await client.get("/4/accounts", headers=ADMIN)
    await client.get("/no/such/route", headers=ADMIN)
    await client.get("/another/missing/path", headers=ADMIN)
    await stats.flush()

    body = (await client.get(SYS_INFO, headers=ADMIN)).json()
    version = item_of(body, "GET:/version")
    assert version["service"] == "luna-admin"
    assert version["request_stats"] == [{"count": 3, "status_code": "200"}]
    assert version["errors"] == []
    # Two task ids, one route template.
    task = item_of(body, "GET:/4/tasks/{task_id}")
    assert task["request_stats"] == [{"count": 2, "status_code": "404"}]
    assert task["errors"] == [{"count": 2, "error_code": "28001"}]
    accounts = item_of(body, "GET:/4/accounts")
    assert accounts["request_stats"] == [
        {"count": 1, "status_code": "200"},
        {"count": 1, "status_code": "400"},
    ]
    assert accounts["errors"] == [{"count": 1, "error_code": "12012"}]
    # Paths no route has share one label.
    unmatched = item_of(body, "GET:<unmatched>")
    assert unmatched["errors"] == [{"count": 2, "error_code": "12013"}]
    # Kept in PostgreSQL, per month.
    rows = await db.fetch(
        "SELECT month, count FROM route_stat WHERE route = 'GET:/version' AND status_code = 200"
    )
    now = datetime.now(UTC)
    assert [(row["month"], row["count"]) for row in rows] == [(date(now.year, now.month, 1), 3)]


async def test_counts_of_later_flushes_are_added(client, stats):
    await client.get("/version")
    await stats.flush()
    await client.get("/version")
    await client.get("/version")
    await stats.flush()
    assert await stats.flush() == 0  # nothing pending: no statement at all
    row = await db.fetchrow("SELECT sum(count) AS n FROM route_stat WHERE route = 'GET:/version'")
    assert row is not None and row["n"] == 3


async def test_sys_info_includes_what_this_process_counted_but_did_not_flush(client, stats):
    await client.get("/version")
    await client.get("/version")
    assert stats.pending  # counted, not written yet
    body = (await client.get(SYS_INFO, headers=ADMIN)).json()
    assert item_of(body, "GET:/version")["request_stats"] == [{"count": 2, "status_code": "200"}]


async def test_months_are_counted_apart(client):
    end_of_october = datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC).timestamp()
    clock = [end_of_october]
    counter = RouteStats(clock=lambda: clock[0])
    counter.observe("GET", "/version", 200, None, 0.001)
    clock[0] += 2  # 2026-11-01 00:00:01 UTC
    counter.observe("GET", "/version", 200, None, 0.001)
    counter.observe("GET", "/version", 200, None, 0.001)
    await counter.flush()
    rows = await db.fetch(
        "SELECT to_char(month, 'YYYY-MM') AS month, count FROM route_stat ORDER BY month"
    )
    assert [(row["month"], row["count"]) for row in rows] == [("2026-10", 1), ("2026-11", 2)]


async def test_unknown_methods_share_one_label(client):
    counter = RouteStats()
    for method in ("FOO", "BAR", "GET"):
        counter.observe(method, "<unmatched>", 404, 12013, 0.001)
    await counter.flush()
    rows = await db.fetch("SELECT route, count FROM route_stat ORDER BY route")
    assert [(row["route"], row["count"]) for row in rows] == [
        ("GET:<unmatched>", 1),
        ("OTHER:<unmatched>", 2),
    ]


async def upsert_waits_for_lock(conn: asyncpg.Connection) -> None:
    """Returns once the flush's upsert is seen waiting for a lock."""
    for _ in range(500):
        if await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE '%INSERT INTO route_stat%'"
        ):
            return
        await asyncio.sleep(0.02)
    pytest.fail("the flush never reached the locked table")


async def test_requests_do_not_wait_for_postgresql_to_count(client, stats):
    """A flush stuck behind a lock on route_stat does not hold up any request;
    the requests answered meanwhile are counted at the next flush."""
    await client.get("/version")
    blocker = await asyncpg.connect(TEST_DATABASE_URL)
    try:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE route_stat IN ACCESS EXCLUSIVE MODE")
        flushing = asyncio.create_task(stats.flush())
        await upsert_waits_for_lock(blocker)
        for _ in range(5):
            response = await asyncio.wait_for(client.get("/version"), timeout=10)
            assert response.status_code == 200
        assert not flushing.done()  # the requests were answered while it waited
        await transaction.rollback()
        assert await flushing == 1
    finally:
        await blocker.close()
    await stats.flush()
    row = await db.fetchrow("SELECT sum(count) AS n FROM route_stat WHERE route = 'GET:/version'")
    assert row is not None and row["n"] == 6


async def test_counts_survive_a_failed_flush(client, stats):
    await client.get("/version")
    await client.get("/version")
    await db.fetch("ALTER TABLE route_stat RENAME TO route_stat_away")
    try:
        with pytest.raises(asyncpg.UndefinedTableError):
            await stats.flush()
    finally:
        await db.fetch("ALTER TABLE route_stat_away RENAME TO route_stat")
    await client.get("/version")
    await stats.flush()
    row = await db.fetchrow("SELECT sum(count) AS n FROM route_stat WHERE route = 'GET:/version'")
    assert row is not None and row["n"] == 3


async def test_the_background_flusher_writes_what_is_left_when_it_stops(client):
    counter = RouteStats()
    counter.start()
    counter.observe("GET", "/version", 200, None, 0.001)
    await counter.stop()
    assert counter.pending == {}
    row = await db.fetchrow("SELECT sum(count) AS n FROM route_stat")
    assert row is not None and row["n"] == 1


async def test_old_months_are_pruned_after_the_retention_setting(client):
    await db.fetch(
        "INSERT INTO route_stat (month, route, status_code, error_code, count) "
        "SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => m))::date,"
        " 'GET:/version', 200, 0, 1 FROM generate_series(0, 5) m"
    )
    changed = await client.patch(
        "/4/settings/ROUTE_STATS_RETENTION_MONTHS", json={"value": 2}, headers=ADMIN
    )
    assert changed.status_code == 200
    await RouteStats().prune()
    rows = await db.fetch("SELECT to_char(month, 'YYYY-MM') AS month FROM route_stat")
    assert len(rows) == 2
    assert THIS_MONTH in {row["month"] for row in rows}


async def test_statistics_can_be_turned_off(client, stats):
    quiet = create_app(conftest.test_settings(route_stats_enabled=False))
    assert quiet.state.route_stats.observe not in quiet.observers
    transport = httpx.ASGITransport(app=quiet, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        assert (await other.get("/version")).status_code == 200
    assert quiet.state.route_stats.pending == {}


# ------------------------------------------------------------------ the system page


async def test_system_page_needs_a_session(client):
    response = await client.get("/system", headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


async def test_system_page_draws_requests_and_errors_per_month_and_route(client, stats):
    await page_sign_in(client)
    for _ in range(4):
        await client.get("/4/accounts", headers=ADMIN)
    await client.get("/4/tasks/1", headers=ADMIN)
    response = await client.get("/system", headers=HTML)
    assert response.status_code == 200
    text = response.text
    months = re.search(r'<svg class="chart"[^>]*data-testid="chart-months".*?</svg>', text, re.S)
    routes = re.search(r'<svg class="chart"[^>]*data-testid="chart-routes".*?</svg>', text, re.S)
    assert months and routes
    assert 'role="img"' in months.group(0)
    assert '<title id="chart-months-title">Requests and errors per month</title>' in text
    assert f"per route in {THIS_MONTH}" in routes.group(0)
    bar = re.search(
        r'data-label="GET:/4/accounts" data-series="requests" data-value="(\d+)"', routes.group(0)
    )
    assert bar and int(bar.group(1)) == 4
    error_bar = re.search(
        r'data-label="GET:/4/tasks/\{task_id\}" data-series="errors" data-value="(\d+)"',
        routes.group(0),
    )
    assert error_bar and int(error_bar.group(1)) == 1
    # The label of paths without a route is escaped, not markup.
    await client.get("/missing", headers=ADMIN)
    text = (await client.get("/system", headers=HTML)).text
    assert "GET:&lt;unmatched&gt;" in text and "GET:<unmatched>" not in text


async def test_system_page_shows_versions_descriptors_and_license(client, stats):
    await page_sign_in(client)
    account = await create_account(client)
    await add_platform_data(account, faces=3, attributes=2)
    await client.patch("/4/settings/LICENSE_FACES_LIMIT", json={"value": 2}, headers=ADMIN)
    await client.patch(
        "/4/settings/LICENSE_EXPIRATION_TIME", json={"value": "2020-01-01T00:00:00Z"}, headers=ADMIN
    )
    text = (await client.get("/system", headers=HTML)).text
    assert f'data-testid="component-postgresql">{await server_version()}<' in text
    assert re.search(
        r'data-testid="descriptor-info".*?<td>56</td><td class="num">3</td>', text, re.S
    )
    assert 'data-testid="attributes-count">2<' in text
    assert 'data-testid="license-expired"' in text
    assert 'data-testid="license-faces-over"' in text
    assert 'data-testid="settings-changed">2<' in text


async def test_system_page_month_choice(client, stats):
    await page_sign_in(client)
    await db.fetch(
        "INSERT INTO route_stat (month, route, status_code, error_code, count) "
        "VALUES ('2026-01-01', 'GET:/4/lists', 200, 0, 9)"
    )
    text = (await client.get("/system?month=2026-01", headers=HTML)).text
    assert re.search(r'data-label="GET:/4/lists" data-series="requests" data-value="9"', text)
    assert '<option value="2026-01" selected>' in text
    bad = await client.get("/system?month=2026-13", headers=ADMIN)
    assert bad.status_code == 400
    assert bad.json()["error_code"] == 12012
    assert "'month'" in bad.json()["detail"]


async def test_system_answers_json_to_api_clients(client, stats):
    response = await client.get("/system", headers=ADMIN)
    assert response.status_code == 200
    assert set(response.json()) >= {"services_versions", "license_info", "stats"}
