"""The create form checks each field as it is typed (HTMX), before anything is sent."""

from __future__ import annotations

import re

from playwright.sync_api import Page, Request, expect

from e2e.pages import ADMIN_LOGIN, AccountsPage, unique_login


def test_a_bad_login_is_reported_under_the_field_while_typing(
    signed_in: Page, base_url: str
) -> None:
    page = signed_in
    accounts = AccountsPage(page).open()
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)

    accounts.new_login.press_sequentially("not an e-mail")

    expect(accounts.login_error).not_to_be_empty()
    expect(accounts.login_error).to_contain_text("e-mail", ignore_case=True)
    expect(accounts.new_login).to_be_focused()
    expect(accounts.new_login).to_have_value("not an e-mail")
    expect(page).to_have_url(base_url + "/accounts")
    assert posts, "the field was not checked"
    assert all("/accounts/validate?field=login" in url for url in posts), posts

    # Correcting it clears the message.
    accounts.new_login.fill("")
    accounts.new_login.press_sequentially(unique_login("typed"))
    expect(accounts.login_error).to_be_empty()


def test_a_taken_login_is_reported_while_typing_and_on_submit(signed_in: Page) -> None:
    page = signed_in
    accounts = AccountsPage(page).open()

    accounts.new_login.press_sequentially(ADMIN_LOGIN)
    expect(accounts.login_error).to_contain_text("already exists")

    # Sending the form anyway answers with the same form, the values kept.
    accounts.new_password.fill("secret-e2e")
    accounts.new_description.fill("a second root")
    accounts.create_button.click()
    expect(accounts.login_error).to_contain_text("already exists")
    expect(accounts.new_login).to_have_value(ADMIN_LOGIN)
    expect(accounts.new_description).to_have_value("a second root")
    expect(accounts.new_password).to_have_value("")
    expect(page).to_have_url(re.compile(r"/accounts$"))
    expect(accounts.rows.filter(has_text="a second root")).to_have_count(0)


def test_a_short_password_is_reported_when_the_field_is_left(signed_in: Page) -> None:
    accounts = AccountsPage(signed_in).open()
    sent: list[Request] = []
    signed_in.on("request", lambda r: sent.append(r) if r.method == "POST" else None)

    accounts.new_password.fill("ab")
    accounts.new_password.blur()

    expect(accounts.password_error).not_to_be_empty()
    assert [r.url.rsplit("/", 1)[-1] for r in sent] == ["validate?field=password"]
