"""Routes 15-19: accounts."""

from __future__ import annotations

import asyncio
import uuid

from tests.conftest import ADMIN, ADMIN_LOGIN, basic
from tests.integration.helpers import account_count, add_platform_data, create_account, sign_in
from tests.integration.tasks_helpers import run_until_idle, settings
from webapp import db


async def test_list_accounts_default_page(client):
    response = await client.get("/4/accounts", headers=ADMIN)
    assert response.status_code == 200
    body = response.json()
    assert body["account_count"] == 1
    (account,) = body["accounts"]
    assert account["login"] == ADMIN_LOGIN
    assert set(account) == {
        "account_id",
        "account_type",
        "description",
        "login",
        "create_time",
        "last_update_time",
        "email",
        "organization_name",
    }
    assert account["create_time"].endswith("Z") and len(account["create_time"]) == 24


async def test_paging_newest_first_with_total_count(client):
    ids = [await create_account(client, f"p{i}@example.com") for i in range(5)]
    first = (await client.get("/4/accounts?page=1&page_size=2", headers=ADMIN)).json()
    second = (await client.get("/4/accounts?page=2&page_size=2", headers=ADMIN)).json()
    assert first["account_count"] == second["account_count"] == 6
    assert [a["account_id"] for a in first["accounts"]] == ids[::-1][:2]
    assert [a["account_id"] for a in second["accounts"]] == ids[::-1][2:4]
    beyond = (await client.get("/4/accounts?page=9", headers=ADMIN)).json()
    assert beyond == {"accounts": [], "account_count": 6}


async def test_create_time_filters(client):
    old = await create_account(client, "old@example.com")
    new = await create_account(client, "new@example.com")
    await db.fetch(
        "UPDATE account SET create_time = '2020-01-01T00:00:00Z' WHERE account_id = $1",
        uuid.UUID(old),
    )
    since = (
        await client.get("/4/accounts?create_time__gte=2021-01-01T00:00:00Z", headers=ADMIN)
    ).json()
    assert old not in [a["account_id"] for a in since["accounts"]]
    assert new in [a["account_id"] for a in since["accounts"]]
    assert since["account_count"] == 2
    before = (
        await client.get("/4/accounts?create_time__lt=2021-01-01T00:00:00%2B00:00", headers=ADMIN)
    ).json()
    assert [a["account_id"] for a in before["accounts"]] == [old]
    assert before["account_count"] == 1


async def test_bad_query_parameters_name_themselves(client):
    for query, name in [
        ("page=0", "page"),
        ("page=abc", "page"),
        ("page_size=0", "page_size"),
        ("page_size=1001", "page_size"),
        ("page_size=1.5", "page_size"),
        ("create_time__lt=yesterday", "create_time__lt"),
        ("create_time__gte=2021-01-01T00:00:00", "create_time__gte"),
    ]:
        response = await client.get(f"/4/accounts?{query}", headers=ADMIN)
        assert response.status_code == 400, query
        assert response.json()["error_code"] == 12012
        assert response.json()["detail"] == f"Bad query parameters '{name}'"


async def test_create_account_answers_201_with_location(client):
    body = {
        "login": "horns@hooves.com",
        "password": "secret",
        "account_type": "user",
        "description": "Horns and Hooves",
    }
    response = await client.post("/4/accounts", json=body, headers=ADMIN)
    assert response.status_code == 201
    account_id = response.json()["account_id"]
    assert response.headers["location"] == f"/4/accounts/{account_id}"
    info = (await client.get(response.headers["location"], headers=ADMIN)).json()["info"]
    assert info["login"] == "horns@hooves.com"
    assert info["account_type"] == "user"
    assert info["description"] == info["organization_name"] == "Horns and Hooves"
    assert info["email"] == "horns@hooves.com"


async def test_account_type_defaults_to_advanced_user(client):
    account_id = await create_account(client, "adv@example.com")
    info = (await client.get(f"/4/accounts/{account_id}", headers=ADMIN)).json()["info"]
    assert info["account_type"] == "advanced_user"
    assert info["description"] == ""


async def test_legacy_email_and_organization_name(client):
    body = {"email": "legacy@example.com", "password": "secret", "organization_name": "Old Org"}
    response = await client.post("/4/accounts", json=body, headers=ADMIN)
    assert response.status_code == 201
    info = (await client.get(f"/4/accounts/{response.json()['account_id']}", headers=ADMIN)).json()[
        "info"
    ]
    assert info["login"] == "legacy@example.com"
    assert info["description"] == "Old Org"


async def test_new_account_can_sign_in_with_its_password(client):
    await create_account(client, "second@example.com", "pa55", account_type="admin")
    assert (
        await client.get("/4/accounts", headers=basic("second@example.com", "pa55"))
    ).status_code == 200


async def test_duplicate_login_is_409_and_changes_nothing(client):
    await create_account(client, "dup@example.com")
    response = await client.post(
        "/4/accounts", json={"login": "dup@example.com", "password": "other"}, headers=ADMIN
    )
    assert response.status_code == 409
    assert response.json()["error_code"] == 41001
    assert await account_count() == 2


async def test_create_validation_follows_the_reference(client):
    too_long_login = "a" * 120 + "@example.com"
    cases = [
        ({"login": "no-at-sign", "password": "secret"}, "login"),
        ({"login": "UPPER@example.com", "password": "secret"}, "login"),
        ({"login": "a@sub.example.com", "password": "secret"}, "login"),
        ({"login": too_long_login, "password": "secret"}, "login"),
        ({"login": "ok@example.com", "password": "ab"}, "password"),
        ({"login": "ok@example.com", "password": "x" * 129}, "password"),
        ({"login": "ok@example.com"}, "password"),
        ({"password": "secret"}, "login"),
        ({"login": "ok@example.com", "password": "secret", "account_type": "root"}, "account_type"),
        (
            {"login": "ok@example.com", "password": "secret", "description": "d" * 129},
            "description",
        ),
        ({"login": "ok@example.com", "password": "secret", "description": 5}, "description"),
        ({"email": "bad", "password": "secret"}, "email"),
        ({"login": 42, "password": "secret"}, "login"),
    ]
    for body, path in cases:
        response = await client.post("/4/accounts", json=body, headers=ADMIN)
        assert response.status_code == 400, body
        error = response.json()
        assert error["error_code"] == 12022, body
        assert f"Path: '{path}'" in error["detail"], (body, error["detail"])
    unknown = await client.post(
        "/4/accounts",
        json={"login": "ok@example.com", "password": "secret", "admin": True},
        headers=ADMIN,
    )
    assert unknown.json()["error_code"] == 12022
    assert "admin" in unknown.json()["detail"]
    assert await account_count() == 1


async def test_create_body_errors(client):
    assert (await client.post("/4/accounts", headers=ADMIN)).json()["error_code"] == 12002
    empty = await client.post("/4/accounts", json={}, headers=ADMIN)
    assert empty.json()["error_code"] == 12005
    xml = await client.post(
        "/4/accounts", content=b"<a/>", headers={**ADMIN, "Content-Type": "application/xml"}
    )
    assert xml.status_code == 400 and xml.json()["error_code"] == 12002
    assert await account_count() == 1


async def test_put_creates_with_the_given_id(client):
    account_id = str(uuid.uuid4())
    response = await client.put(
        f"/4/accounts/{account_id}",
        json={"login": "put@example.com", "password": "secret"},
        headers=ADMIN,
    )
    assert response.status_code == 201
    assert response.json() == {"account_id": account_id}
    assert response.headers["location"] == f"/4/accounts/{account_id}"
    again = await client.put(
        f"/4/accounts/{account_id}",
        json={"login": "put2@example.com", "password": "secret"},
        headers=ADMIN,
    )
    assert again.status_code == 409
    assert again.json()["error_code"] == 41002
    taken_login = await client.put(
        f"/4/accounts/{uuid.uuid4()}",
        json={"login": "put@example.com", "password": "secret"},
        headers=ADMIN,
    )
    assert taken_login.json()["error_code"] == 41001


async def test_put_with_a_malformed_id(client):
    for bad in ("123", "not-a-uuid", str(uuid.uuid4()).upper()):
        response = await client.put(
            f"/4/accounts/{bad}",
            json={"login": "x@example.com", "password": "secret"},
            headers=ADMIN,
        )
        assert response.status_code == 400
        assert response.json()["detail"] == "Bad query parameters 'account_id'"
    assert await account_count() == 1


async def test_get_account_with_stats(client):
    account_id = await create_account(client, "owner@example.com")
    await add_platform_data(account_id, lists=3, faces=7, attributes=4)
    body = (await client.get(f"/4/accounts/{account_id}", headers=ADMIN)).json()
    assert body["info"]["account_id"] == account_id
    assert body["stats"] == {"list_count": 3, "face_count": 7, "face_attribute_count": 4}


async def test_stats_follow_deletions(client):
    account_id = await create_account(client, "shrink@example.com")
    await add_platform_data(account_id, lists=2, faces=6, attributes=6)
    await db.fetch(
        "DELETE FROM face WHERE face_id IN "
        "(SELECT face_id FROM face WHERE account_id = $1 LIMIT 2)",
        uuid.UUID(account_id),
    )
    stats = (await client.get(f"/4/accounts/{account_id}", headers=ADMIN)).json()["stats"]
    # Attributes of removed faces stay (their face link is cleared), faces go.
    assert stats == {"list_count": 2, "face_count": 4, "face_attribute_count": 6}


async def test_get_unknown_account(client):
    missing = uuid.uuid4()
    response = await client.get(f"/4/accounts/{missing}", headers=ADMIN)
    assert response.status_code == 404
    body = response.json()
    assert body["error_code"] == 15012
    assert str(missing) in body["detail"]
    bad = await client.get("/4/accounts/nope", headers=ADMIN)
    assert bad.status_code == 400 and bad.json()["error_code"] == 12012


async def test_delete_account_removes_everything_it_owns(client):
    account_id = await create_account(client, "gone@example.com", "secret", account_type="admin")
    list_ids = await add_platform_data(account_id)
    await sign_in(client, "gone@example.com", "secret")
    client.cookies.clear()
    response = await client.delete(f"/4/accounts/{account_id}", headers=ADMIN)
    assert response.status_code == 204
    assert (await client.get(f"/4/accounts/{account_id}", headers=ADMIN)).status_code == 404
    await run_until_idle(settings())  # the rows go in the background
    for table in ("list", "face", "face_attribute", "auth_session", "account_stats", "account"):
        row = await db.fetchrow(
            f"SELECT count(*) AS n FROM {table} WHERE account_id = $1", uuid.UUID(account_id)
        )
        assert row is not None and row["n"] == 0, table
    assert (await client.get(f"/4/lists/{list_ids[0]}", headers=ADMIN)).status_code == 404
    assert (await client.get("/4/accounts", headers=ADMIN)).json()["account_count"] == 1


async def test_delete_unknown_account(client):
    response = await client.delete(f"/4/accounts/{uuid.uuid4()}", headers=ADMIN)
    assert response.status_code == 404
    assert response.json()["error_code"] == 15012


async def test_the_last_admin_cannot_be_removed(client):
    root_id = (await client.get("/4/accounts", headers=ADMIN)).json()["accounts"][0]["account_id"]
    response = await client.delete(f"/4/accounts/{root_id}", headers=ADMIN)
    assert response.status_code == 409
    assert response.json()["error_code"] == 29006
    assert await account_count() == 1


async def test_an_admin_can_go_while_another_remains(client):
    other = await create_account(client, "admin2@example.com", "secret", account_type="admin")
    assert (await client.delete(f"/4/accounts/{other}", headers=ADMIN)).status_code == 204


async def test_concurrent_removal_of_the_last_two_admins_keeps_one(client):
    root_id = (await client.get("/4/accounts", headers=ADMIN)).json()["accounts"][0]["account_id"]
    other = await create_account(client, "admin3@example.com", "secret", account_type="admin")
    first, second = await asyncio.gather(
        client.delete(f"/4/accounts/{root_id}", headers=basic("admin3@example.com", "secret")),
        client.delete(f"/4/accounts/{other}", headers=ADMIN),
    )
    # One removal wins. The other is refused as the last admin (409), or, when the
    # winner removed the very account the loser signs in with before it was
    # checked, as unknown credentials (401): either way exactly one admin stays.
    assert sorted([first.status_code, second.status_code]) in ([204, 409], [204, 401])
    row = await db.fetchrow(
        "SELECT count(*) AS n FROM account WHERE account_type = 'admin' AND remove_time IS NULL"
    )
    assert row is not None and row["n"] == 1
