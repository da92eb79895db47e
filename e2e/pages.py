"""Page objects: what an operator can see and do on each page, by data-testid.

Tests speak in these terms (sign in, create an account, remove it); when the
markup changes, only this file follows.
"""

from __future__ import annotations

import uuid

from playwright.sync_api import Locator, Page

ADMIN_LOGIN = "root@visionlabs.ai"
ADMIN_PASSWORD = "root"


def unique_login(prefix: str = "e2e") -> str:
    """A login no other test uses, valid for the account schema (lower case)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


class AppPage:
    """What every signed-in page has: the top bar and the flash message."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.flash = page.get_by_test_id("flash")
        self.nav = page.get_by_role("navigation", name="Main")
        self.search_input = page.get_by_test_id("search-input")
        self.signed_in_as = page.get_by_test_id("signed-in-as")
        self.sign_out_button = page.get_by_test_id("sign-out")

    def search(self, query: str) -> None:
        self.search_input.fill(query)
        self.search_input.press("Enter")

    def sign_out(self) -> None:
        self.sign_out_button.click()


class LoginPage(AppPage):
    path = "/login"

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.login = page.get_by_test_id("login")
        self.password = page.get_by_test_id("password")
        self.submit = page.get_by_test_id("sign-in")
        self.error = page.get_by_test_id("login-error")

    def open(self) -> LoginPage:
        self.page.goto(self.path)
        return self

    def sign_in(self, login: str = ADMIN_LOGIN, password: str = ADMIN_PASSWORD) -> None:
        self.login.fill(login)
        self.password.fill(password)
        self.submit.click()


class AccountsPage(AppPage):
    path = "/accounts"

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.table = page.get_by_test_id("accounts-table")
        self.rows = page.get_by_test_id("account-row")
        self.create_form = page.get_by_test_id("create-account-form")
        self.new_login = page.get_by_test_id("new-login")
        self.new_password = page.get_by_test_id("new-password")
        self.new_type = page.get_by_test_id("new-type")
        self.new_description = page.get_by_test_id("new-description")
        self.create_button = page.get_by_test_id("create-account")
        self.login_error = page.get_by_test_id("error-login")
        self.password_error = page.get_by_test_id("error-password")

    def open(self) -> AccountsPage:
        self.page.goto(self.path)
        return self

    def row(self, login: str) -> Locator:
        return self.rows.filter(has=self.page.get_by_role("link", name=login, exact=True))

    def fill_new_account(
        self,
        login: str,
        password: str = "secret-e2e",
        account_type: str = "user",
        description: str = "",
    ) -> None:
        self.new_login.fill(login)
        self.new_password.fill(password)
        self.new_type.select_option(account_type)
        self.new_description.fill(description)

    def create(self, login: str, **fields: str) -> None:
        self.fill_new_account(login, **fields)
        self.create_button.click()


class AccountPage(AppPage):
    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.login = page.get_by_test_id("account-login")
        self.account_id = page.get_by_test_id("account-id")
        self.stats = page.get_by_test_id("account-stats")
        self.lists = page.get_by_test_id("lists-table")
        self.delete_form = page.get_by_test_id("delete-form")
        self.delete_confirm = page.get_by_test_id("delete-confirm")
        self.delete_button = page.get_by_test_id("delete-account")

    def open(self, account_id: str) -> AccountPage:
        self.page.goto(f"/accounts/{account_id}")
        return self

    def delete(self, confirmation: str) -> None:
        self.delete_confirm.fill(confirmation)
        self.delete_button.click()
