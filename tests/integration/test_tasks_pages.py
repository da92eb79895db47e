"""The task pages: launch forms (the same tasks as the JSON API), inline errors,
the progress poller, cancel and delete, and the notification-policy editor."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx

from tests.conftest import ADMIN, HTML, PAGE_POST
from tests.integration.tasks_helpers import (
    create_gc,
    make_account,
    make_faces,
    run_until_idle,
    settings,
    task,
)
from tests.integration.test_pages import page_sign_in
from webapp import db

GC_V56 = {"target": "face_descriptors", "filters": {"descriptor_version": 56}}

# Every field of the GC form, as a browser without JavaScript sends it: each
# target's filters (empty when not filled), the hidden "false" of the checkbox
# before its "true".
EMPTY_GC_FORM: list[tuple[str, str]] = [
    ("content.target", "face_descriptors"),
    ("content.filters.descriptor_version", ""),
    ("content.filters.account_id", ""),
    ("content.filters.create_time__gte", ""),
    ("content.filters.create_time__lt", ""),
    ("content.filters.list_id", ""),
    ("content.filters.handler_id", ""),
    ("content.store_results", "false"),
    ("content.store_results", "true"),
    ("description", ""),
    ("result_storage_policy.ttl", ""),
]


def gc_form(values: dict[str, str]) -> list[tuple[str, str]]:
    """The GC form with `values` filled in."""
    filled = dict(values)
    pairs = [(name, filled.pop(name, value)) for name, value in EMPTY_GC_FORM]
    return pairs + list(filled.items())


async def signed_in(client: httpx.AsyncClient) -> None:
    await page_sign_in(client)


async def task_count() -> int:
    row = await db.fetchrow("SELECT count(*) AS n FROM task")
    assert row is not None
    return int(row["n"])


async def post_form(
    client: httpx.AsyncClient,
    path: str,
    pairs: list[tuple[str, str]],
    htmx: bool = False,
) -> httpx.Response:
    """A form of the pages posted as a browser posts it (htmx or a plain form)."""
    headers = {**PAGE_POST, "HX-Request": "true"} if htmx else PAGE_POST
    return await client.post(
        path,
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
        content=urlencode(pairs),
    )


def comparable(body: dict[str, Any]) -> dict[str, Any]:
    return {
        key: body[key]
        for key in ("task_type", "content", "description", "result_storage_policy", "account_id")
    }


async def test_the_gc_form_creates_the_task_the_json_api_creates(client):
    await signed_in(client)
    account_id = str(uuid.uuid4())
    list_id = str(uuid.uuid4())
    form = gc_form(
        {
            "content.target": "faces",
            "content.filters.account_id": account_id,
            "content.filters.create_time__gte": "2026-01-01T00:00:00Z",
            "content.filters.list_id": list_id,
            "description": "old faces of one list",
            "result_storage_policy.ttl": "7",
        }
    )
    form.append(("content.dry_run", "true"))  # the "Preview (dry run)" button
    response = await post_form(client, "/tasks/gc", form)
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/tasks/([0-9]+)", response.headers["location"])
    assert match, response.headers["location"]
    from_form = await task(client, int(match.group(1)))

    api_id = await create_gc(
        client,
        {
            "target": "faces",
            "filters": {
                "account_id": account_id,
                "create_time__gte": "2026-01-01T00:00:00Z",
                "list_id": list_id,
            },
            "store_results": True,
            "dry_run": True,
        },
        description="old faces of one list",
        result_storage_policy={"ttl": 7},
    )
    assert comparable(from_form) == comparable(await task(client, api_id))
    assert from_form["content"]["filters"] == {
        "account_id": account_id,
        "create_time__gte": "2026-01-01T00:00:00Z",
        "list_id": list_id,
    }

    # The new task's page says it started, once.
    shown = await client.get(response.headers["location"], headers=HTML)
    assert f"Task {from_form['task_id']} started" in shown.text
    again = await client.get(response.headers["location"], headers=HTML)
    assert f"Task {from_form['task_id']} started" not in again.text


async def test_unchecked_store_results_and_no_dry_run(client):
    await signed_in(client)
    form = [
        (name, value)
        for name, value in gc_form({"content.filters.descriptor_version": "56"})
        if (name, value) != ("content.store_results", "true")  # the box left unchecked
    ]
    form.append(("_confirm_across_accounts", "1"))  # see test_tasks_gc_confirm.py
    response = await post_form(client, "/tasks/gc", form)
    assert response.status_code == 303, response.text
    created = await task(client, int(response.headers["location"].rsplit("/", 1)[1]))
    assert created["content"] == {**GC_V56, "store_results": False}
    assert created["result_storage_policy"] == {"ttl": None}


async def test_an_htmx_form_post_is_told_where_to_go(client):
    await signed_in(client)
    form = gc_form({"content.filters.descriptor_version": "56", "_confirm_across_accounts": "1"})
    response = await post_form(client, "/tasks/gc", form, htmx=True)
    assert response.status_code == 201  # htmx follows HX-Redirect whatever the 2xx
    assert re.fullmatch(r"/tasks/[0-9]+", response.headers["hx-redirect"])


async def test_the_extraction_form_creates_the_task_the_json_api_creates(client):
    await signed_in(client)
    account_id = str(uuid.uuid4())
    form = [
        ("content.filters.objects_type", "faces"),
        ("content.extraction_target", "basic_attributes"),
        ("content.filters.account_id", account_id),
        ("content.filters.face_id__gte", ""),
        ("content.filters.face_id__lt", ""),
        ("content.options.missing", "false"),
        ("content.options.missing", "true"),
        ("description", "attributes for one account"),
        ("result_storage_policy.ttl", "30"),
    ]
    response = await post_form(client, "/tasks/additional_extract", form)
    assert response.status_code == 303, response.text
    from_form = await task(client, int(response.headers["location"].rsplit("/", 1)[1]))
    api = await client.post(
        "/4/tasks/additional_extract",
        json={
            "content": {
                "filters": {"objects_type": "faces", "account_id": account_id},
                "extraction_target": "basic_attributes",
                "options": {"missing": True},
            },
            "description": "attributes for one account",
            "result_storage_policy": {"ttl": 30},
        },
        headers=ADMIN,
    )
    assert api.status_code == 201, api.text
    assert comparable(from_form) == comparable(await task(client, api.json()["task_id"]))
    assert from_form["task_type"] == 8


async def test_a_gc_form_in_error_comes_back_whole_with_the_reason_inline(client):
    await signed_in(client)
    form = gc_form({"description": "keep this text"})  # face_descriptors without a version
    response = await post_form(client, "/tasks/gc", form)
    assert response.status_code == 422
    # A whole page (a plain form post, no JavaScript): the top bar, the table, both forms.
    assert 'aria-label="Main"' in response.text and 'data-testid="tasks-table"' in response.text
    assert 'data-testid="extract-form"' in response.text
    assert 'data-testid="launch-failed"' in response.text
    error = re.search(
        r'data-testid="gc-error-content\.filters\.descriptor_version"[^>]*>([^<]*)<', response.text
    )
    assert error and "descriptor version" in error.group(1), response.text
    assert 'value="keep this text"' in response.text
    assert await task_count() == 0


async def test_a_gc_form_in_error_over_htmx_is_the_form_alone(client):
    await signed_in(client)
    form = gc_form({"content.filters.descriptor_version": "56", "content.target": "faces"})
    response = await post_form(client, "/tasks/gc", form, htmx=True)
    assert response.status_code == 422
    assert response.text.lstrip().startswith('<form id="gc-form"')
    # A filter the chosen target does not take is marked where it was typed.
    error = re.search(
        r'data-testid="gc-error-content\.filters\.descriptor_version"[^>]*>([^<]*)<', response.text
    )
    assert error and "Not used by the chosen target" in error.group(1)
    assert re.search(r'<option value="faces"\s+selected', response.text)
    assert await task_count() == 0


async def test_bad_values_are_named_by_field(client):
    await signed_in(client)
    cases = [
        (
            gc_form({"content.target": "faces", "content.filters.account_id": "not-an-id"}),
            "content.filters.account_id",
            "account id",
        ),
        (
            gc_form({"content.target": "events", "content.filters.create_time__lt": "yesterday"}),
            "content.filters.create_time__lt",
            "zone",
        ),
        (
            gc_form({"content.filters.descriptor_version": "1001"}),
            "content.filters.descriptor_version",
            "1000",
        ),
    ]
    for form, field, words in cases:
        response = await post_form(client, "/tasks/gc", form, htmx=True)
        assert response.status_code == 422, field
        error = re.search(
            rf'data-testid="gc-error-{re.escape(field)}"[^>]*>([^<]*)<', response.text
        )
        assert error and words in error.group(1), (field, response.text)
    assert await task_count() == 0


async def test_the_json_api_still_answers_json_errors(client):
    response = await client.post(
        "/4/tasks/gc", json={"content": {"target": "face_descriptors"}}, headers=ADMIN
    )
    assert response.status_code == 400
    assert response.json()["error_code"] == 12022
    response = await client.post(
        "/4/tasks/gc", json={"content": GC_V56}, headers={**ADMIN, "Accept": "application/json"}
    )
    assert response.status_code == 201
    assert response.headers["location"] == f"/4/tasks/{response.json()['task_id']}"


async def test_a_form_posted_from_another_site_creates_nothing(client):
    await signed_in(client)
    response = await client.post(
        "/tasks/gc",
        headers={**HTML, "Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "same-site"},
        data={"content.target": "face_attributes"},
    )
    assert response.status_code == 403
    assert await task_count() == 0


async def test_the_progress_partial_polls_while_the_task_runs_and_then_stops(client):
    await page_sign_in(client)
    owner = await make_account()
    await make_faces(owner, 30, versions=(56,))
    task_id = await create_gc(client, GC_V56)
    hx = {"HX-Request": "true"}

    running = await client.get(f"/tasks/{task_id}", headers=hx)
    assert running.status_code == 200
    assert 'hx-trigger="every 1s"' in running.text
    assert 'data-testid="cancel-task"' in running.text
    assert (
        'id="task-subtasks" class="card" data-testid="subtasks" hx-swap-oob="true"' in running.text
    )

    await run_until_idle(settings())
    ended = await client.get(f"/tasks/{task_id}", headers=hx)
    assert ended.status_code == 286  # htmx stops polling, and still swaps the answer in
    assert "hx-trigger" not in ended.text
    assert re.search(r'data-testid="task-status">done<', ended.text)
    assert 'data-testid="cancel-task"' not in ended.text
    assert f'href="/4/tasks/{task_id}/result?download=1"' in ended.text
    assert re.search(r'data-testid="result-removed_count">30<', ended.text)

    # The JSON answer of the same route is untouched.
    as_json = await client.get(f"/tasks/{task_id}", headers={"Accept": "application/json"})
    assert as_json.status_code == 200 and as_json.json()["task_status"] == 5


async def test_the_task_page(client):
    await page_sign_in(client)
    owner = await make_account()
    await make_faces(owner, 12, versions=(56,))
    task_id = await create_gc(client, {**GC_V56, "dry_run": True}, description="a preview")
    page = await client.get(f"/tasks/{task_id}", headers=HTML)
    assert page.status_code == 200
    assert 'hx-trigger="every 1s"' in page.text
    assert "hx-swap-oob" not in page.text  # only the poller's answers carry those
    assert "Download result" not in page.text
    assert "a preview" in page.text and "dry run" in page.text

    await run_until_idle(settings())
    page = await client.get(f"/tasks/{task_id}", headers=HTML)
    assert "hx-trigger" not in page.text.split('id="task-progress"', 1)[1].split("</section>")[0]
    assert re.search(r'data-testid="result-would_remove_count">12<', page.text)
    assert re.search(r'data-testid="result-removed_count">0<', page.text)
    assert len(re.findall(r'data-testid="subtask-row"', page.text)) >= 1
    download = await client.get(f"/4/tasks/{task_id}/result?download=1")  # the session cookie
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    assert download.json()["would_remove_count"] == 12


async def test_the_tasks_table_polls_while_a_listed_task_runs(client):
    await page_sign_in(client)
    task_id = await create_gc(client, GC_V56)
    hx = {"HX-Request": "true"}
    table = await client.get("/tasks?task_type=4", headers=hx)
    assert 'hx-get="/tasks?task_type=4" hx-trigger="every 2s"' in table.text
    assert f'href="/tasks/{task_id}"' in table.text
    await run_until_idle(settings())
    table = await client.get("/tasks?task_type=4", headers=hx)
    assert "hx-trigger" not in table.text


async def test_bad_filters_are_shown_on_the_page(client):
    await page_sign_in(client)
    page = await client.get("/tasks?create_time__gte=yesterday", headers=HTML)
    assert page.status_code == 400
    assert 'data-testid="filter-error"' in page.text and "create_time__gte" in page.text
    assert 'value="yesterday"' in page.text and 'data-testid="gc-form"' in page.text
    as_json = await client.get("/4/tasks?create_time__gte=yesterday", headers=ADMIN)
    assert as_json.status_code == 400 and as_json.json()["error_code"] == 12012


async def test_cancel_form_and_a_task_that_already_ended(client):
    await signed_in(client)
    task_id = await create_gc(client, GC_V56)
    response = await post_form(client, f"/tasks/{task_id}/cancel", [])
    assert response.status_code == 303 and response.headers["location"] == f"/tasks/{task_id}"
    assert (await task(client, task_id))["task_status"] == 2
    shown = await client.get(f"/tasks/{task_id}", headers=HTML)
    assert f"Task {task_id} cancelled" in shown.text
    assert re.search(r'data-testid="task-status">cancelled<', shown.text)

    again = await post_form(client, f"/tasks/{task_id}/cancel", [])
    assert again.status_code == 303
    shown = await client.get(f"/tasks/{task_id}", headers=HTML)
    assert f"Task {task_id} had already ended (cancelled)" in shown.text


async def test_delete_needs_the_task_number_typed(client):
    await signed_in(client)
    task_id = await create_gc(client, GC_V56)
    wrong = await post_form(client, f"/tasks/{task_id}/delete", [("_confirm", "nope")])
    assert wrong.status_code == 422
    error = re.search(r'data-testid="delete-task-error"[^>]*>([^<]*)<', wrong.text)
    assert error and error.group(1) == f"Type &#39;{task_id}&#39; to confirm", wrong.text
    assert 'data-testid="task-progress"' in wrong.text  # the task page again
    assert (await task(client, task_id))["task_id"] == task_id
    right = await post_form(client, f"/tasks/{task_id}/delete", [("_confirm", str(task_id))])
    assert right.status_code == 303 and right.headers["location"] == "/tasks"
    assert (await client.get(f"/4/tasks/{task_id}", headers=ADMIN)).status_code == 404
    listed = await client.get("/tasks", headers=HTML)
    assert f"Task {task_id} deleted" in listed.text


async def test_the_address_of_a_launch_form(client):
    await page_sign_in(client)
    page = await client.get("/tasks/gc", headers=HTML)
    assert page.status_code == 303 and page.headers["location"] == "/tasks#launch-gc"
    as_json = await client.get("/4/tasks/gc", headers=ADMIN)
    assert as_json.status_code == 400 and as_json.json()["error_code"] == 12012


POLICY = {
    "enable": 1,
    "task_callbacks": [
        {
            "type": "http",
            "url": "http://127.0.0.1:9/hook",
            "enable": 0,
            "authorization": {"type": "basic", "login": "hook", "password": "s3cret"},
        }
    ],
    "subtask_callbacks": [{"type": "telegram", "token": "123:abc", "chat_id": 42}],
}


async def stored_policy(task_id: int) -> dict[str, Any]:
    row = await db.fetchrow("SELECT notification_policy FROM task WHERE task_id = $1", task_id)
    assert row is not None
    return json.loads(row["notification_policy"])


def textarea(page: httpx.Response) -> str:
    match = re.search(r'<textarea name="policy"[^>]*>(.*?)</textarea>', page.text, re.S)
    assert match, page.text
    return (
        match.group(1)
        .replace("&#34;", '"')
        .replace("&quot;", '"')
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
    )


async def test_the_policy_editor_round_trip(client):
    await signed_in(client)
    task_id = await create_gc(client, GC_V56, notification_policy=POLICY)
    path = f"/tasks/{task_id}/notification_policy"

    page = await client.get(path, headers=HTML)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "s3cret" not in page.text and "123:abc" not in page.text
    shown = json.loads(textarea(page))
    assert shown["task_callbacks"][0]["authorization"]["password"] == "********"
    assert shown["subtask_callbacks"][0]["token"] == "********"
    assert "http://127.0.0.1:9/hook" in page.text

    # Not JSON: the text comes back as typed, with where it went wrong.
    bad = await post_form(client, path, [("policy", '{"enable": 0,')])
    assert bad.status_code == 422
    assert "not valid JSON" in bad.text and "line 1" in bad.text
    assert textarea(bad) == '{"enable": 0,'
    # JSON, but not a policy: the path of the mistake.
    wrong = {**shown, "task_callbacks": [{**shown["task_callbacks"][0], "url": "ftp://x"}]}
    bad = await post_form(client, path, [("policy", json.dumps(wrong))], htmx=True)
    assert bad.status_code == 422 and bad.text.lstrip().startswith('<form id="policy-form"')
    assert "task_callbacks.0.url: must be an http" in bad.text
    assert (await stored_policy(task_id))["enable"] == 1

    # The masked values sent back keep the stored secrets.
    shown["enable"] = 0
    shown["task_callbacks"][0]["params"]["timeout"] = 5
    saved = await post_form(client, path, [("policy", json.dumps(shown))])
    assert saved.status_code == 303 and saved.headers["location"] == path
    stored = await stored_policy(task_id)
    assert stored["enable"] == 0
    assert stored["task_callbacks"][0]["authorization"]["password"] == "s3cret"
    assert stored["task_callbacks"][0]["params"]["timeout"] == 5
    assert stored["subtask_callbacks"][0]["token"] == "123:abc"
    reloaded = await client.get(path, headers=HTML)
    assert f"Notification policy of task {task_id} saved" in reloaded.text
    assert json.loads(textarea(reloaded))["task_callbacks"][0]["authorization"]["password"] == (
        "********"
    )

    # The JSON routes are as they were.
    as_json = await client.get(f"/4{path}", headers=ADMIN)
    assert as_json.status_code == 200 and as_json.json()["enable"] == 0
    put = await client.put(f"/4{path}", json={"enable": 1}, headers=ADMIN)
    assert put.status_code == 204


async def test_a_masked_secret_for_a_new_host_is_refused_inline(client):
    await signed_in(client)
    task_id = await create_gc(client, GC_V56, notification_policy=POLICY)
    path = f"/tasks/{task_id}/notification_policy"
    shown = json.loads(textarea(await client.get(path, headers=HTML)))
    shown["task_callbacks"][0]["url"] = "http://elsewhere.example/hook"
    response = await post_form(client, path, [("policy", json.dumps(shown))])
    assert response.status_code == 422
    assert "task_callbacks.0.authorization.password" in response.text
    stored = await stored_policy(task_id)
    assert stored["task_callbacks"][0]["url"] == "http://127.0.0.1:9/hook"
