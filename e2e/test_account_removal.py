"""Removing an account that owns data, on its page: the operator lands on the task
that removes the rows, watches it run (it cannot be cancelled), and sees it end.

The server's in-process worker really removes the rows; the test holds the face
table locked (`database.locked`) so the removal is seen while it runs, and lets
go to see it end."""

from __future__ import annotations

import re

from playwright.sync_api import APIRequestContext, Page, expect

from e2e.conftest import Database
from e2e.pages import AccountPage, AccountsPage, TaskPage, shot, unique_login

FACES = 600
ENDS_WITHIN_MS = 20_000


def account_with_faces(api: APIRequestContext, database: Database, login: str) -> str:
    answer = api.post(
        "accounts", data={"login": login, "password": "secret-e2e", "account_type": "user"}
    )
    assert answer.status == 201, answer.text()
    account_id = str(answer.json()["account_id"])
    database.execute(
        "WITH f AS (INSERT INTO face (account_id) SELECT $1::uuid FROM generate_series(1, $2) "
        "RETURNING face_id, account_id) "
        "INSERT INTO face_attribute (account_id, face_id, basic_attributes) "
        "SELECT account_id, face_id, '{\"age\": 40}' FROM f",
        account_id,
        FACES,
    )
    return account_id


def test_the_remove_action_shows_where_the_removal_runs(
    signed_in: Page, api: APIRequestContext, database: Database
) -> None:
    page = signed_in
    login = unique_login("removed")
    account_id = account_with_faces(api, database, login)
    account = AccountPage(page).open(account_id)
    expect(account.login).to_have_text(login)

    with database.locked("face"):
        account.delete(login)
        # The task's page: what it removes, its progress, polled; no way to cancel it.
        expect(page).to_have_url(re.compile(r"/tasks/[0-9]+$"))
        task = TaskPage(page)
        expect(task.flash).to_contain_text(f"Account {login} removed")
        expect(task.flash).to_contain_text("deleted in the background")
        expect(page.get_by_test_id("task-removes")).to_contain_text(login)
        expect(page.get_by_test_id("task-removes")).to_contain_text(account_id)
        expect(task.status).to_have_text(re.compile(r"^(pending|in_progress)$"))
        expect(page.get_by_test_id("removal-not-cancellable")).to_be_visible()
        expect(task.cancel_button).to_have_count(0)
        expect(task.delete_form).to_have_count(0)
        # The attributes go first; the faces wait for the lock.
        expect(task.subtasks.filter(has_text="face_attribute")).to_contain_text(str(FACES))
        shot(page, "account-removal-running")
        # Meanwhile the account is gone everywhere.
        other = page.context.new_page()
        accounts = AccountsPage(other).open()
        expect(accounts.table).to_be_visible()
        expect(accounts.row(login)).to_have_count(0)
        other.goto(f"/accounts/{account_id}")
        expect(other.get_by_test_id("error")).to_contain_text("15012")
        other.close()

    # Let go: it ends by itself, and the page says what went.
    expect(task.status).to_have_text("done", timeout=ENDS_WITHIN_MS)
    expect(task.result_value("removed_faces")).to_have_text(str(FACES))
    expect(task.result_value("removed_face_attributes")).to_have_text(str(FACES))
    expect(task.result_value("account_removed")).to_have_text("true")
    page.reload()  # now that it has ended, the task can be deleted
    expect(task.delete_form).to_be_visible()
    assert database.value("SELECT count(*) FROM face WHERE account_id = $1::uuid", account_id) == 0
    assert (
        database.value("SELECT count(*) FROM account WHERE account_id = $1::uuid", account_id) == 0
    )
    shot(page, "account-removal-done")
