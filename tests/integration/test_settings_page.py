"""Settings kept in the database: the extension routes GET /{api}/settings and
PATCH /{api}/settings/{name}, the settings page with its forms (plain and htmx),
validation that changes nothing, reset to default, and the seeded defaults."""

from __future__ import annotations

import importlib
import re
from html import unescape
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, HTML, basic
from tests.integration.helpers import create_account, sign_in
from tests.integration.test_pages import page_sign_in
from tests.integration.test_tasks_pages import post_form
from webapp import db
from webapp.system import settings_service
from webapp.system.settings_catalog import BY_NAME, CATALOGUE

URL = "/4/settings"
MIGRATION = "piccolo_migrations.luna_admin_2026_11_28t0004_settings_and_stats"


async def stored(name: str) -> dict[str, Any]:
    return next(s for s in await settings_service.list_settings() if s["name"] == name)


async def patch(client: httpx.AsyncClient, name: str, body: Any, **kwargs: Any) -> httpx.Response:
    return await client.patch(f"{URL}/{name}", json=body, headers=ADMIN, **kwargs)


async def signed_in(client: httpx.AsyncClient) -> None:
    await page_sign_in(client)


def card_of(html: str, name: str) -> str:
    match = re.search(rf'<article[^>]*data-testid="setting-{name}".*?</article>', html, re.S)
    assert match is not None, name
    return match.group(0)


def field_error(card: str) -> str:
    match = re.search(r'data-testid="setting-error">([^<]*)<', card)
    assert match is not None
    return unescape(match.group(1))


def field_value(card: str) -> str:
    match = re.search(r'name="value" value="([^"]*)"', card)
    assert match is not None
    return unescape(match.group(1))


# ------------------------------------------------------------------ the defaults


async def test_the_migration_seeds_the_defaults_the_catalogue_declares(client):
    migration = importlib.import_module(MIGRATION)
    await db.fetch("TRUNCATE setting")
    await db.fetch(migration.SEED_SQL)
    rows = await db.fetch("SELECT name, tags, value::text AS value, description FROM setting")
    seeded = {row["name"]: row for row in rows}
    assert sorted(seeded) == sorted(spec.name for spec in CATALOGUE)
    for spec in CATALOGUE:
        row = seeded[spec.name]
        assert list(row["tags"]) == list(spec.tags), spec.name
        assert row["description"] == spec.description, spec.name
        assert row["value"] == ("null" if spec.default is None else str(spec.default)), spec.name
        assert spec.check(spec.default) == spec.default  # every default is allowed


async def test_a_missing_setting_comes_back_with_its_default(client):
    await db.fetch("DELETE FROM setting WHERE name = 'LICENSE_ISO'")
    listed = (await client.get(URL, headers=ADMIN)).json()["settings"]
    assert [s["name"] for s in listed] == [spec.name for spec in CATALOGUE]
    iso = next(s for s in listed if s["name"] == "LICENSE_ISO")
    assert iso["value"] is None and iso["is_default"] is True


# ------------------------------------------------------------------ the JSON routes


async def test_settings_list_values_defaults_and_rules(client):
    response = await client.get(URL, headers=ADMIN)
    assert response.status_code == 200
    settings = response.json()["settings"]
    retention = settings[0]
    assert retention["name"] == "ROUTE_STATS_RETENTION_MONTHS"
    assert retention["value"] == 24 and retention["default"] == 24
    assert retention["is_default"] is True
    assert retention["rule"] == "a whole number from 1 to 120"
    assert {"id", "tags", "description", "create_time", "last_update_time"} <= set(retention)


async def test_patch_changes_a_setting_and_tracks_is_default(client):
    before = await stored("ROUTE_STATS_RETENTION_MONTHS")
    response = await patch(client, "ROUTE_STATS_RETENTION_MONTHS", {"value": 6})
    assert response.status_code == 200
    body = response.json()
    assert body["value"] == 6 and body["is_default"] is False
    after = await stored("ROUTE_STATS_RETENTION_MONTHS")
    assert after["value"] == 6 and after["is_default"] is False
    assert after["last_update_time"] >= before["last_update_time"]
    assert after["create_time"] == before["create_time"]
    # Back to the default value: it is the default again.
    again = await patch(client, "ROUTE_STATS_RETENTION_MONTHS", {"value": 24})
    assert again.json()["is_default"] is True


async def test_a_change_is_in_the_audit_log_and_a_refused_one_is_not(client):
    await patch(client, "ROUTE_STATS_RETENTION_MONTHS", {"value": 6})
    await patch(client, "ROUTE_STATS_RETENTION_MONTHS", {"value": -1})  # refused
    events = (
        await client.get("/4/audit", params={"action": "setting.update"}, headers=ADMIN)
    ).json()["events"]
    assert len(events) == 1
    (event,) = events
    assert event["actor_login"] == "root@visionlabs.ai"
    assert event["target_id"] == "ROUTE_STATS_RETENTION_MONTHS"
    assert event["details"] == {"previous_value": 24, "value": 6, "is_default": False}


async def test_null_and_times_where_a_setting_allows_them(client):
    response = await patch(
        client, "LICENSE_EXPIRATION_TIME", {"value": "2027-06-30T12:00:00+02:00"}
    )
    assert response.status_code == 200
    assert response.json()["value"] == "2027-06-30T10:00:00.000Z"  # stored in UTC
    response = await patch(client, "LICENSE_EXPIRATION_TIME", {"value": None})
    assert response.status_code == 200 and response.json()["value"] is None
    response = await patch(client, "LICENSE_FACES_LIMIT", {"value": 0})
    assert (response.json()["value"], response.json()["is_default"]) == (0, False)


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("ROUTE_STATS_RETENTION_MONTHS", 0, "0 is out of range"),
        ("ROUTE_STATS_RETENTION_MONTHS", 121, "121 is out of range"),
        ("ROUTE_STATS_RETENTION_MONTHS", "12", '"12" is not a whole number'),
        ("ROUTE_STATS_RETENTION_MONTHS", 1.5, "1.5 is not a whole number"),
        ("ROUTE_STATS_RETENTION_MONTHS", True, "true is not a whole number"),
        ("ROUTE_STATS_RETENTION_MONTHS", None, "null is not allowed"),
        ("LICENSE_LIVENESS", 3, "3 is out of range"),
        ("LICENSE_FACES_LIMIT", -1, "-1 is out of range"),
        ("LICENSE_FACES_LIMIT", [1], "[1] is not a whole number"),
        ("LICENSE_EXPIRATION_TIME", "tomorrow", "'tomorrow' is not an ISO 8601 time"),
        ("LICENSE_EXPIRATION_TIME", "2027-01-01T00:00:00", "has no time zone"),
        ("LICENSE_EXPIRATION_TIME", 20270101, "20270101 is not a time"),
    ],
)
async def test_a_bad_value_is_refused_with_its_reason_and_changes_nothing(
    client, name, value, reason
):
    before = await stored(name)
    response = await patch(client, name, {"value": value})
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == 12022
    assert body["detail"].startswith("Failed to validate input json. Path: 'value'")
    assert reason in body["detail"] and name in body["detail"]
    assert await stored(name) == before


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"", "application/json", 400, 12002),
        (b"{not json", "application/json", 400, 12002),
        (b"{}", "application/json", 400, 12005),
        (b'{"value": 3, "extra": 1}', "application/json", 400, 12022),
        (b'{"val": 3}', "application/json", 400, 12022),
        (b"value=3", "text/plain", 400, 12002),
    ],
)
async def test_a_bad_body_is_refused(client, content, content_type, status, code):
    before = await stored("ROUTE_STATS_RETENTION_MONTHS")
    response = await client.patch(
        f"{URL}/ROUTE_STATS_RETENTION_MONTHS",
        content=content,
        headers={**ADMIN, "Content-Type": content_type},
    )
    assert response.status_code == status, response.text
    assert response.json()["error_code"] == code
    assert await stored("ROUTE_STATS_RETENTION_MONTHS") == before


async def test_an_unknown_setting_is_not_found(client):
    response = await patch(client, "NO_SUCH_SETTING", {"value": 1})
    assert response.status_code == 404
    body = response.json()
    assert body["error_code"] == 27001
    assert body["detail"] == "Setting with id 'NO_SUCH_SETTING' not found"
    assert (await client.post("/settings/NO_SUCH_SETTING/reset", headers=ADMIN)).status_code == 404


async def test_settings_need_an_admin(client):
    assert (await client.get(URL)).status_code == 401
    assert (await client.patch(f"{URL}/LICENSE_ISO", json={"value": 1})).status_code == 401
    await create_account(client, "viewer@example.com", "secret", "user")
    viewer = basic("viewer@example.com", "secret")
    response = await client.patch(f"{URL}/LICENSE_ISO", json={"value": 1}, headers=viewer)
    assert response.status_code == 403
    assert (await stored("LICENSE_ISO"))["value"] is None


async def test_a_cookie_session_changes_a_setting_unless_the_request_is_cross_site(client):
    await sign_in(client, "root@visionlabs.ai", "root")
    refused = await client.patch(
        f"{URL}/LICENSE_ISO", json={"value": 1}, headers={"Origin": "http://localhost:5010"}
    )
    assert refused.status_code == 403
    assert refused.json()["error_code"] == 29200
    assert (await stored("LICENSE_ISO"))["value"] is None
    accepted = await client.patch(f"{URL}/LICENSE_ISO", json={"value": 1})  # the cookie alone
    assert accepted.status_code == 200
    assert (await stored("LICENSE_ISO"))["value"] == 1


async def test_a_change_is_part_of_the_callers_transaction(client):
    """update_setting writes on the caller's connection: when the transaction it
    is part of fails, the change goes too (an audit record will share it)."""
    with pytest.raises(RuntimeError):
        async with db.connection() as conn, conn.transaction():
            change = await settings_service.update_setting(conn, "LICENSE_ISO", 1)
            assert change.previous is None and change.setting["value"] == 1
            raise RuntimeError("a later step of the same change failed")
    assert (await stored("LICENSE_ISO"))["value"] is None


# ------------------------------------------------------------------ the page


async def test_settings_page_needs_a_session(client):
    response = await client.get("/settings", headers=HTML)
    assert response.status_code == 303


async def test_settings_page_shows_every_setting_with_its_value_and_state(client):
    await patch(client, "LICENSE_FACES_LIMIT", {"value": 5000})
    await page_sign_in(client)
    response = await client.get("/settings", headers=HTML)
    assert response.status_code == 200
    for spec in CATALOGUE:
        card = card_of(response.text, spec.name)
        assert spec.description in unescape(card)
    faces = card_of(response.text, "LICENSE_FACES_LIMIT")
    assert field_value(faces) == "5000"
    assert 'data-testid="setting-state">changed<' in faces
    assert not re.search(r'data-testid="setting-reset"\s+disabled', faces)
    retention = card_of(response.text, "ROUTE_STATS_RETENTION_MONTHS")
    assert field_value(retention) == "24"
    assert 'data-testid="setting-state">default<' in retention
    assert re.search(r'data-testid="setting-reset"\s+disabled', retention)
    assert "Allowed: a whole number from 1 to 120" in retention


async def test_the_form_saves_a_value_and_comes_back_to_the_page(client):
    await signed_in(client)
    response = await post_form(
        client, "/settings/ROUTE_STATS_RETENTION_MONTHS", [("value", " 36 ")]
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/settings#setting-ROUTE_STATS_RETENTION_MONTHS"
    assert (await stored("ROUTE_STATS_RETENTION_MONTHS"))["value"] == 36
    page = await client.get("/settings", headers=HTML)
    assert "ROUTE_STATS_RETENTION_MONTHS saved" in page.text
    # An empty field is null, where null is allowed.
    await post_form(client, "/settings/LICENSE_FACES_LIMIT", [("value", "100")])
    await post_form(client, "/settings/LICENSE_FACES_LIMIT", [("value", "")])
    assert (await stored("LICENSE_FACES_LIMIT"))["value"] is None


async def test_the_form_shows_a_refused_value_inline_and_changes_nothing(client):
    await signed_in(client)
    before = await stored("ROUTE_STATS_RETENTION_MONTHS")
    response = await post_form(
        client, "/settings/ROUTE_STATS_RETENTION_MONTHS", [("value", "forever")]
    )
    assert response.status_code == 422
    card = card_of(response.text, "ROUTE_STATS_RETENTION_MONTHS")
    assert field_value(card) == "forever"  # what was typed stays in the field
    assert field_error(card) == (
        "ROUTE_STATS_RETENTION_MONTHS: 'forever' is not a whole number; "
        "expected a whole number from 1 to 120"
    )
    assert 'aria-invalid="true"' in card
    # The other cards are as they were.
    assert 'aria-invalid="true"' not in card_of(response.text, "LICENSE_ISO")
    assert await stored("ROUTE_STATS_RETENTION_MONTHS") == before
    empty = await post_form(client, "/settings/ROUTE_STATS_RETENTION_MONTHS", [("value", "")])
    assert empty.status_code == 422
    assert "null is not allowed" in field_error(card_of(empty.text, "ROUTE_STATS_RETENTION_MONTHS"))


async def test_htmx_swaps_only_the_card(client):
    await signed_in(client)
    saved = await post_form(client, "/settings/LICENSE_LIVENESS", [("value", "1")], htmx=True)
    assert saved.status_code == 200
    assert "<html" not in saved.text
    assert saved.text.strip().startswith("<article")
    assert 'data-testid="setting-saved"' in saved.text
    assert 'data-testid="setting-state">changed<' in saved.text
    refused = await post_form(client, "/settings/LICENSE_LIVENESS", [("value", "7")], htmx=True)
    assert refused.status_code == 422
    assert "<html" not in refused.text
    assert "7 is out of range" in field_error(refused.text)
    assert (await stored("LICENSE_LIVENESS"))["value"] == 1


async def test_reset_to_default(client):
    await signed_in(client)
    await patch(client, "LICENSE_LAMBDAS", {"value": 3})
    response = await post_form(client, "/settings/LICENSE_LAMBDAS/reset", [])
    assert response.status_code == 303
    setting = await stored("LICENSE_LAMBDAS")
    assert setting["value"] is BY_NAME["LICENSE_LAMBDAS"].default
    assert setting["is_default"] is True
    await patch(client, "LICENSE_LAMBDAS", {"value": 3})
    partial = await post_form(client, "/settings/LICENSE_LAMBDAS/reset", [], htmx=True)
    assert partial.status_code == 200
    assert 'data-testid="setting-state">default<' in partial.text
    assert (await stored("LICENSE_LAMBDAS"))["is_default"] is True


async def test_the_page_forms_refuse_a_post_from_another_site(client):
    await signed_in(client)
    response = await client.post(
        "/settings/LICENSE_ISO",
        headers={
            **HTML,
            "Content-Type": "application/x-www-form-urlencoded",
            "Sec-Fetch-Site": "cross-site",
        },
        content="value=1",
    )
    assert response.status_code == 403
    assert (await stored("LICENSE_ISO"))["value"] is None
