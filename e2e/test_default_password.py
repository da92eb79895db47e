"""The default password: the banner every page shows while root@visionlabs.ai still has
the password root, and the password page, which asks for the current password.

The other browser tests sign in as root / root, so the password changed here is put
back (through the API) whatever happens."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, Playwright, expect

from e2e.conftest import API_VERSION, basic_auth
from e2e.pages import ADMIN_LOGIN, ADMIN_PASSWORD, AccountsPage, PasswordPage

NEW_PASSWORD = "e2e-Better-pw"


@pytest.fixture
def password_put_back(playwright: Playwright, base_url: str) -> Iterator[None]:
    yield
    client = playwright.request.new_context(base_url=base_url)
    try:
        for password in (NEW_PASSWORD, ADMIN_PASSWORD):
            answer = client.patch(
                f"/{API_VERSION}/login",
                headers=basic_auth(ADMIN_LOGIN, password),
                data={"password": ADMIN_PASSWORD},
            )
            if answer.status == 204:
                break
        else:
            pytest.fail("could not put the default password back")
    finally:
        client.dispose()


def test_the_banner_leads_to_the_password_page_and_goes_once_changed(
    signed_in: Page, base_url: str, password_put_back: None
) -> None:
    accounts = AccountsPage(signed_in)
    expect(accounts.default_password_banner).to_be_visible()
    expect(accounts.default_password_banner).to_contain_text(ADMIN_LOGIN)
    signed_in.goto("/tasks")
    expect(accounts.default_password_banner).to_be_visible()

    accounts.default_password_banner.get_by_role("link", name="Change the password").click()
    expect(signed_in).to_have_url(base_url + "/password")
    form = PasswordPage(signed_in)

    form.change("not-the-password", NEW_PASSWORD)
    expect(form.error).to_contain_text("current password is not correct")
    expect(signed_in).to_have_url(base_url + "/password")

    form.change(ADMIN_PASSWORD, NEW_PASSWORD)
    expect(signed_in).to_have_url(re.compile(re.escape(base_url) + r"/$"))
    expect(accounts.flash).to_contain_text("Password changed")
    expect(accounts.default_password_banner).to_have_count(0)
    signed_in.goto("/tasks")
    expect(signed_in.get_by_test_id("signed-in-as")).to_have_text(ADMIN_LOGIN)
    expect(accounts.default_password_banner).to_have_count(0)
