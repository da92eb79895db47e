"""The pages fit narrow and wide screens and load nothing from other hosts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import APIRequestContext, BrowserContext, expect

from e2e.pages import AccountPage, AccountsPage, LoginPage, overflow, shot, unique_login

"""A folder to save full-page screenshots of each checked page into, for a look by eye."""

LONG_DESCRIPTION = (
    "An account with a long description, as operators write them: the customer, "
    "the site, the contract number 2026-0042."
)


def create_account(api: APIRequestContext, login: str, description: str = "") -> str:
    answer = api.post(
        "accounts",
        data={
            "login": login,
            "password": "secret-e2e",
            "account_type": "advanced_user",
            "description": description,
        },
    )
    assert answer.status == 201, answer.text()
    return str(answer.json()["account_id"])


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1280, 800)])
def test_pages_fit_the_screen_and_load_only_from_this_site(
    width: int,
    height: int,
    new_context: Callable[..., BrowserContext],
    api: APIRequestContext,
    base_url: str,
) -> None:
    # A long run of letters, with nowhere to break a line: the hard case for a phone.
    long_login = unique_login("averylongloginwithoutanyplacetobreakitforthelayoutcheck")
    account_id = create_account(api, long_login, LONG_DESCRIPTION)
    page = new_context(viewport={"width": width, "height": height}).new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    LoginPage(page).open().sign_in()
    accounts = AccountsPage(page)
    expect(accounts.table).to_be_visible()
    row = accounts.row(long_login)
    expect(row).to_be_visible()
    for cell in (row.get_by_text("advanced_user"), row.locator("time")):
        box = cell.bounding_box()
        assert box and box["x"] + box["width"] <= width, "a column is cut off at the right"
    expect(accounts.nav).to_be_visible()
    expect(accounts.search_input).to_be_visible()
    expect(accounts.sign_out_button).to_be_visible()
    assert overflow(page) <= 0, f"the accounts page is {overflow(page)}px too wide"
    shot(page, f"accounts-{width}")

    account = AccountPage(page).open(account_id)
    expect(account.login).to_have_text(long_login)
    expect(account.nav).to_be_visible()
    expect(account.delete_button).to_be_visible()
    assert overflow(page) <= 0, f"the account page is {overflow(page)}px too wide"
    shot(page, f"account-{width}")

    elsewhere = [url for url in requested if not url.startswith(base_url + "/")]
    assert not elsewhere, f"requests to other hosts: {elsewhere}"
    assert any("/static/css/app.css" in url for url in requested)
    assert any("/static/vendor/htmx.min.js" in url for url in requested)
