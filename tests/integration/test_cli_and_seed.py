"""The luna-admin command and the seed: real processes against the test database."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ADMIN, TEST_DATABASE_URL
from tests.integration.helpers import run_luna_admin
from webapp import db
from webapp.accounts.service import recount_stats
from webapp.platform.seed import SeedPlan, seed, tiny_png

COMMANDS = ["serve", "migrate", "create-admin", "set-password", "seed", "recount", "check"]


def luna_admin(*args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_luna_admin(TEST_DATABASE_URL, *args, input_text=input_text, SECRET_KEY="cli-test")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = luna_admin(command, "--help")
    assert result.returncode == 0
    assert "usage: luna-admin" in result.stdout


async def test_migrate_twice_is_a_no_op(client):
    result = luna_admin("migrate")
    assert result.returncode == 0, result.stderr
    assert "no migrations pending" in result.stdout


async def test_create_admin_then_sign_in(client):
    result = luna_admin("create-admin", "ops@example.com", "--password", "0ps-pass")
    assert result.returncode == 0, result.stderr
    response = await client.get(
        "/4/login", headers={"Authorization": "Basic b3BzQGV4YW1wbGUuY29tOjBwcy1wYXNz"}
    )  # ops@example.com:0ps-pass
    assert response.status_code == 200
    duplicate = luna_admin("create-admin", "ops@example.com", "--password", "x1y2z3")
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    invalid = luna_admin("create-admin", "Not An Email", "--password", "x1y2z3")
    assert invalid.returncode == 1 and "login" in invalid.stderr


async def test_check_warns_about_the_default_password(client):
    result = luna_admin("check", "--strict")
    assert result.returncode == 1
    assert "root@visionlabs.ai still has the password" in result.stdout
    changed = await client.patch("/4/login", json={"password": "better"}, headers=ADMIN)
    assert changed.status_code == 204
    again = luna_admin("check")
    assert "still has the password" not in again.stdout


def test_bad_settings_stop_the_command_with_the_name():
    env = {**os.environ, "DATABASE_URL": TEST_DATABASE_URL, "API_VERSION": "x"}
    result = subprocess.run(
        [sys.executable, "-m", "webapp.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "API_VERSION" in result.stderr


async def counters() -> list[tuple]:
    rows = await db.fetch(
        "SELECT account_id, list_count, face_count, face_attribute_count "
        "FROM account_stats ORDER BY account_id"
    )
    lists = await db.fetch("SELECT list_id, face_count FROM list ORDER BY list_id")
    total = await db.fetchrow("SELECT account_count FROM account_total")
    return [tuple(r) for r in rows] + [tuple(r) for r in lists] + [tuple(total or ())]


async def test_seed_fills_everything_and_the_counters_agree_with_a_recount(client):
    report = await seed(
        SeedPlan(
            accounts=3,
            lists_per_account=2,
            faces=50,
            faces_per_list=20,
            descriptor_versions=(56, 59),
            attributes=0.5,
            events=4,
            samples=0.2,
        )
    )
    assert "rows/s" in report
    body = (await client.get("/4/accounts?page_size=10", headers=ADMIN)).json()
    assert body["account_count"] == 4
    seeded = [a for a in body["accounts"] if a["login"].endswith("@seed.test")]
    assert len(seeded) == 3
    stats = (await client.get(f"/4/accounts/{seeded[0]['account_id']}", headers=ADMIN)).json()
    assert stats["stats"]["list_count"] == 2 and stats["stats"]["face_count"] == 50
    lists = (
        await client.get(f"/4/lists?account_id={seeded[0]['account_id']}", headers=ADMIN)
    ).json()["lists"]
    assert sorted(item["face_count"] for item in lists) == [20, 20]
    descriptors = await db.fetchrow("SELECT count(*) AS n FROM descriptor")
    assert descriptors is not None and descriptors["n"] == 3 * 50 * 2
    before = await counters()
    await recount_stats()
    assert await counters() == before


async def test_seed_into_an_existing_account(client):
    account_id = (await client.get("/4/accounts", headers=ADMIN)).json()["accounts"][0][
        "account_id"
    ]
    await seed(SeedPlan(account_id=account_id, faces=30, lists_per_account=1, faces_per_list=30))
    stats = (await client.get(f"/4/accounts/{account_id}", headers=ADMIN)).json()["stats"]
    assert stats["face_count"] == 30 and stats["list_count"] == 1


def test_sample_images_are_valid_pngs():
    image = tiny_png(7)
    assert image.startswith(b"\x89PNG\r\n\x1a\n") and image != tiny_png(8)
