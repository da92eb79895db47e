"""Additional extraction (task type 8): compute what faces lack from their samples.

For every face in the filters that lacks the target (or every face, with
`missing: false`), the newest sample of the face is read, the configured
extraction backend computes the target, and the result is stored beside what
the face already has: a descriptor row of the backend's version, or a
face_attribute row with basic attributes.

A face without a sample is skipped (counted, not an error); the filter
`has_sample: true` (an extension) leaves such faces out of the task altogether.
`options.max_failures` (an extension) stops the task after that many failures.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from webapp.platform.service import live_owner
from webapp.tasks.work import (
    Applied,
    Counts,
    Failure,
    Filters,
    ResultPart,
    Work,
    range_clause,
    uuid_ranges,
)
from webapp.web.params import UUID_RE

LOOK_AHEAD = 32
"""Faces looked at per batch, in batches: how far one batch reaches past faces
without a sample."""


class ExtractWork(Work):
    def __init__(
        self, content: dict[str, Any], batch_size: int, subtask_size: int, backend: Any
    ) -> None:
        super().__init__(content, batch_size, subtask_size)
        self.backend = backend

    @property
    def target(self) -> str:
        return str(self.content["extraction_target"])

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.content.get("options") or {})

    @property
    def missing_only(self) -> bool:
        return bool(self.options.get("missing", True))

    @property
    def max_failures(self) -> int | None:
        value = self.options.get("max_failures")
        return None if value is None else int(value)

    @property
    def descriptor_version(self) -> int:
        return int(self.options.get("descriptor_version") or self.backend.descriptor_version)

    def where(self) -> Filters:
        f, where = self.content["filters"], Filters()
        where.add(live_owner("f.account_id"))  # not the faces of an account being removed
        for name, clause in (
            ("account_id", "f.account_id = {}::uuid"),
            ("face_id__gte", "f.face_id >= {}::uuid"),
            ("face_id__lt", "f.face_id < {}::uuid"),
        ):
            value = f.get(name)
            if not value:
                continue
            if UUID_RE.fullmatch(str(value).lower()):
                where.add(clause, str(value).lower())
            else:
                where.add("false")  # text that is no id (the reference's "string") matches nothing
        if f.get("has_sample"):
            where.add("EXISTS (SELECT 1 FROM sample p WHERE p.face_id = f.face_id)")
        if self.missing_only and self.target == "face_descriptor":
            where.add(
                "NOT EXISTS (SELECT 1 FROM descriptor d WHERE d.face_id = f.face_id "
                "AND d.descriptor_version = {}::int)",
                self.descriptor_version,
            )
        elif self.missing_only:
            where.add(
                "NOT EXISTS (SELECT 1 FROM face_attribute a WHERE a.face_id = f.face_id "
                "AND a.basic_attributes IS NOT NULL)"
            )
        return where

    async def plan(self, conn: Any) -> list[dict[str, Any]]:
        where = self.where()
        count = await conn.fetchval(f"SELECT count(*) FROM face f WHERE {where.sql()}", *where.args)
        self.planned = int(count)
        return uuid_ranges(self.planned, self.subtask_size)

    async def fetch(self, conn: Any, subtask: dict[str, Any], cursor: Any) -> Any | None:
        """The next faces, up to `batch_size` of them with a sample (and the faces
        without one in between, skipped): a sparse account costs few batches.

        The faces are looked at without their images (at most LOOK_AHEAD batches'
        worth at once); only the images the batch extracts are read.
        """
        where = self.where()
        range_clause(where, "f.face_id", subtask, cursor, "uuid")
        faces = await conn.fetch(
            f"""
            SELECT f.face_id, f.account_id,
                   EXISTS (SELECT 1 FROM sample s WHERE s.face_id = f.face_id) AS has_sample
            FROM face f WHERE {where.sql()}
            ORDER BY f.face_id LIMIT {int(self.batch_size) * LOOK_AHEAD}
            """,
            *where.args,
        )
        if not faces:
            return None
        batch, with_sample = [], []
        for face in faces:
            batch.append(face)
            if face["has_sample"]:
                with_sample.append(face["face_id"])
                if len(with_sample) == self.batch_size:
                    break
        images = {}
        if with_sample:
            rows = await conn.fetch(
                "SELECT DISTINCT ON (face_id) face_id, image FROM sample "
                "WHERE face_id = ANY($1::uuid[]) ORDER BY face_id, create_time DESC",
                with_sample,
            )
            images = {row["face_id"]: row["image"] for row in rows}
        return [
            {
                "face_id": f["face_id"],
                "account_id": f["account_id"],
                "image": images.get(f["face_id"]),
            }
            for f in batch
        ]

    async def compute(self, batch: Any) -> Any:
        images = [row["image"] for row in batch if row["image"] is not None]
        if not images:
            return []
        # CPU-bound: off the event loop, so heartbeats and requests go on.
        return await asyncio.to_thread(self.backend.extract, images, self.target)

    async def apply(self, conn: Any, batch: Any, computed: Any, part: ResultPart) -> Applied:
        results = iter(computed)
        applied = Applied(cursor=str(batch[-1]["face_id"]))
        descriptors, attributes, handled = [], [], []
        for row in batch:
            face_id = row["face_id"]
            if row["image"] is None:
                applied.skipped += 1  # nothing to extract from: not a failure
                continue
            extracted = next(results)
            if extracted.error:
                applied.failures.append(
                    Failure(
                        "EXTRACTION_FAILED",
                        str(face_id),
                        {"face_id": face_id, "reason": extracted.error},
                    )
                )
            elif self.target == "face_descriptor":
                descriptors.append((face_id, self.descriptor_version, extracted.descriptor))
            else:
                attributes.append(
                    (row["account_id"], face_id, json.dumps(extracted.basic_attributes))
                )
            if not extracted.error:
                handled.append(str(face_id))
        applied.handled, applied.ids = len(handled), handled
        if descriptors:
            await conn.executemany(
                "INSERT INTO descriptor (face_id, descriptor_version, vector) VALUES ($1, $2, $3) "
                "ON CONFLICT (face_id, descriptor_version) DO UPDATE SET vector = EXCLUDED.vector, "
                "create_time = now()",
                descriptors,
            )
        if attributes:
            await conn.executemany(
                "INSERT INTO face_attribute (account_id, face_id, basic_attributes) "
                "VALUES ($1, $2, $3::jsonb)",
                attributes,
            )
        return applied

    def summary(self, counts: Counts) -> tuple[dict[str, Any], str | None]:
        result: dict[str, Any] = {
            "extraction_target": self.target,
            "extracted_count": counts.handled,
            "skipped_count": counts.skipped,
            "failed_count": counts.failed,
        }
        if self.target == "face_descriptor":
            result["descriptor_version"] = self.descriptor_version
        return result, "face_ids"
