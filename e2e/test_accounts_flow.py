"""The operator's round trip: create an account, find it, remove it, sign out."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from e2e.pages import AccountPage, AccountsPage, LoginPage, unique_login


def test_sign_in_create_find_remove_and_sign_out(page: Page, base_url: str) -> None:
    login = unique_login("flow")
    LoginPage(page).open().sign_in()
    expect(page).to_have_url(base_url + "/")

    # Create it through the form: the new account's page, with a flash message.
    accounts = AccountsPage(page).open()
    accounts.create(login, account_type="user", description="made by the e2e flow")
    account = AccountPage(page)
    expect(page).to_have_url(re.compile(r"/accounts/[0-9a-f-]{36}$"))
    expect(account.login).to_have_text(login)
    expect(account.flash).to_contain_text(f"Account {login} created")
    account_url = page.url
    account_id = account.account_id.inner_text()
    assert account_url.endswith(account_id)

    # The table lists it, and the flash message was shown once only.
    accounts.open()
    expect(accounts.flash).to_have_count(0)
    expect(accounts.row(login)).to_have_count(1)
    expect(accounts.row(login)).to_contain_text("made by the e2e flow")

    # The search box in the top bar leads to its page.
    accounts.search(login)
    expect(page).to_have_url(account_url)
    expect(account.login).to_have_text(login)

    # A wrong confirmation removes nothing: the browser refuses to send it...
    account.delete(f"x{login}")
    expect(page).to_have_url(account_url)
    assert account.delete_confirm.evaluate("input => input.validity.patternMismatch")
    # ...and the server refuses it when a browser sends it anyway.
    account.delete_form.evaluate("form => { form.noValidate = true; }")
    account.delete(f"x{login}")
    expect(page.get_by_test_id("error")).to_contain_text("confirm", ignore_case=True)
    account.open(account_id)
    expect(account.login).to_have_text(login)

    # The right confirmation removes it, and leads to where its rows' removal shows.
    account.delete(login)
    expect(page).to_have_url(re.compile(r"/tasks/[0-9]+$"))
    expect(accounts.flash).to_contain_text(f"Account {login} removed")
    accounts.open()
    expect(accounts.table).to_be_visible()
    expect(accounts.row(login)).to_have_count(0)
    accounts.search(login)
    expect(page.get_by_test_id("search-empty")).to_contain_text(login)

    # Sign out: back on the sign-in page, and the pages ask for it again.
    accounts.sign_out()
    expect(page).to_have_url(base_url + "/login")
    expect(LoginPage(page).submit).to_be_visible()
    page.goto("/accounts")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Faccounts$"))
