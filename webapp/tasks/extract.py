"""Additional extraction (task type 8): compute what faces lack from their samples.

For every face in the filters that lacks the target (or every face, with
`missing: false`), the newest sample of the face is read, the configured
extraction backend computes the target, and the result is stored beside what
the face already has: a descriptor row of the backend's version, or a
face_attribute row with basic attributes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from webapp.platform.service import live_owner
from webapp.tasks.work import Applied, Filters, ResultPart, Work, range_clause, uuid_ranges


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
    def descriptor_version(self) -> int:
        return int(self.options.get("descriptor_version") or self.backend.descriptor_version)

    def where(self) -> Filters:
        f, where = self.content["filters"], Filters()
        where.add(live_owner("f.account_id"))  # not the faces of an account being removed
        if f.get("account_id"):
            where.add("f.account_id = {}::uuid", f["account_id"])
        if f.get("face_id__gte"):
            where.add("f.face_id >= {}::uuid", f["face_id__gte"])
        if f.get("face_id__lt"):
            where.add("f.face_id < {}::uuid", f["face_id__lt"])
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
        return uuid_ranges(int(count), self.subtask_size)

    async def fetch(self, conn: Any, subtask: dict[str, Any], cursor: Any) -> Any | None:
        where = self.where()
        range_clause(where, "f.face_id", subtask, cursor, "uuid")
        rows = await conn.fetch(
            f"""
            SELECT f.face_id, f.account_id, s.image FROM face f
            LEFT JOIN LATERAL (
                SELECT image FROM sample WHERE sample.face_id = f.face_id
                ORDER BY create_time DESC LIMIT 1
            ) s ON true
            WHERE {where.sql()} ORDER BY f.face_id LIMIT {int(self.batch_size)}
            """,
            *where.args,
        )
        return rows or None

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
                applied.errors.append(("SAMPLE_NOT_FOUND", {"face_id": face_id}))
                continue
            extracted = next(results)
            if extracted.error:
                applied.errors.append(
                    ("EXTRACTION_FAILED", {"face_id": face_id, "reason": extracted.error})
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

    def summary(self, handled: int, failed: int) -> tuple[dict[str, Any], str | None]:
        result: dict[str, Any] = {
            "extraction_target": self.target,
            "extracted_count": handled,
            "failed_count": failed,
        }
        if self.target == "face_descriptor":
            result["descriptor_version"] = self.descriptor_version
        return result, "face_ids"
