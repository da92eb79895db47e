"""Bench 14: additional extraction over 100,000 faces of which 5% have a sample.

The faces without a sample are skipped (counted, no error row), so the task
should cost about what the backend costs on the 5%: the baseline is the
backend extracting the same 5,000 samples directly, on one thread, in this
process, in batches of the same size. The service runs one in-process worker of
`luna-admin serve` (one subtask: one thread extracts), timed from the POST to
status 5, twice: as the reference body (every face, 95% skipped) and with the
extension filter `has_sample: true` (only the 5% are planned). Each run prints
its task error rows and its handled/skipped/failed counts.

    python -m bench.extract_sparse    (BENCH_SPARSE_FACES=10000 for a quick run)
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from bench import util
from bench.extract_overhead import BATCH, backend_seconds, run_task

FACES = int(os.environ.get("BENCH_SPARSE_FACES", "100000"))
SHARE = 0.05
LOGIN = "extract-sparse-bench@seed.test"
TARGET = 1.15
"""The task's wall time within 15% of the backend's own time on the samples."""


def ensure_sparse_account(faces: int) -> str:
    """An account with `faces` faces, every twentieth with a real photo as its sample."""
    from webapp.extraction.samples import face_photos

    util.ensure_schema()
    with_samples = int(faces * SHARE)
    rows = util.query(
        "SELECT a.account_id::text AS id, "
        "(SELECT count(*) FROM face f WHERE f.account_id = a.account_id) AS faces, "
        "(SELECT count(*) FROM sample s WHERE s.account_id = a.account_id) AS samples "
        "FROM account a WHERE a.login = $1",
        LOGIN,
    )
    if rows and rows[0]["faces"] == faces and rows[0]["samples"] == with_samples:
        return str(rows[0]["id"])
    util.query("DELETE FROM account WHERE login = $1", LOGIN)
    account = util.query(
        "INSERT INTO account (login, password_hash, account_type) VALUES ($1, 'x', 'user') "
        "RETURNING account_id::text AS id",
        LOGIN,
    )[0]["id"]
    photos = [photo for person in face_photos().values() for photo in person]
    print(f"seeding {faces:,} faces, {with_samples:,} with a sample ...", flush=True)
    util.query(
        """
        WITH faces AS (
            INSERT INTO face (account_id) SELECT $1::uuid FROM generate_series(1, $2)
            RETURNING face_id
        ), numbered AS (SELECT face_id, row_number() OVER () AS n FROM faces)
        INSERT INTO sample (account_id, face_id, image)
        SELECT $1::uuid, face_id, ($3::bytea[])[1 + (n % $4)::int]
        FROM numbered WHERE n % $5 = 0
        """,
        account,
        faces,
        photos,
        len(photos),
        round(1 / SHARE),
    )
    return str(account)


def sample_images(account: str) -> list[bytes]:
    rows = util.query(
        "SELECT s.image FROM sample s JOIN face f ON f.face_id = s.face_id "
        "WHERE f.account_id = $1::uuid ORDER BY f.face_id",
        account,
    )
    return [bytes(row["image"]) for row in rows]


def timed_task(client: httpx.Client, filters: dict[str, Any]) -> tuple[float, int, str]:
    """Seconds to status 5, the task's error rows, and its counts from its result."""
    seconds, task_id = run_task(client, filters)
    errors = int(client.get(f"/4/tasks/{task_id}/errors/count").json()["count"])
    result = client.get(f"/4/tasks/{task_id}/result").json()
    counted = (
        f"extracted {result['extracted_count']:,}, skipped {result['skipped_count']:,}, "
        f"failed {result['failed_count']:,}"
    )
    return seconds, errors, counted


def service_runs(account: str) -> list[tuple[str, float, int, str]]:
    port = util.free_port()
    env = {
        "WORKERS_IN_PROCESS": "1",
        "EXTRACTION_BATCH_SIZE": str(BATCH),
        "SUBTASK_SIZE": str(FACES * 2),  # one subtask: one thread extracts, as the baseline
        "LOG_LEVEL": "warning",
    }
    runs = []
    with (
        util.serve(
            "service-extract-sparse", util.service_command(port), port, "/version", env
        ) as svc,
        httpx.Client(base_url=svc.url(""), headers=util.basic_auth(), timeout=60) as client,
    ):
        first = util.query(
            "SELECT f.face_id::text AS f FROM face f JOIN sample s ON s.face_id = f.face_id "
            "WHERE f.account_id = $1::uuid ORDER BY f.face_id LIMIT 1",
            account,
        )[0]["f"]
        # Warm-up: a one-face task loads the model in the server (the baseline
        # loads its model before timing too).
        run_task(client, {"face_id__gte": first, "face_id__lt": _next_uuid(first)})
        for label, extra in (
            ("every face (reference body)", {}),
            ("has_sample: true (extension)", {"has_sample": True}),
        ):
            runs.append((label, *timed_task(client, {"account_id": account, **extra})))
    return runs


def _next_uuid(value: str) -> str:
    import uuid

    return str(uuid.UUID(int=uuid.UUID(value).int + 1))


def main() -> list[util.Outcome]:
    util.heading(f"extraction over {FACES:,} faces, {SHARE:.0%} with a sample: task vs backend")
    account = ensure_sparse_account(FACES)
    images = sample_images(account)
    backend = backend_seconds(images)
    runs = service_runs(account)
    lines = [
        f"faces: {FACES:,}; with a sample: {len(images):,} (the bundled photos, cycled); "
        f"batches of {BATCH}",
        f"backend alone on the samples, one thread: {backend:.1f} s "
        f"({len(images) / backend:.0f} images/s)",
    ]
    outcomes = []
    for index, (label, seconds, errors, summary) in enumerate(runs):
        ratio = seconds / backend
        lines.append(
            f"task, {label}: {seconds:.1f} s = {ratio:.2f}x the backend; "
            f"task error rows: {errors}; {summary}"
        )
        outcomes.append(
            util.Outcome(
                name=f"14{'ab'[index]} sparse extract",
                figure=f"{seconds:.1f} s, {errors} err rows",
                baseline=f"{backend:.1f} s backend",
                ratio=f"{ratio:.2f}x",
                target=f"<= {TARGET:.2f}x",
                met=ratio <= TARGET,
            )
        )
    lines.append(f"load average now: {util.load_average()}")
    util.print_block(
        "14. Additional extraction over sparse samples: wall time and error rows",
        lines,
        outcomes[0],
    )
    return outcomes


if __name__ == "__main__":
    main()
