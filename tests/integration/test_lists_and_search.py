"""Routes 14, 20 and 21: lists and search."""

from __future__ import annotations

import uuid

from tests.conftest import ADMIN, ADMIN_LOGIN, HTML
from tests.integration.helpers import add_platform_data, create_account


async def test_lists_of_an_account_with_face_counts(client):
    account_id = await create_account(client, "lists@example.com")
    list_ids = await add_platform_data(account_id, lists=3, faces=6, linked=4)
    body = (await client.get(f"/4/lists?account_id={account_id}", headers=ADMIN)).json()
    assert body["list_count"] == 3
    assert sorted(item["list_id"] for item in body["lists"]) == sorted(list_ids)
    for item in body["lists"]:
        assert item["face_count"] == 4
        assert item["account_id"] == account_id
        assert {"list_id", "account_id", "last_update_time", "face_count", "user_data"} <= set(item)


async def test_lists_paging_and_all_accounts(client):
    first = await create_account(client, "l1@example.com")
    second = await create_account(client, "l2@example.com")
    await add_platform_data(first, lists=2)
    await add_platform_data(second, lists=3)
    everything = (await client.get("/4/lists?page_size=4", headers=ADMIN)).json()
    assert everything["list_count"] == 5 and len(everything["lists"]) == 4
    rest = (await client.get("/4/lists?page_size=4&page=2", headers=ADMIN)).json()
    assert len(rest["lists"]) == 1


async def test_lists_bad_parameters(client):
    for query, name in [
        ("account_id=123", "account_id"),
        ("page=-1", "page"),
        ("page_size=5000", "page_size"),
    ]:
        response = await client.get(f"/4/lists?{query}", headers=ADMIN)
        assert response.status_code == 400
        assert response.json()["detail"] == f"Bad query parameters '{name}'"


async def test_list_info_and_membership_changes(client):
    account_id = await create_account(client, "one@example.com")
    (list_id,) = await add_platform_data(account_id, lists=1, faces=5, linked=5)
    info = (await client.get(f"/4/lists/{list_id}", headers=ADMIN)).json()
    assert info["face_count"] == 5 and info["account_id"] == account_id
    from webapp import db

    await db.fetch(
        "DELETE FROM list_face WHERE face_id IN "
        "(SELECT face_id FROM list_face WHERE list_id = $1 LIMIT 2)",
        uuid.UUID(list_id),
    )
    info = (await client.get(f"/4/lists/{list_id}", headers=ADMIN)).json()
    assert info["face_count"] == 3


async def test_unknown_list(client):
    response = await client.get(f"/4/lists/{uuid.uuid4()}", headers=ADMIN)
    assert response.status_code == 404
    assert response.json()["error_code"] == 22003
    assert (await client.get("/4/lists/xyz", headers=ADMIN)).json()["error_code"] == 12012


async def test_search_finds_accounts_by_id_and_login(client):
    account_id = await create_account(client, "findme@example.com")
    by_id = (await client.get(f"/4/search?q={account_id}", headers=ADMIN)).json()
    assert by_id["type"] == "account"
    assert by_id["data"]["info"]["login"] == "findme@example.com"
    assert set(by_id["data"]["stats"]) == {"list_count", "face_count", "face_attribute_count"}
    by_login = (await client.get("/4/search?q=findme@example.com", headers=ADMIN)).json()
    assert by_login["data"]["info"]["account_id"] == account_id
    upper = (await client.get("/4/search?q=FINDME@example.com", headers=ADMIN)).json()
    assert upper["data"]["info"]["account_id"] == account_id


async def test_search_finds_lists(client):
    account_id = await create_account(client, "haslist@example.com")
    (list_id,) = await add_platform_data(account_id, lists=1)
    found = (await client.get(f"/4/search?q={list_id}", headers=ADMIN)).json()
    assert found["type"] == "list" and found["data"]["list_id"] == list_id


async def test_search_nothing_found_and_missing_q(client):
    for q in (str(uuid.uuid4()), "nobody@example.com", "12345", "hello"):
        response = await client.get("/4/search", params={"q": q}, headers=ADMIN)
        assert response.status_code == 404, q
        assert response.json()["error_code"] == 29012
    missing = await client.get("/4/search", headers=ADMIN)
    assert missing.status_code == 400 and missing.json()["error_code"] == 12014


async def test_search_page_redirects_to_what_it_found(client):
    response = await client.get("/search", params={"q": ADMIN_LOGIN}, headers={**ADMIN, **HTML})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/accounts/")
    nothing = await client.get("/search", params={"q": "x@y.zz"}, headers={**ADMIN, **HTML})
    assert nothing.status_code == 404 and "Nothing found" in nothing.text
