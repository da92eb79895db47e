"""Every request example of the LUNA Admin reference, sent as the reference shows it.

The examples are read from the reference file itself (tests/support/reference.py),
not copied here; the one change is the dump's loss: an HTTP callback's `url`
(ROUTES.md "Request examples"). Each is sent to its route (ROUTES.md's table
decides the method and path the dump lost) as a client that knows only the
reference would: Basic credentials, or the session cookie alone for
`/login`. Each must be accepted, and what it created must be what it said.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx

from tests.conftest import ADMIN, ADMIN_LOGIN, ADMIN_PASSWORD, basic
from tests.integration.tasks_helpers import (
    descriptor_faces,
    make_account,
    make_faces,
    run_until_idle,
    settings,
    task,
)
from tests.support.reference import examples, parse
from webapp import db

EXAMPLES = {example.summary: example for example in examples()}

ROUTES = {
    "change authorization cookie": ("PATCH", "/4/login"),
    "register a new account in the system.": ("POST", "/4/accounts"),
    "register a new account with specified id in the system.": (
        "PUT",
        "/4/accounts/{account_id}",
    ),
    "replace task notification policy by task id": (
        "PUT",
        "/4/tasks/{task_id}/notification_policy",
    ),
    "create and start gc task": ("POST", "/4/tasks/gc"),
    "create and start additional extract task": ("POST", "/4/tasks/additional_extract"),
    "Create a new task schedule.": ("POST", "/4/tasks/schedules"),
    "Replace tasks schedule:": ("PUT", "/4/tasks/schedules/{schedule_id}"),
}
"""The route of each operation of the reference that takes a JSON body, as
ROUTES.md's route table records it (the dump lost methods and paths)."""

CALLBACK_URL = "https://hooks.example.com/luna-admin"
MASK = "********"


def body_of(summary: str) -> Any:
    """The example of `summary`, with a `url` for every HTTP callback (which the
    dump lost)."""
    body = parse(EXAMPLES[summary])
    for policy in _policies(body):
        for name in ("task_callbacks", "subtask_callbacks"):
            for callback in policy.get(name, []):
                if callback.get("type") == "http":
                    callback.setdefault("url", CALLBACK_URL)
    return body


def _policies(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        return []
    if "task_callbacks" in body or "subtask_callbacks" in body:
        return [body]
    found = []
    for value in body.values():
        found.extend(_policies(value))
    return found


def masked(policy: dict[str, Any]) -> dict[str, Any]:
    """A policy as answers show it: passwords and tokens masked."""
    shown = copy.deepcopy(policy)
    for name in ("task_callbacks", "subtask_callbacks"):
        for callback in shown.get(name, []):
            if "password" in callback.get("authorization", {}):
                callback["authorization"]["password"] = MASK
            if callback.get("type") == "telegram":
                callback["token"] = MASK
    return shown


async def send(
    client: httpx.AsyncClient, summary: str, body: Any, headers: dict[str, str], **ids: Any
) -> httpx.Response:
    method, template = ROUTES[summary]
    values = {**EXAMPLES[summary].path_examples, **{k: str(v) for k, v in ids.items()}}
    return await client.request(method, template.format(**values), json=body, headers=headers)


async def accepted(
    client: httpx.AsyncClient, summary: str, status: int = 201, **ids: Any
) -> httpx.Response:
    """The example of `summary` sent with Basic credentials, and accepted."""
    response = await send(client, summary, body_of(summary), ADMIN, **ids)
    assert response.status_code == status, response.text
    return response


def test_every_request_example_of_the_reference_has_its_route():
    # A new body example in the reference fails here until it has a route (and a test).
    assert set(EXAMPLES) == set(ROUTES)
    assert len(EXAMPLES) == 8


async def test_change_authorization_cookie_with_the_cookie_alone(client):
    summary = "change authorization cookie"
    signed_in = await client.post("/4/login", headers=basic())
    assert signed_in.status_code == 201
    # The cookie alone, as the reference shows the route: no token, no Basic.
    changed = await send(client, summary, body_of(summary), {})
    assert changed.status_code == 204, changed.text
    assert (await client.get("/4/login")).text == "Ok"  # the re-issued cookie works
    client.cookies.clear()
    new_password = body_of(summary)["password"]
    assert (await client.get("/4/accounts", headers=basic(ADMIN_LOGIN, new_password))).is_success
    refused = await client.get("/4/accounts", headers=basic(ADMIN_LOGIN, ADMIN_PASSWORD))
    assert refused.status_code == 401


async def _check_account(client: httpx.AsyncClient, account_id: str, example: Any) -> None:
    info = (await client.get(f"/4/accounts/{account_id}", headers=ADMIN)).json()["info"]
    assert info["login"] == example["login"]
    assert info["account_type"] == example["account_type"]
    assert info["description"] == example["description"]
    signed_in = await client.get("/4/login", headers=basic(example["login"], example["password"]))
    assert signed_in.status_code == 200


async def test_register_a_new_account(client):
    summary = "register a new account in the system."
    created = await accepted(client, summary)
    await _check_account(client, created.json()["account_id"], body_of(summary))


async def test_register_a_new_account_with_the_id_of_the_example(client):
    summary = "register a new account with specified id in the system."
    created = await accepted(client, summary)
    account_id = EXAMPLES[summary].path_examples["account_id"]
    assert created.json()["account_id"] == account_id
    await _check_account(client, account_id, body_of(summary))


async def test_replace_task_notification_policy(client):
    summary = "replace task notification policy by task id"
    made = await client.post(
        "/4/tasks/gc", json={"content": {"target": "face_attributes"}}, headers=ADMIN
    )
    task_id = made.json()["task_id"]
    await accepted(client, summary, 204, task_id=task_id)
    shown = await client.get(f"/4/tasks/{task_id}/notification_policy", headers=ADMIN)
    assert shown.json() == masked(body_of(summary))


async def test_create_gc_task_with_descriptor_version_0_removes_no_descriptor(client):
    summary = "create and start gc task"
    account = await make_account()
    faces = set(await make_faces(account, 30, versions=(56,)))
    created = await accepted(client, summary)
    task_id = created.json()["task_id"]
    assert created.headers["location"] == f"/4/tasks/{task_id}"
    stored = await task(client, task_id)
    example = body_of(summary)
    assert stored["task_type"] == 4
    assert stored["content"] == example["content"]
    assert stored["description"] == example["description"]
    assert stored["notification_policy"] == masked(example["notification_policy"])
    assert stored["result_storage_policy"] == example["result_storage_policy"]
    # Version 0 names no neural network (LUNA's start at 54): the task runs and
    # removes nothing; the descriptors in use stay.
    await run_until_idle(settings())
    done = await task(client, task_id)
    assert done["task_status"] == 5
    assert await descriptor_faces(56) == faces
    result = await client.get(f"/4/tasks/{task_id}/result", headers=ADMIN)
    assert result.status_code == 200


async def test_create_additional_extract_task_whose_filters_match_nothing(client):
    summary = "create and start additional extract task"
    account = await make_account()
    await make_faces(account, 5)
    created = await accepted(client, summary)
    task_id = created.json()["task_id"]
    stored = await task(client, task_id)
    example = body_of(summary)
    assert stored["task_type"] == 8
    assert stored["content"] == example["content"]
    assert stored["notification_policy"] == masked(example["notification_policy"])
    # account_id "string" names no account: nothing is extracted, nothing breaks.
    await run_until_idle(settings())
    assert (await task(client, task_id))["task_status"] == 5
    extracted = await db.fetchrow("SELECT count(*) AS n FROM face_attribute")
    assert extracted is not None and extracted["n"] == 0


def _expected_schedule(example: dict[str, Any]) -> dict[str, Any]:
    shown = copy.deepcopy(example["task"])
    shown["notification_policy"] = masked(shown["notification_policy"])
    return shown


async def _check_schedule(client: httpx.AsyncClient, schedule_id: int, example: Any) -> None:
    shown = (await client.get(f"/4/tasks/schedules/{schedule_id}", headers=ADMIN)).json()
    assert shown["task"] == _expected_schedule(example)
    assert shown["trigger"] == example["trigger"]
    assert shown["status"] == "running"  # create_stopped: false
    assert shown["task_ids"] == []  # start_immediately: false


async def test_create_task_schedule(client):
    summary = "Create a new task schedule."
    created = await accepted(client, summary)
    await _check_schedule(client, created.json()["schedule_id"], body_of(summary))


async def test_replace_task_schedule(client):
    summary = "Replace tasks schedule:"
    made = await client.post("/4/tasks/schedules", json=body_of(summary), headers=ADMIN)
    schedule_id = made.json()["schedule_id"]
    replaced = await accepted(client, summary, 200, schedule_id=schedule_id)
    assert replaced.json() == {"schedule_id": schedule_id}
    await _check_schedule(client, schedule_id, body_of(summary))
