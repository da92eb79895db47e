"""A GC across every account is stated plainly on the pages before it runs, and a
preview's page offers to run the same GC (issue 10, item 8). The JSON API is
unchanged (the reference has no confirmation)."""

from __future__ import annotations

import re
from html import unescape

from tests.conftest import ADMIN, HTML
from tests.integration.tasks_helpers import (
    create_gc,
    make_account,
    make_faces,
    run_until_idle,
    settings,
    task,
)
from tests.integration.test_tasks_pages import gc_form, post_form, signed_in, task_count
from webapp import db


def hidden_fields(html: str, form_testid: str) -> list[tuple[str, str]]:
    """The hidden fields of the form with this data-testid (what a browser posts)."""
    match = re.search(rf'<form[^>]*data-testid="{form_testid}".*?</form>', html, re.S)
    if match is None:
        match = re.search(r'<form[^>]*action="/tasks/gc".*?</form>', html, re.S)
    assert match is not None, html
    return [
        (unescape(name), unescape(value))
        for name, value in re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)">', match.group(0)
        )
    ]


async def test_a_descriptor_gc_from_the_form_states_what_goes_and_runs_once_confirmed(client):
    account = await make_account()
    await make_faces(account, 7, versions=(56, 59))
    other = await make_account()
    await make_faces(other, 5, versions=(56,))
    await signed_in(client)

    asked = await post_form(
        client, "/tasks/gc", gc_form({"content.filters.descriptor_version": "56"})
    )
    assert asked.status_code == 200
    text = re.sub(r"\s+", " ", asked.text)
    assert "would remove <strong" in text and "12</strong> descriptors of version 56" in text
    assert "in every account" in text
    assert await task_count() == 0  # nothing runs before the confirmation

    # Back: the form again, with what was typed.
    fields = hidden_fields(asked.text, "gc-confirm")
    back = await post_form(client, "/tasks/gc", [*fields, ("_back", "1")], htmx=True)
    assert back.status_code == 200 and 'data-testid="gc-form"' in back.text
    assert 'value="56"' in back.text and await task_count() == 0

    confirmed = await post_form(client, "/tasks/gc", fields)
    assert confirmed.status_code == 303, confirmed.text
    task_id = int(confirmed.headers["location"].rsplit("/", 1)[1])
    created = await task(client, task_id)
    assert created["content"]["filters"] == {"descriptor_version": 56}
    assert created["content"]["dry_run"] is False
    await run_until_idle(settings())
    left = await db.fetchrow("SELECT count(*) AS n FROM descriptor WHERE descriptor_version = 56")
    assert left is not None and left["n"] == 0


async def test_an_unfiltered_faces_gc_asks_but_one_account_does_not(client):
    account = await make_account()
    await make_faces(account, 3)
    await signed_in(client)
    every = gc_form({"content.target": "faces"})
    asked = await post_form(client, "/tasks/gc", every, htmx=True)
    assert asked.status_code == 200 and 'data-testid="gc-confirm"' in asked.text
    assert "faces" in asked.text and await task_count() == 0

    one = gc_form({"content.target": "faces", "content.filters.account_id": str(account)})
    response = await post_form(client, "/tasks/gc", one, htmx=True)
    assert response.status_code == 201 and await task_count() == 1


async def test_a_preview_is_not_asked_and_its_page_offers_run_this(client):
    account = await make_account()
    await make_faces(account, 4, versions=(56,))
    await signed_in(client)
    preview = gc_form({"content.filters.descriptor_version": "56", "content.dry_run": "true"})
    response = await post_form(client, "/tasks/gc", preview)
    assert response.status_code == 303  # a preview removes nothing: no question
    preview_id = int(response.headers["location"].rsplit("/", 1)[1])
    await run_until_idle(settings())

    page = await client.get(f"/tasks/{preview_id}", headers=HTML)
    text = re.sub(r"\s+", " ", page.text)
    assert "would remove 4" in text and "4 handled" not in text
    assert "would remove <strong>4</strong> descriptors of version 56, in every account" in text
    fields = hidden_fields(page.text, "run-this-form")
    assert ("content.dry_run", "false") in fields

    ran = await post_form(client, "/tasks/gc", fields)
    assert ran.status_code == 303, ran.text
    run_id = int(ran.headers["location"].rsplit("/", 1)[1])
    original, copy = await task(client, preview_id), await task(client, run_id)
    assert copy["content"] == {**original["content"], "dry_run": False}
    assert copy["result_storage_policy"] == original["result_storage_policy"]


async def test_the_json_api_is_not_asked(client):
    await create_gc(client, {"target": "face_descriptors", "filters": {"descriptor_version": 56}})
    response = await client.get("/4/tasks/count", headers=ADMIN)
    assert response.json() == {"count": 1}
