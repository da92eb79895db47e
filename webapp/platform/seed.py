"""`luna-admin seed`: realistic platform data, fast, for demos and benchmarks.

Rows are generated inside PostgreSQL with set-based INSERT ... SELECT over
generate_series (no per-row round trips), and the few things made in Python
(sample images) go in with COPY. A million faces with a descriptor each take
seconds, not hours. Everything happens in one transaction: an interrupted
seed leaves nothing behind.
"""

from __future__ import annotations

import random
import struct
import time
import uuid
import zlib
from dataclasses import dataclass

from webapp import db
from webapp.accounts.passwords import hash_password

SEED_PASSWORD = "seed-password"
"""Every seeded account has this password (they are demo data)."""


@dataclass(frozen=True)
class SeedPlan:
    accounts: int = 10
    lists_per_account: int = 3
    faces: int = 1000
    """Faces per account."""
    faces_per_list: int = 100
    descriptor_versions: tuple[int, ...] = (56,)
    attributes: float = 0.5
    """Share of faces that get basic attributes."""
    events: int = 0
    """Events per account."""
    samples: float = 0.0
    """Share of faces that get a sample image."""
    account_id: str | None = None
    """Seed into this existing account instead of creating accounts."""


def tiny_png(seed: int, size: int = 32) -> bytes:
    """A small grey-scale PNG with a pattern that depends on `seed`."""
    rng = random.Random(seed)
    rows = b"".join(b"\x00" + bytes(rng.randrange(256) for _ in range(size)) for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def seed(plan: SeedPlan) -> str:
    started = time.perf_counter()
    counts: dict[str, int] = {}
    password_hash = await hash_password(SEED_PASSWORD)
    batch = uuid.uuid4().hex[:6]
    async with db.connection() as conn, conn.transaction():
        if plan.account_id:
            account_ids = [uuid.UUID(plan.account_id)]
            if not await conn.fetchval(
                "SELECT 1 FROM account WHERE account_id = $1 AND remove_time IS NULL",
                account_ids[0],
            ):
                raise SystemExit(f"account {plan.account_id} not found")
        else:
            rows = await conn.fetch(
                """
                INSERT INTO account (login, password_hash, account_type, description, create_time)
                SELECT format('user%s.%s@seed.test', g, $2::text), $3,
                       (ARRAY['advanced_user', 'user', 'advanced_user'])[1 + g % 3],
                       format('Seeded organisation %s', g),
                       now() - random() * interval '365 days'
                FROM generate_series(1, $1) g
                RETURNING account_id
                """,
                plan.accounts,
                batch,
                password_hash,
            )
            account_ids = [row["account_id"] for row in rows]
        counts["accounts"] = len(account_ids)

        await conn.execute(
            "CREATE TEMP TABLE seed_faces (face_id uuid, account_id uuid, rn bigint) ON COMMIT DROP"
        )
        await conn.execute(
            """
            WITH inserted AS (
                INSERT INTO face (account_id, user_data, create_time)
                SELECT a, format('face %s', g), now() - random() * interval '365 days'
                FROM unnest($1::uuid[]) a, generate_series(1, $2) g
                RETURNING face_id, account_id
            )
            INSERT INTO seed_faces
            SELECT face_id, account_id, row_number() OVER (PARTITION BY account_id) FROM inserted
            """,
            account_ids,
            plan.faces,
        )
        counts["faces"] = len(account_ids) * plan.faces

        await conn.execute(
            "CREATE TEMP TABLE seed_lists (list_id uuid, account_id uuid, k bigint) ON COMMIT DROP"
        )
        await conn.execute(
            """
            WITH inserted AS (
                INSERT INTO list (account_id, user_data, create_time)
                SELECT a, format('list %s', g), now() - random() * interval '365 days'
                FROM unnest($1::uuid[]) a, generate_series(1, $2) g
                RETURNING list_id, account_id
            )
            INSERT INTO seed_lists
            SELECT list_id, account_id, row_number() OVER (PARTITION BY account_id) FROM inserted
            """,
            account_ids,
            plan.lists_per_account,
        )
        counts["lists"] = len(account_ids) * plan.lists_per_account
        # List k of an account holds that account's faces numbered ((k-1)*n, k*n].
        status = await conn.execute(
            """
            INSERT INTO list_face (list_id, face_id)
            SELECT l.list_id, f.face_id FROM seed_lists l
            JOIN seed_faces f ON f.account_id = l.account_id
             AND f.rn > (l.k - 1) * $1 AND f.rn <= l.k * $1
            """,
            plan.faces_per_list,
        )
        counts["list memberships"] = int(status.split()[-1])

        status = await conn.execute(
            """
            INSERT INTO face_attribute (account_id, face_id, basic_attributes)
            SELECT account_id, face_id, jsonb_build_object(
                'age', 18 + floor(random() * 60)::int,
                'gender', floor(random() * 2)::int,
                'ethnicity', floor(random() * 4)::int)
            FROM seed_faces WHERE random() < $1
            """,
            plan.attributes,
        )
        counts["face attributes"] = int(status.split()[-1])

        counts["descriptors"] = 0
        for version in plan.descriptor_versions:
            # 512 bytes of pseudo-random content per face and version.
            status = await conn.execute(
                """
                INSERT INTO descriptor (face_id, descriptor_version, vector)
                SELECT face_id, $1::int,
                       decode(repeat(md5(face_id::text || $1::int::text), 32), 'hex')
                FROM seed_faces
                """,
                version,
            )
            counts["descriptors"] += int(status.split()[-1])

        if plan.events:
            status = await conn.execute(
                """
                INSERT INTO event (account_id, handler_id, create_time)
                SELECT a, h, now() - random() * interval '90 days'
                FROM unnest($1::uuid[]) a, generate_series(1, $2) g,
                     LATERAL (SELECT gen_random_uuid() AS h) handler
                """,
                account_ids,
                plan.events,
            )
            counts["events"] = int(status.split()[-1])

        if plan.samples > 0:
            faces = await conn.fetch(
                "SELECT face_id, account_id FROM seed_faces WHERE random() < $1", plan.samples
            )
            records = [
                (uuid.uuid4(), row["account_id"], row["face_id"], tiny_png(index))
                for index, row in enumerate(faces)
            ]
            await conn.copy_records_to_table(
                "sample", records=records, columns=["sample_id", "account_id", "face_id", "image"]
            )
            counts["samples"] = len(records)

    elapsed = time.perf_counter() - started
    total = sum(counts.values())
    lines = [f"{name}: {count:,}" for name, count in counts.items()]
    lines.append(f"{total:,} rows in {elapsed:.1f} s ({total / max(elapsed, 1e-9):,.0f} rows/s)")
    if not plan.account_id:
        lines.append(f"seeded accounts sign in with the password {SEED_PASSWORD!r}")
    return "\n".join(lines)
