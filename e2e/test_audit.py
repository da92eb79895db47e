"""The audit page shows a change made earlier in the same test, found with its filters."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import APIRequestContext, BrowserContext, Page, expect

from e2e.pages import (
    ADMIN_LOGIN,
    AccountPage,
    AccountsPage,
    AuditPage,
    LoginPage,
    overflow,
    shot,
    unique_login,
)


def create_account(api: APIRequestContext, login: str) -> str:
    answer = api.post("accounts", data={"login": login, "password": "secret-e2e"})
    assert answer.status == 201, answer.text()
    return str(answer.json()["account_id"])


def test_an_account_deleted_on_its_page_is_on_the_audit_page(
    signed_in: Page, api: APIRequestContext, base_url: str
) -> None:
    page = signed_in
    login = unique_login("audited")
    account_id = create_account(api, login)

    # Delete it the way an operator does: on its page, the login typed to confirm.
    account = AccountPage(page).open(account_id)
    account.delete(login)
    expect(AccountsPage(page).flash).to_contain_text(f"Account {login} removed")

    # The nav leads to the log; filtering by action swaps the table in place.
    page.get_by_role("link", name="Audit", exact=True).click()
    audit = AuditPage(page)
    expect(page).to_have_url(base_url + "/audit")
    expect(audit.table).to_be_visible()
    audit.filter_by_action("account.delete")
    expect(page).to_have_url(re.compile(r"/audit\?.*action=account\.delete"))
    expect(audit.rows.first).to_be_visible()
    for action in audit.rows.evaluate_all("rows => rows.map(r => r.dataset.action)"):
        assert action == "account.delete"

    row = audit.rows_about(login)
    expect(row).to_have_count(1)
    expect(audit.actor_of(row)).to_have_text(ADMIN_LOGIN)
    expect(audit.action_of(row)).to_have_text("account.delete")
    expect(row.get_by_role("link", name=account_id)).to_have_attribute(
        "href", f"/accounts/{account_id}"
    )
    expect(audit.details_of(row)).to_contain_text(login)
    shot(page, "audit-filtered")

    # Its creation is there too, under the other filter; the page survives a reload.
    # (newest first; the end of its background removal may be there already).
    audit.open(f"target_id={account_id}")
    expect(audit.rows.last).to_be_visible()
    actions = audit.rows.evaluate_all("rows => rows.map(r => r.dataset.action)")
    assert actions[-2:] == ["account.delete", "account.create"]
    assert actions[:-2] in ([], ["account.delete_finished"])
    expect(audit.target_id).to_have_value(account_id)


def test_the_audit_filters_work_without_javascript(
    new_context: Callable[..., BrowserContext], api: APIRequestContext, base_url: str
) -> None:
    login = unique_login("nojs-audit")
    create_account(api, login)
    page = new_context(java_script_enabled=False).new_page()
    page.goto("/audit")
    LoginPage(page).sign_in()
    audit = AuditPage(page)
    expect(page).to_have_url(base_url + "/audit")

    audit.filter_by_action("account.create")
    expect(page).to_have_url(re.compile(r"/audit\?.*action=account\.create"))
    expect(audit.rows_about(login)).to_have_count(1)

    # A wrong time is explained next to the filters, which stay to correct it.
    audit.page.get_by_test_id("filter-from").fill("yesterday")
    audit.apply_button.click()
    expect(audit.filter_error).to_contain_text("event_time__gte")
    expect(audit.filters).to_be_visible()


def test_the_audit_page_fits_a_phone(
    new_context: Callable[..., BrowserContext], session_cookies: Callable[[], list[Any]]
) -> None:
    context = new_context(viewport={"width": 390, "height": 844})
    context.add_cookies(session_cookies())
    page = context.new_page()
    audit = AuditPage(page).open()
    expect(audit.rows.first).to_be_visible()  # at least this session's sign-in
    shot(page, "audit-390")
    assert overflow(page) <= 0, f"the audit page is {overflow(page)}px too wide"
