"""Every page works with plain forms and links, without JavaScript."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import BrowserContext, expect

from e2e.pages import ADMIN_LOGIN, AccountPage, AccountsPage, LoginPage, unique_login


def test_sign_in_create_and_remove_without_javascript(
    new_context: Callable[..., BrowserContext], base_url: str
) -> None:
    page = new_context(java_script_enabled=False).new_page()
    login = unique_login("nojs")

    page.goto("/accounts")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Faccounts$"))
    LoginPage(page).sign_in()
    expect(page).to_have_url(base_url + "/accounts")
    accounts = AccountsPage(page)
    expect(accounts.signed_in_as).to_have_text(ADMIN_LOGIN)

    accounts.create(login, description="made without javascript")
    account = AccountPage(page)
    expect(page).to_have_url(re.compile(r"/accounts/[0-9a-f-]{36}$"))
    expect(account.login).to_have_text(login)
    expect(account.flash).to_contain_text(f"Account {login} created")

    # Removed: the page of the task that deletes its rows, where the progress shows.
    account.delete(login)
    expect(page).to_have_url(re.compile(r"/tasks/[0-9]+$"))
    expect(accounts.flash).to_contain_text(f"Account {login} removed")
    accounts.open()
    expect(accounts.row(login)).to_have_count(0)

    accounts.sign_out()
    expect(page).to_have_url(base_url + "/login")


def test_a_wrong_password_without_javascript(
    new_context: Callable[..., BrowserContext], base_url: str
) -> None:
    page = new_context(java_script_enabled=False).new_page()
    login = LoginPage(page).open()
    # An unknown login gets the same answer, and leaves the admin's failure count alone.
    login.sign_in(unique_login("nobody"), "not-the-password")
    expect(login.error).to_contain_text("incorrect")
    expect(page).to_have_url(base_url + "/login")


def test_a_taken_login_without_javascript_shows_the_page_with_the_error(
    new_context: Callable[..., BrowserContext],
    session_cookies: Callable[[], list[Any]],
) -> None:
    context = new_context(java_script_enabled=False)
    context.add_cookies(session_cookies())
    page = context.new_page()
    accounts = AccountsPage(page).open()

    accounts.create(ADMIN_LOGIN, description="a second root")

    expect(accounts.login_error).to_contain_text("already exists")
    expect(accounts.new_login).to_have_value(ADMIN_LOGIN)
    # A whole page, not the bare form: the top bar and the table are still there.
    # (Rendered whole on the server: look once, no need to wait for them.)
    assert accounts.nav.is_visible()
    assert accounts.table.is_visible()
