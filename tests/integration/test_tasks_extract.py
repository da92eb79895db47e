"""Additional extraction end to end, with the real built-in backend on real photos."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import ADMIN
from tests.integration.tasks_helpers import make_account, make_faces, run_until_idle, settings, task
from webapp import db
from webapp.extraction import descriptor_distance, get_backend
from webapp.extraction.samples import face_photos
from webapp.platform.seed import tiny_png


def grey_png() -> bytes:
    """A valid image with no face in it (noise)."""
    return tiny_png(1, size=64)


async def extract(client, content: dict) -> Any:  # type: ignore[no-untyped-def]
    """POST an additional extraction task with this content."""
    return await client.post(
        "/4/tasks/additional_extract", headers=ADMIN, json={"content": content}
    )


async def add_sample(account, face_id: str, image: bytes) -> None:  # type: ignore[no-untyped-def]
    await db.fetch(
        "INSERT INTO sample (account_id, face_id, image) VALUES ($1, $2::uuid, $3)",
        account,
        face_id,
        image,
    )


async def test_extraction_fills_what_faces_lack_and_reports_what_it_cannot(client):
    backend = get_backend()
    version = backend.descriptor_version
    photos = face_photos()
    account = await make_account()
    obama, obama_again, biden, grey, no_sample, done_before = await make_faces(
        account, 6, versions=(56,)
    )
    await add_sample(account, obama, photos["barack_obama"][0])
    await add_sample(account, obama_again, photos["barack_obama"][1])
    await add_sample(account, biden, photos["joe_biden"][0])
    await add_sample(account, grey, grey_png())
    await add_sample(account, done_before, photos["joe_biden"][0])
    await db.fetch(
        "INSERT INTO descriptor (face_id, descriptor_version, vector) "
        "VALUES ($1::uuid, $2, '\\x09'::bytea)",
        done_before,
        version,
    )

    response = await extract(
        client,
        {
            "filters": {"objects_type": "faces", "account_id": str(account)},
            "extraction_target": "face_descriptor",
        },
    )
    assert response.status_code == 201, response.text
    task_id = response.json()["task_id"]
    await run_until_idle(settings())

    finished = await task(client, task_id)
    assert finished["task_status"] == 5 and finished["task_type"] == 8
    rows = await db.fetch(
        "SELECT face_id::text AS f, vector FROM descriptor WHERE descriptor_version = $1", version
    )
    vectors = {row["f"]: bytes(row["vector"]) for row in rows}
    assert set(vectors) == {obama, obama_again, biden, done_before}
    assert vectors[done_before] == b"\x09"  # missing: true leaves existing ones alone
    same = descriptor_distance(vectors[obama], vectors[obama_again])
    different = descriptor_distance(vectors[obama], vectors[biden])
    assert same < backend.threshold < different
    old = await db.fetchrow("SELECT count(*) AS n FROM descriptor WHERE descriptor_version = 56")
    assert old is not None and old["n"] == 6  # stored beside, nothing replaced

    # A face without a sample is skipped, not failed: no error for it.
    errors = (await client.get(f"/4/tasks/{task_id}/errors", headers=ADMIN)).json()["errors"]
    by_code = {e["error_code"]: e["detail"] for e in errors}
    assert set(by_code) == {29102}
    assert grey in by_code[29102] and no_sample not in str(errors)
    result = (await client.get(f"/4/tasks/{task_id}/result", headers=ADMIN)).json()
    assert result["extracted_count"] == 3 and result["failed_count"] == 1
    assert result["skipped_count"] == 1
    assert sorted(result["face_ids"]) == sorted([obama, obama_again, biden])


async def test_missing_false_recomputes_existing_descriptors(client):
    version = get_backend().descriptor_version
    account = await make_account()
    (face,) = await make_faces(account, 1)
    await add_sample(account, face, face_photos()["joe_biden"][0])
    await db.fetch(
        "INSERT INTO descriptor (face_id, descriptor_version, vector) "
        "VALUES ($1::uuid, $2, '\\x09'::bytea)",
        face,
        version,
    )
    response = await extract(
        client,
        {
            "filters": {"objects_type": "faces"},
            "extraction_target": "face_descriptor",
            "options": {"missing": False},
        },
    )
    assert response.status_code == 201
    await run_until_idle(settings())
    row = await db.fetchrow("SELECT vector FROM descriptor WHERE descriptor_version = $1", version)
    assert row is not None and bytes(row["vector"]) != b"\x09"


async def test_a_version_the_backend_does_not_write_is_refused(client):
    version = get_backend().descriptor_version
    response = await extract(
        client,
        {
            "filters": {"objects_type": "faces"},
            "extraction_target": "face_descriptor",
            "options": {"descriptor_version": version + 1},
        },
    )
    assert response.status_code == 400
    assert response.json()["error_code"] == 29103
    assert str(version) in response.json()["detail"]
    row = await db.fetchrow("SELECT count(*) AS n FROM task")
    assert row is not None and row["n"] == 0


async def test_basic_attributes_are_estimated_and_stored_beside_the_face(client):
    assert "basic_attributes" in get_backend().targets
    photos = face_photos()
    account = await make_account()
    obama, grey = await make_faces(account, 2)
    await add_sample(account, obama, photos["barack_obama"][0])
    await add_sample(account, grey, grey_png())
    response = await extract(
        client,
        {
            "filters": {"objects_type": "faces", "account_id": str(account)},
            "extraction_target": "basic_attributes",
        },
    )
    assert response.status_code == 201, response.text
    await run_until_idle(settings())
    rows = await db.fetch(
        "SELECT face_id::text AS f, account_id, basic_attributes FROM face_attribute"
    )
    assert [row["f"] for row in rows] == [obama]
    attributes = json.loads(rows[0]["basic_attributes"])
    assert attributes["gender"] == 1 and 20 <= attributes["age"] <= 90
    stats = (await client.get(f"/4/accounts/{account}", headers=ADMIN)).json()["stats"]
    assert stats["face_attribute_count"] == 1


async def test_an_unknown_configured_backend_is_refused_clearly(client, app, monkeypatch):
    monkeypatch.setattr(app.state, "settings", settings(extraction_backend="nonesuch"))
    response = await extract(
        client,
        {
            "filters": {"objects_type": "faces"},
            "extraction_target": "face_descriptor",
        },
    )
    assert response.status_code == 400
    assert "nonesuch" in response.json()["detail"]
