"""The pages: sign-in, accounts, account, lists, password, sign-out (plain forms)."""

from __future__ import annotations

import re
import uuid

import httpx

from tests.conftest import ADMIN, ADMIN_LOGIN, ADMIN_PASSWORD, HTML, PAGE_POST, SAME_ORIGIN
from tests.integration.helpers import account_count, add_platform_data, create_account


async def page_sign_in(client: httpx.AsyncClient, next_path: str = "/") -> httpx.Response:
    """The sign-in form posted as a browser posts it from the sign-in page."""
    return await client.post(
        "/login",
        headers=PAGE_POST,
        data={"login": ADMIN_LOGIN, "password": ADMIN_PASSWORD, "next": next_path},
    )


async def test_pages_without_a_session_redirect_to_login(client):
    for path in ("/", "/accounts", f"/accounts/{uuid.uuid4()}", "/lists", "/password"):
        response = await client.get(path, headers=HTML)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=")


async def test_htmx_request_without_session_is_told_to_go_to_login(client):
    response = await client.get("/accounts", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["hx-redirect"] == "/login"
    from_page = await client.get(
        "/accounts?page=2",
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/accounts?page=2"},
    )
    assert from_page.headers["hx-redirect"] == "/login?next=%2Faccounts%3Fpage%3D2"


async def test_sign_in_lands_where_the_operator_was_going(client):
    response = await page_sign_in(client, "/accounts?page=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/accounts?page=1"
    page = await client.get("/accounts", headers=HTML)
    assert page.status_code == 200 and ADMIN_LOGIN in page.text


async def test_sign_in_never_redirects_off_site(client):
    for target in ("//evil.example.com/", "https://evil.example.com/", "\\\\evil"):
        client.cookies.clear()
        response = await page_sign_in(client, target)
        assert response.headers["location"] == "/", target


async def test_login_page_when_signed_in_goes_home(client):
    await page_sign_in(client)
    response = await client.get("/login", headers=HTML)
    assert response.status_code == 303 and response.headers["location"] == "/"


async def test_wrong_password_is_shown_inline(client):
    response = await client.post(
        "/login",
        headers=PAGE_POST,
        data={"login": ADMIN_LOGIN, "password": "wrong", "next": "/"},
    )
    assert response.status_code == 401
    assert "Account login or password are incorrect" in response.text
    assert 'value="root@visionlabs.ai"' in response.text


async def test_the_sign_in_form_has_no_token_and_sets_no_cookie(client):
    form = await client.get("/login", headers=HTML)
    assert "_csrf_token" not in form.text and "csrf" not in form.text.lower()
    assert not form.cookies


async def test_a_non_admin_is_told_so_on_the_sign_in_page(client):
    await create_account(client, "user@example.com", "secret", "user")
    response = await client.post(
        "/login", headers=PAGE_POST, data={"login": "user@example.com", "password": "secret"}
    )
    assert response.status_code == 403
    assert "Only admin accounts may sign in" in response.text
    assert "luna_admin_session" not in response.cookies


async def test_create_account_form_post_redirect_get(client):
    await page_sign_in(client)
    response = await client.post(
        "/accounts",
        headers=PAGE_POST,
        data={
            "login": "form@example.com",
            "password": "secret",
            "account_type": "user",
            "description": "made by a form",
        },
    )
    assert response.status_code == 303
    location = response.headers["location"]
    assert re.fullmatch(r"/accounts/[0-9a-f-]{36}", location)
    shown = await client.get(location, headers=HTML)
    assert "form@example.com" in shown.text and "Account form@example.com created" in shown.text
    # The flash is shown once.
    again = await client.get(location, headers=HTML)
    assert "Account form@example.com created" not in again.text


async def test_create_form_errors_come_back_inline_and_nothing_is_created(client):
    await page_sign_in(client)
    response = await client.post(
        "/accounts",
        headers={"HX-Request": "true", **SAME_ORIGIN},
        data={"login": "Bad Login", "password": "secret", "account_type": "user"},
    )
    assert response.status_code == 422
    assert "Enter an e-mail address" in response.text
    assert 'value="Bad Login"' in response.text
    assert "secret" not in response.text
    assert await account_count() == 1


async def test_create_form_errors_without_javascript_show_the_whole_page(client):
    await page_sign_in(client)
    response = await client.post(
        "/accounts", headers=PAGE_POST, data={"login": ADMIN_LOGIN, "password": "secret"}
    )
    assert response.status_code == 422
    assert "<html" in response.text and 'id="accounts-table"' in response.text
    assert "already exists" in response.text


async def test_create_form_posted_from_another_site_is_refused(client):
    await page_sign_in(client)
    for forged in (
        {"Origin": "http://evil.example.com", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://testserver:8080"},  # another port: another origin
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "null"},
    ):
        response = await client.post(
            "/accounts",
            headers={**HTML, **forged},
            data={"login": "forged@example.com", "password": "secret"},
        )
        assert response.status_code == 403, forged
        assert "29200" in response.text
    assert await account_count() == 1


async def test_live_validation_of_a_field(client):
    await page_sign_in(client)
    headers = {"HX-Request": "true", **SAME_ORIGIN}
    bad = await client.post(
        "/accounts/validate?field=login", headers=headers, data={"login": "nope"}
    )
    assert "Enter an e-mail address" in bad.text
    taken = await client.post(
        "/accounts/validate?field=login", headers=headers, data={"login": ADMIN_LOGIN}
    )
    assert "already exists" in taken.text
    fine = await client.post(
        "/accounts/validate?field=login", headers=headers, data={"login": "free@example.com"}
    )
    assert 'data-field="login"' in fine.text and "Enter" not in fine.text


async def test_account_page_shows_info_stats_and_lists(client):
    account_id = await create_account(client, "shown@example.com")
    await add_platform_data(account_id, lists=2, faces=1234, attributes=3, linked=10)
    await page_sign_in(client)
    page = await client.get(f"/accounts/{account_id}", headers=HTML)
    assert page.status_code == 200
    assert "shown@example.com" in page.text and "1,234" in page.text
    assert page.text.count('href="/lists/') == 2
    lists_page = await client.get(f"/accounts/{account_id}/lists", headers=HTML)
    assert lists_page.status_code == 200 and "list 1" in lists_page.text


async def test_unknown_account_page_is_a_readable_404(client):
    await page_sign_in(client)
    page = await client.get(f"/accounts/{uuid.uuid4()}", headers=HTML)
    assert page.status_code == 404
    assert "<html" in page.text and "15012" in page.text


async def test_delete_needs_the_login_typed(client):
    account_id = await create_account(client, "victim@example.com")
    await page_sign_in(client)
    wrong = await client.post(
        f"/accounts/{account_id}/delete", headers=PAGE_POST, data={"_confirm": "victim"}
    )
    assert wrong.status_code == 400
    assert (await client.get(f"/4/accounts/{account_id}", headers=ADMIN)).status_code == 200
    right = await client.post(
        f"/accounts/{account_id}/delete",
        headers=PAGE_POST,
        data={"_confirm": "victim@example.com"},
    )
    # To the page of the task that removes its rows: where the progress shows.
    assert right.status_code == 303 and right.headers["location"].startswith("/tasks/")
    assert (await client.get(f"/4/accounts/{account_id}", headers=ADMIN)).status_code == 404
    progress = await client.get(right.headers["location"], headers=HTML)
    assert "Account victim@example.com removed" in progress.text
    assert "deleted in the background" in progress.text


async def test_change_password_page(client):
    await page_sign_in(client)
    current = {"_current_password": ADMIN_PASSWORD}
    mismatch = await client.post(
        "/password",
        headers=PAGE_POST,
        data={**current, "password": "abc", "_password_confirm": "abd"},
    )
    assert mismatch.status_code == 400 and "differ" in mismatch.text
    changed = await client.post(
        "/password",
        headers=PAGE_POST,
        data={**current, "password": "newpass", "_password_confirm": "newpass"},
    )
    assert changed.status_code == 303
    assert (await client.get("/accounts", headers=HTML)).status_code == 200
    assert (await client.get("/4/accounts", headers=ADMIN)).status_code in (401, 429)


async def test_sign_out(client):
    await page_sign_in(client)
    response = await client.post("/logout", headers=PAGE_POST)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert (await client.get("/accounts", headers=HTML)).status_code == 303


async def test_accounts_page_filters_and_paging(client):
    for i in range(12):
        await create_account(client, f"page{i:02d}@example.com")
    await page_sign_in(client)
    first = await client.get("/accounts?page_size=10", headers=HTML)
    assert first.text.count('data-testid="account-row"') == 10
    assert "13 in all" in first.text and "page=2" in first.text
    partial = await client.get("/accounts?page=2&page_size=10", headers={"HX-Request": "true"})
    assert partial.text.count('data-testid="account-row"') == 3
    bad = await client.get("/accounts?create_time__gte=notatime", headers=HTML)
    assert bad.status_code == 400 and "create_time__gte" in bad.text
