"""Target 9: additional extraction over 10,000 samples — the orchestration's
overhead (claiming, reading samples, batching, writing descriptors, progress)
must stay under 10% of the backend's own extraction time for the same samples.

Both sides run on one thread: the baseline calls the backend directly in this
process over the same images in batches of the same size; the service runs one
in-process worker of `luna-admin serve` (one subtask, so one thread extracts),
timed from the task's creation to status 5. A one-face task first warms the
server's model up, since the baseline loads its model before timing too.

    python -m bench.extract_overhead        (BENCH_EXTRACT_SAMPLES=1000 for a quick run)
"""

from __future__ import annotations

import os
import time
from typing import Any

import httpx

from bench import util

TARGET = 0.10
SAMPLES = int(os.environ.get("BENCH_EXTRACT_SAMPLES", "10000"))
BATCH = 32
LOGIN = "extract-bench@seed.test"


def ensure_samples(count: int) -> str:
    """An account with `count` faces, each with one real photo as its sample."""
    from webapp.extraction.samples import face_photos

    util.ensure_schema()
    rows = util.query(
        "SELECT a.account_id::text AS id, s.face_count FROM account a "
        "JOIN account_stats s USING (account_id) WHERE a.login = $1",
        LOGIN,
    )
    if rows and rows[0]["face_count"] == count:
        return str(rows[0]["id"])
    util.query("DELETE FROM account WHERE login = $1", LOGIN)
    account = util.query(
        "INSERT INTO account (login, password_hash, account_type) VALUES ($1, 'x', 'user') "
        "RETURNING account_id::text AS id",
        LOGIN,
    )[0]["id"]
    photos = [photo for person in face_photos().values() for photo in person]
    print(f"seeding {count:,} faces with samples ...", flush=True)
    util.query(
        """
        WITH faces AS (
            INSERT INTO face (account_id) SELECT $1::uuid FROM generate_series(1, $2)
            RETURNING face_id
        )
        INSERT INTO sample (account_id, face_id, image)
        SELECT $1::uuid, face_id, ($3::bytea[])[1 + (row_number() OVER () % $4)::int]
        FROM faces
        """,
        account,
        count,
        photos,
        len(photos),
    )
    return str(account)


def images_of(account: str) -> list[bytes]:
    rows = util.query(
        "SELECT s.image FROM face f JOIN sample s ON s.face_id = f.face_id "
        "WHERE f.account_id = $1::uuid ORDER BY f.face_id",
        account,
    )
    return [bytes(row["image"]) for row in rows]


def backend_seconds(images: list[bytes]) -> float:
    from webapp.extraction import get_backend

    backend = get_backend()
    backend.load()
    backend.extract(images[:BATCH], "face_descriptor")  # warm
    started = time.perf_counter()
    for start in range(0, len(images), BATCH):
        backend.extract(images[start : start + BATCH], "face_descriptor")
    return time.perf_counter() - started


def run_task(client: httpx.Client, filters: dict[str, Any]) -> tuple[float, int]:
    """Seconds from the POST of an extraction (`missing: false`) to status 5, and its id."""
    started = time.perf_counter()
    response = client.post(
        "/4/tasks/additional_extract",
        json={
            "content": {
                "filters": {"objects_type": "faces", **filters},
                "extraction_target": "face_descriptor",
                "options": {"missing": False},
            }
        },
    )
    response.raise_for_status()
    task_id = response.json()["task_id"]
    deadline = started + 3600
    while time.perf_counter() < deadline:
        status = client.get(f"/4/tasks/{task_id}").json()["task_status"]
        if status == 5:
            return time.perf_counter() - started, int(task_id)
        if status in (2, 3):
            raise RuntimeError(f"task {task_id} ended with status {status}")
        time.sleep(0.1)
    raise RuntimeError(f"task {task_id} did not finish within an hour")


def service_seconds(account: str) -> float:
    port = util.free_port()
    env = {
        "WORKERS_IN_PROCESS": "1",
        "EXTRACTION_BATCH_SIZE": str(BATCH),
        "SUBTASK_SIZE": str(max(SAMPLES, 1)),
    }
    with util.serve("service-extract", util.service_command(port), port, "/version", env) as svc:
        auth = util.basic_auth()
        with httpx.Client(base_url=svc.url(""), headers=auth, timeout=30) as client:
            first = util.query(
                "SELECT face_id::text AS f FROM face WHERE account_id = $1::uuid "
                "ORDER BY face_id LIMIT 2",
                account,
            )
            # Warm-up: a one-face task loads the model in the server.
            run_task(client, {"face_id__gte": first[0]["f"], "face_id__lt": first[1]["f"]})
            return run_task(client, {"account_id": account})[0]


def main() -> util.Outcome:
    util.heading(f"additional extraction over {SAMPLES:,} samples: task vs backend alone")
    account = ensure_samples(SAMPLES)
    images = images_of(account)
    backend = backend_seconds(images)
    service = service_seconds(account)
    overhead = service / backend - 1
    outcome = util.Outcome(
        name="9 extraction overhead",
        figure=f"{service:.1f} s task",
        baseline=f"{backend:.1f} s backend",
        ratio=f"{overhead:+.1%}",
        target=f"< {TARGET:.0%}",
        met=overhead < TARGET,
    )
    util.print_block(
        "9. Additional extraction: orchestration overhead",
        [
            f"samples: {len(images):,} (the bundled photos, cycled), batches of {BATCH}",
            f"backend alone, one thread: {backend:.1f} s ({len(images) / backend:.0f} images/s)",
            f"task, one worker:          {service:.1f} s ({len(images) / service:.0f} images/s)",
            f"overhead: {overhead:+.1%}",
            f"load average now: {util.load_average()}",
        ],
        outcome,
    )
    return outcome


if __name__ == "__main__":
    main()
