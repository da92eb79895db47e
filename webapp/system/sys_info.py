"""GET /{api}/luna_sys_info: the body, and the figures the system page draws.

The reference's `stats` also has estimators_stats, estimators_performance_stats
and image_processing_stats, which describe the platform's estimators and image
pipeline; this service runs neither, so they are answered as empty lists.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from webapp import db
from webapp.settings import Settings
from webapp.system import route_stats, settings_service, versions
from webapp.system.settings_catalog import LICENSE_FIELDS

SIGNATURE_CONTEXT = b"luna-admin luna_sys_info signature"
"""Derives the signing key from SECRET_KEY, so the signature key is used for
nothing else (SECRET_KEY also keys the credential cache)."""


REMOVED_DESCRIPTORS_SQL = """
SELECT d.descriptor_version, count(*) AS n
FROM face f JOIN descriptor d ON d.face_id = f.face_id
WHERE f.account_id = ANY($1::uuid[])
GROUP BY d.descriptor_version
"""
"""The descriptors of accounts being removed: gone for every route at once, though
their rows go in the background (webapp/tasks/account_removal.py)."""


async def descriptor_info() -> list[dict[str, int]]:
    """[{descriptor_version, descriptor_count}]: one aggregate, which PostgreSQL
    answers from the (descriptor_version, descriptor_id) index when the table's
    rows are wide (an index-only scan; about 0.1 s per million descriptors),
    less the descriptors of accounts being removed, counted in the same snapshot
    (only while a removal runs: it costs about as much as that account has left)."""
    async with (
        db.connection() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        rows = await conn.fetch(
            "SELECT descriptor_version, count(*) AS n FROM descriptor "
            "GROUP BY descriptor_version ORDER BY descriptor_version"
        )
        counts = {row["descriptor_version"]: int(row["n"]) for row in rows}
        removing = await conn.fetch("SELECT account_id FROM account WHERE remove_time IS NOT NULL")
        if removing:
            ids = [row["account_id"] for row in removing]
            for row in await conn.fetch(REMOVED_DESCRIPTORS_SQL, ids):
                counts[row["descriptor_version"]] -= int(row["n"])
    return [
        {"descriptor_version": version, "descriptor_count": count}
        for version, count in counts.items()
        if count > 0
    ]


async def account_totals() -> dict[str, int]:
    """Faces and face attributes of every account, from the counters the triggers
    keep (one row per account), not by counting the big tables; accounts being
    removed are left out."""
    row = await db.fetchrow(
        "SELECT coalesce(sum(face_count), 0) - coalesce(sum(face_count) FILTER (WHERE removed), 0) "
        "AS faces, coalesce(sum(face_attribute_count), 0) - "
        "coalesce(sum(face_attribute_count) FILTER (WHERE removed), 0) AS attributes "
        "FROM (SELECT s.*, s.account_id IN (SELECT account_id FROM account "
        "WHERE remove_time IS NOT NULL) AS removed FROM account_stats s) s"
    )
    assert row is not None
    return {"faces": int(row["faces"]), "attributes": int(row["attributes"])}


def license_info(configs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each license feature from its LICENSE_* setting: null means the license does
    not have the feature (`is_available` false)."""
    by_name = {config["name"]: config["value"] for config in configs}
    return {
        field: {"is_available": by_name.get(name) is not None, "value": by_name.get(name)}
        for field, name in LICENSE_FIELDS.items()
    }


def signature_of(body: dict[str, Any], secret_key: str) -> str:
    """HMAC-SHA256 (hex) of the body without `signature`, as compact JSON with sorted
    keys, under a key derived from SECRET_KEY: whoever holds the secret can tell
    that a saved answer is unchanged. It is not a vendor's license signature."""
    unsigned = {key: value for key, value in body.items() if key != "signature"}
    canonical = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    key = hmac.new(secret_key.encode(), SIGNATURE_CONTEXT, hashlib.sha256).digest()
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def signature_is_valid(body: dict[str, Any], secret_key: str) -> bool:
    return hmac.compare_digest(str(body.get("signature", "")), signature_of(body, secret_key))


@dataclass(frozen=True)
class SysInfo:
    body: dict[str, Any]
    """The answer of luna_sys_info."""
    faces: int
    """All faces (the system page compares them with the license's limit)."""


async def sys_info(settings: Settings) -> SysInfo:
    services, descriptors, configs, totals, routes = await asyncio.gather(
        versions.services_versions(settings.api_version),
        descriptor_info(),
        settings_service.list_settings(),
        account_totals(),
        route_stats.routes_stats(),
    )
    body: dict[str, Any] = {
        "services_versions": services,
        "descriptor_info": descriptors,
        "configs": configs,
        "current_faces_attributes_count": totals["attributes"],
        "license_info": license_info(configs),
        "signature": "",
        "stats": {
            "estimators_stats": [],
            "estimators_performance_stats": [],
            "image_processing_stats": [],
            "routes_stats": routes,
        },
    }
    body["signature"] = signature_of(body, settings.secret_key)
    return SysInfo(body=body, faces=totals["faces"])
