"""The task pages: launch a GC, watch it, read its result, preview, cancel, delete,
an invalid form, and the notification-policy editor.

Tasks really run: the server has an in-process worker. Where a test must see a
task while it runs, it holds the descriptor table locked (`database.locked`):
the task starts and waits at its first delete until the test lets go.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    APIRequestContext,
    BrowserContext,
    Page,
    Request,
    expect,
)

from e2e.conftest import Database
from e2e.pages import PolicyPage, TaskPage, TasksPage, overflow, shot, unique_login

RUNNING = re.compile(r"^(pending|in_progress)$")
ENDS_WITHIN_MS = 15_000
"""How long a task of a few thousand rows may take to end once unblocked."""


def seed_descriptors(api: APIRequestContext, database: Database, count: int, version: int) -> str:
    """An account with `count` faces, each with a descriptor of `version`."""
    answer = api.post(
        "accounts",
        data={"login": unique_login("gc"), "password": "secret-e2e", "account_type": "user"},
    )
    assert answer.status == 201, answer.text()
    account_id = str(answer.json()["account_id"])
    database.execute(
        "WITH f AS (INSERT INTO face (account_id) SELECT $1::uuid FROM generate_series(1, $2) "
        "RETURNING face_id) "
        "INSERT INTO descriptor (face_id, descriptor_version, vector) "
        "SELECT face_id, $3, '\\x01'::bytea FROM f",
        account_id,
        count,
        version,
    )
    assert descriptor_count(database, version) == count
    return account_id


def descriptor_count(database: Database, version: int) -> int:
    return int(
        database.value("SELECT count(*) FROM descriptor WHERE descriptor_version = $1", version)
    )


def task_count(api: APIRequestContext) -> int:
    answer = api.get("tasks/count")
    assert answer.status == 200, answer.text()
    return int(answer.json()["count"])


def create_gc(api: APIRequestContext, **body: Any) -> int:
    content = body.pop(
        "content", {"target": "face_descriptors", "filters": {"descriptor_version": 999}}
    )
    answer = api.post("tasks/gc", data={"content": content, **body})
    assert answer.status == 201, answer.text()
    return int(answer.json()["task_id"])


def running_subtasks(api: APIRequestContext, task_id: int) -> list[int]:
    answer = api.get(f"tasks/{task_id}/subtasks")
    assert answer.status == 200, answer.text()
    return [s["subtask_id"] for s in answer.json()["subtasks"] if s["subtask_status"] == 1]


def wait_until(condition: Callable[[], bool], seconds: float = ENDS_WITHIN_MS / 1000) -> bool:
    """Poll a condition on the server (not the page: expect() does that)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def polls_of(requests: list[Request], task_id: int) -> int:
    return sum(
        1
        for r in requests
        if r.url.endswith(f"/tasks/{task_id}") and r.headers.get("hx-request") == "true"
    )


def test_launch_a_gc_watch_it_finish_and_download_the_result(
    signed_in: Page, api: APIRequestContext, database: Database, base_url: str
) -> None:
    page = signed_in
    seed_descriptors(api, database, 120, version=56)
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    tasks = TasksPage(page).open()

    with database.locked("descriptor"):
        tasks.run_gc(descriptor_version="56", description="old descriptors", ttl="7")
        expect(tasks.gc_confirm_statement).to_contain_text("would remove 120 descriptors")
        tasks.confirm_gc()
        expect(page).to_have_url(re.compile(r"/tasks/[0-9]+$"))
        task = TaskPage(page)
        task_id = task.task_id
        expect(task.flash).to_have_text(f"Task {task_id} started")
        expect(task.status).to_have_text(RUNNING)
        expect(task.result_link).to_have_count(0)
        # Survives only if the page is not reloaded: the progress must come in place.
        page.evaluate("window.__still_here = true")

    expect(task.status).to_have_text("done", timeout=ENDS_WITHIN_MS)
    assert page.evaluate("window.__still_here") is True, "the page was reloaded"
    assert polls_of(requests, task_id) > 0, "the progress was not polled"
    expect(task.parts).to_contain_text("1 of 1 part ended")
    expect(task.objects).to_contain_text("120 of 120 objects · 100%")
    expect(task.result_value("removed_count")).to_have_text("120")
    expect(task.subtasks).to_have_count(1)
    expect(task.subtasks.first).to_contain_text("done")
    assert descriptor_count(database, 56) == 0

    # The poller stopped with the task.
    polls = polls_of(requests, task_id)
    page.wait_for_timeout(1500)  # over one polling interval: no request may come
    assert polls_of(requests, task_id) == polls, "the page kept polling an ended task"

    # The result, downloaded as a JSON file with the session cookie.
    with page.expect_download() as download:
        task.result_link.click()
    assert download.value.suggested_filename == f"task-{task_id}-result.json"
    result = json.loads(Path(download.value.path()).read_text())
    assert result["removed_count"] == 120 and len(result["removed_ids"]) == 120
    assert result["dry_run"] is False

    # The tasks table lists it, done.
    tasks.open()
    expect(tasks.row(task_id)).to_contain_text("done")
    expect(tasks.row(task_id)).to_contain_text("old descriptors")


def test_a_preview_reports_what_would_go_and_removes_nothing(
    signed_in: Page, api: APIRequestContext, database: Database
) -> None:
    page = signed_in
    seed_descriptors(api, database, 40, version=57)
    tasks = TasksPage(page).open()

    tasks.preview_gc(descriptor_version="57")

    task = TaskPage(page)
    expect(page).to_have_url(re.compile(r"/tasks/[0-9]+$"))
    expect(task.status).to_have_text("done", timeout=ENDS_WITHIN_MS)
    expect(task.result_value("dry_run")).to_have_text("true")
    expect(task.result_value("would_remove_count")).to_have_text("40")
    expect(task.result_value("removed_count")).to_have_text("0")
    assert descriptor_count(database, 57) == 40
    answer = page.request.get(task.result_link.get_attribute("href") or "")
    assert answer.ok and answer.json()["would_remove_count"] == 40


def test_cancel_a_running_task(signed_in: Page, api: APIRequestContext, database: Database) -> None:
    page = signed_in
    seed_descriptors(api, database, 3000, version=58)
    tasks = TasksPage(page).open()

    with database.locked("descriptor"):
        tasks.run_gc(descriptor_version="58")
        tasks.confirm_gc()
        task = TaskPage(page)
        expect(task.status).to_have_text("in_progress", timeout=ENDS_WITHIN_MS)
        task_id = task.task_id
        expect(task.subtasks).to_have_count(3)  # 3000 ids, 1000 per subtask
        shot(page, "task-running")

        # Saying no to the question changes nothing.
        asked = task.cancel(accept=False)
        assert f"Cancel task {task_id}?" in asked
        expect(task.status).to_have_text("in_progress")

        asked = task.cancel(accept=True)
        assert f"Cancel task {task_id}?" in asked
        expect(task.flash).to_have_text(f"Task {task_id} cancelled")
        expect(task.status).to_have_text("cancelled")
        expect(task.cancel_button).to_have_count(0)

    # Let go: the worker stops at its next batch; almost everything stays. (The page
    # stopped polling with the cancel: the subtask that was running settles unseen.)
    assert wait_until(lambda: not running_subtasks(api, task_id)), "a subtask kept running"
    task.open(task_id)
    expect(task.status).to_have_text("cancelled")
    expect(task.subtasks.filter(has_text="in_progress")).to_have_count(0)
    expect(task.result_link).to_have_count(0)
    assert descriptor_count(database, 58) >= 3000 - 50  # one batch at most


def test_delete_a_task_by_typing_its_number(
    signed_in: Page, api: APIRequestContext, base_url: str
) -> None:
    page = signed_in
    task_id = create_gc(api, description="to be deleted")
    task = TaskPage(page).open(task_id)
    expect(task.status).to_have_text("done", timeout=ENDS_WITHIN_MS)

    # A wrong number: the browser refuses to send it...
    task.delete(f"{task_id}0")
    assert task.delete_confirm.evaluate("input => input.validity.patternMismatch")
    # ...and the server refuses it when sent anyway, beside the field.
    task.delete_form.evaluate("form => { form.noValidate = true; }")
    task.delete(f"{task_id}0")
    expect(task.delete_error).to_contain_text(f"Type '{task_id}' to confirm")
    assert api.get(f"tasks/{task_id}").status == 200

    task.delete(str(task_id))
    expect(page).to_have_url(base_url + "/tasks")
    tasks = TasksPage(page)
    expect(tasks.flash).to_have_text(f"Task {task_id} deleted")
    expect(tasks.row(task_id)).to_have_count(0)
    assert api.get(f"tasks/{task_id}").status == 404


def test_an_invalid_gc_form_shows_the_error_inline_and_creates_nothing(
    signed_in: Page, api: APIRequestContext, base_url: str
) -> None:
    page = signed_in
    before = task_count(api)
    tasks = TasksPage(page).open()
    page.evaluate("window.__still_here = true")

    tasks.run_gc(descriptor_version="", description="no version given")

    version_error = tasks.gc_error("content.filters.descriptor_version")
    expect(version_error).to_contain_text("descriptor version")
    expect(page).to_have_url(base_url + "/tasks")
    assert page.evaluate("window.__still_here") is True, "the form was not answered in place"
    expect(tasks.gc_description).to_have_value("no version given")
    expect(tasks.gc_descriptor_version).to_be_focused()
    shot(page, "gc-form-error")
    assert task_count(api) == before

    # Corrected, it goes (once the removal across every account is confirmed).
    tasks.gc_descriptor_version.fill("59")
    tasks.gc_run_button.click()
    tasks.confirm_gc()
    expect(page).to_have_url(re.compile(r"/tasks/[0-9]+$"))
    assert task_count(api) == before + 1


def test_the_gc_form_shows_the_chosen_targets_filters(signed_in: Page) -> None:
    tasks = TasksPage(signed_in).open()
    expect(tasks.gc_descriptor_version).to_be_visible()
    expect(tasks.gc_list_id).to_be_hidden()

    tasks.gc_target.select_option("faces")
    expect(tasks.gc_descriptor_version).to_be_hidden()
    expect(tasks.gc_list_id).to_be_visible()
    expect(tasks.gc_account_id).to_be_visible()
    expect(tasks.gc_handler_id).to_be_hidden()

    tasks.gc_target.select_option("events")
    expect(tasks.gc_handler_id).to_be_visible()
    expect(tasks.gc_remove_samples).to_be_visible()
    expect(tasks.gc_list_id).to_be_hidden()
    expect(tasks.gc_store_results).to_be_checked()


def test_a_gc_without_any_filter_asks_first(signed_in: Page, api: APIRequestContext) -> None:
    page = signed_in
    before = task_count(api)
    tasks = TasksPage(page).open()
    tasks.gc_target.select_option("faces")
    tasks.gc_run_button.click()
    # The server states what would go, in place of the form; nothing runs yet.
    expect(tasks.gc_confirm_statement).to_contain_text("faces, in every account")
    expect(tasks.gc_confirm_statement).to_contain_text("would remove")
    assert task_count(api) == before
    tasks.gc_confirm_back.click()
    expect(tasks.gc_target).to_have_value("faces")
    assert task_count(api) == before
    assert page.url.endswith("/tasks")


def test_the_gc_form_without_javascript(
    new_context: Callable[..., BrowserContext],
    session_cookies: Callable[[], list[Any]],
    api: APIRequestContext,
    database: Database,
) -> None:
    context = new_context(java_script_enabled=False)
    context.add_cookies(session_cookies())
    page = context.new_page()
    before = task_count(api)
    tasks = TasksPage(page).open()
    # Every target's filters show, each saying which targets take it.
    for field in (tasks.gc_descriptor_version, tasks.gc_list_id, tasks.gc_handler_id):
        assert field.is_visible()

    tasks.run_gc(descriptor_version="", description="without javascript")
    # The whole page again (rendered on the server: look once), the reason inline.
    assert tasks.gc_error("content.filters.descriptor_version").inner_text()
    assert tasks.launch_failed.is_visible() and tasks.table.is_visible()
    assert tasks.gc_description.input_value() == "without javascript"
    shot(page, "tasks-nojs-error")
    assert task_count(api) == before

    seed_descriptors(api, database, 10, version=60)
    tasks.gc_descriptor_version.fill("60")
    tasks.gc_run_button.click()
    # The confirmation is a page of its own without JavaScript.
    assert "would remove 10 descriptors of version 60" in " ".join(
        tasks.gc_confirm_statement.inner_text().split()
    )
    tasks.confirm_gc()
    task = TaskPage(page)
    assert re.search(r"/tasks/[0-9]+$", page.url)
    assert task.flash.inner_text() == f"Task {task.task_id} started"
    assert task_count(api) == before + 1


POLICY = {
    "enable": 1,
    "task_callbacks": [
        {
            "type": "http",
            "url": "http://127.0.0.1:9/hook",
            "enable": 0,  # nothing is sent anywhere during the test
            "authorization": {"type": "basic", "login": "hook", "password": "s3cret-e2e"},
        }
    ],
    "subtask_callbacks": [],
}


def test_the_policy_editor_rejects_bad_json_and_keeps_masked_secrets(
    signed_in: Page, api: APIRequestContext, database: Database
) -> None:
    page = signed_in
    task_id = create_gc(api, notification_policy=POLICY)
    TaskPage(page).open(task_id).edit_policy_link.click()
    editor = PolicyPage(page)
    expect(page).to_have_url(re.compile(rf"/tasks/{task_id}/notification_policy$"))
    expect(editor.summary).to_contain_text("http://127.0.0.1:9/hook")
    shown = json.loads(editor.text.input_value())
    assert shown["task_callbacks"][0]["authorization"]["password"] == "********"
    assert "s3cret-e2e" not in page.content()

    editor.save('{"enable": 0, ')
    expect(editor.error).to_contain_text("not valid JSON")
    expect(editor.text).to_have_value('{"enable": 0, ')

    shown["enable"] = 0
    shown["task_callbacks"][0]["params"]["timeout"] = 7
    editor.save(json.dumps(shown, indent=2))
    expect(editor.flash).to_have_text(f"Notification policy of task {task_id} saved")
    expect(editor.summary).to_contain_text("off")

    page.reload()
    again = json.loads(editor.text.input_value())
    assert again["enable"] == 0
    assert again["task_callbacks"][0]["params"]["timeout"] == 7
    assert again["task_callbacks"][0]["authorization"]["password"] == "********"
    stored = json.loads(
        database.value("SELECT notification_policy::text FROM task WHERE task_id = $1", task_id)
    )
    assert stored["task_callbacks"][0]["authorization"]["password"] == "s3cret-e2e"


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1280, 800)])
def test_the_task_pages_fit_the_screen_and_load_only_from_this_site(
    width: int,
    height: int,
    new_context: Callable[..., BrowserContext],
    session_cookies: Callable[[], list[Any]],
    api: APIRequestContext,
    base_url: str,
) -> None:
    task_id = create_gc(
        api,
        description="A long description, as operators write them: the site, the ticket 2026-0042.",
        notification_policy=POLICY,
    )
    context = new_context(viewport={"width": width, "height": height})
    context.add_cookies(session_cookies())
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    tasks = TasksPage(page).open()
    expect(tasks.row(task_id)).to_be_visible()
    expect(tasks.gc_run_button).to_be_visible()
    assert overflow(page) <= 0, f"the tasks page is {overflow(page)}px too wide"
    shot(page, f"tasks-{width}")

    task = TaskPage(page).open(task_id)
    expect(task.status).to_have_text("done", timeout=ENDS_WITHIN_MS)
    expect(task.delete_button).to_be_visible()
    assert overflow(page) <= 0, f"the task page is {overflow(page)}px too wide"
    shot(page, f"task-{width}")

    PolicyPage(page).open(task_id)
    assert overflow(page) <= 0, f"the policy page is {overflow(page)}px too wide"
    shot(page, f"policy-{width}")

    elsewhere = [url for url in requested if not url.startswith(base_url + "/")]
    assert not elsewhere, f"requests to other hosts: {elsewhere}"
    assert any("/static/js/tasks.js" in url for url in requested)
