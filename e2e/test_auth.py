"""Signing in and out."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Page, expect

from e2e.pages import ADMIN_LOGIN, AccountsPage, AppPage, LoginPage


def test_a_page_without_a_session_sends_to_sign_in_and_back(page: Page, base_url: str) -> None:
    wanted = "/accounts?page_size=25"
    page.goto(wanted)

    expect(page).to_have_url(re.compile(r"/login\?next="))
    assert parse_qs(urlsplit(page.url).query)["next"] == [wanted]
    LoginPage(page).sign_in()

    expect(page).to_have_url(base_url + wanted)
    accounts = AccountsPage(page)
    expect(accounts.signed_in_as).to_have_text(ADMIN_LOGIN)
    expect(accounts.table).to_be_visible()
    expect(page.get_by_label("Per page")).to_have_value("25")


def test_a_wrong_password_is_reported_on_the_sign_in_form(page: Page, base_url: str) -> None:
    login = LoginPage(page).open()
    # Survives only if the page is not reloaded: the error must come in place.
    page.evaluate("window.__still_here = true")

    login.sign_in(ADMIN_LOGIN, "not-the-password")

    expect(login.error).to_be_visible()
    expect(login.error).to_contain_text("incorrect")
    expect(page).to_have_url(base_url + "/login")
    assert page.evaluate("window.__still_here") is True
    expect(login.login).to_have_value(ADMIN_LOGIN)
    expect(login.password).to_have_value("")
    expect(login.signed_in_as).to_have_count(0)


def test_signing_out_ends_the_session(signed_in: Page, base_url: str) -> None:
    AppPage(signed_in).sign_out()

    expect(signed_in).to_have_url(base_url + "/login")
    expect(LoginPage(signed_in).submit).to_be_visible()
    signed_in.goto("/accounts")
    expect(signed_in).to_have_url(re.compile(r"/login\?next=%2Faccounts$"))


def test_signing_out_says_so_on_the_sign_in_page_only(signed_in: Page) -> None:
    accounts = AccountsPage(signed_in)
    login = LoginPage(signed_in)
    accounts.sign_out()
    expect(login.submit).to_be_visible()
    # The page is rendered whole on the server: look once, no need to wait for it.
    assert accounts.flash.all_inner_texts() == ["Signed out"]

    login.sign_in()
    expect(accounts.signed_in_as).to_have_text(ADMIN_LOGIN)
    assert accounts.flash.all_inner_texts() == []
