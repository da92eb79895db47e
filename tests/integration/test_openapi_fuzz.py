"""Schemathesis against a real `luna-admin serve`, over every operation of the
document the server itself serves at /docs/spec.

Checked for every generated request (positive and negative data, every phase):
no 5xx, a status the document lists for the operation, the documented content
type, the documented headers (Luna-Request-Id on every answer, Location ...),
a body that fits the documented schema, and no invalid request accepted.

The server has a database of its own (<test database>_fuzz, emptied first),
migrated and seeded by the server as in production, so nothing the fuzzing
creates or changes (accounts, tasks, schedules, settings) reaches the other
tests. It signs in as the default admin with Basic credentials on every
request; tests/integration/schemathesis_hooks.py keeps that admin's password
and account alive (see there why), and the test checks afterwards that the
admin still signs in.

Nothing leaves this machine: notification callbacks the fuzzing stores are
pointed at a local stub by the hooks (those the server would call; the others
it refuses), and the Telegram API URL (also what the health check probes) is a
local stub too. Both listen on 127.0.0.1, which CALLBACK_ALLOWED_NETWORKS
allows (tests/support/processes.py).

The length of the run: LUNA_FUZZ_MAX_EXAMPLES (default 5 per operation and
phase), LUNA_FUZZ_PHASES (default every phase), LUNA_FUZZ_SEED (default a fixed
seed, so a failure reproduces; `random` for a new one each run). `make fuzz`
runs a long one (docs/openapi.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import ADMIN, ADMIN_LOGIN, ADMIN_PASSWORD, TEST_DATABASE_URL
from tests.support.callback_server import CallbackServer
from tests.support.databases import fresh_database, sibling_database
from tests.support.processes import Processes
from webapp.settings import ROOT

MAX_EXAMPLES = os.environ.get("LUNA_FUZZ_MAX_EXAMPLES", "5")
PHASES = os.environ.get("LUNA_FUZZ_PHASES", "examples,coverage,fuzzing,stateful")
SEED = os.environ.get("LUNA_FUZZ_SEED", "20261128")
WORKERS = os.environ.get("LUNA_FUZZ_WORKERS", "4")
RUN_TIMEOUT = float(os.environ.get("LUNA_FUZZ_TIMEOUT", "900"))
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    ]
)

pytestmark = pytest.mark.slow


def fuzz_database() -> tuple[str, str, str]:
    """(URL of <test database>_fuzz, its name, URL of the maintenance database)."""
    assert TEST_DATABASE_URL
    return sibling_database(TEST_DATABASE_URL, "_fuzz")


async def empty_database() -> str:
    url, name, maintenance_url = fuzz_database()
    await fresh_database(url, name, maintenance_url)
    return url


def server_env(telegram_url: str) -> dict[str, str]:
    return {
        "TELEGRAM_API_URL": telegram_url,
        # The run sends thousands of requests as the admin, some with credentials
        # it made up: never lock the admin out of the server under test.
        "LOGIN_MAX_FAILURES": "1000000",
        "WORKERS_IN_PROCESS": "1",
    }


def schemathesis_command(spec: Path, base_url: str, report: Path) -> list[str]:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        str(spec),
        "--url",
        base_url,
        "--auth",
        f"{ADMIN_LOGIN}:{ADMIN_PASSWORD}",
        "--checks",
        CHECKS,
        "--phases",
        PHASES,
        "--max-examples",
        MAX_EXAMPLES,
        "--workers",
        WORKERS,
        "--request-timeout",
        "30",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--no-color",
    ]
    if SEED != "random":
        command += ["--seed", SEED]
    return command


def run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        env=env,
        cwd=cwd,  # schemathesis keeps a cache (.schemathesis/) in its working directory
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


async def test_schemathesis_finds_no_server_error_and_no_contradiction(tmp_path: Path):
    database_url = await empty_database()
    async with CallbackServer() as telegram, Processes(tmp_path) as processes:
        server = processes.serve("fuzz", database_url, **server_env(f"{telegram.url}/"))
        await server.wait_until_up()
        async with httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=30) as http:
            served = await http.get("/docs/spec", headers={"Accept": "application/x-yaml"})
            assert served.status_code == 200, served.text
            spec = tmp_path / "openapi.yaml"
            spec.write_text(served.text)
            operation_count = sum(
                len(item) for item in yaml.safe_load(served.text)["paths"].values()
            )
            found = await http.get("/4/search", params={"q": ADMIN_LOGIN}, headers=ADMIN)
            admin_id = found.json()["data"]["info"]["account_id"]

            report = tmp_path / "schemathesis.json"
            env = {
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "SCHEMATHESIS_HOOKS": "tests.integration.schemathesis_hooks",
                "LUNA_FUZZ_PROTECTED_ACCOUNT": admin_id,
                "LUNA_FUZZ_PASSWORD": ADMIN_PASSWORD,
                "LUNA_FUZZ_CALLBACK_BASE": telegram.url,
            }
            # In a thread: the Telegram stub answers from this event loop meanwhile.
            result = await asyncio.to_thread(
                run, schemathesis_command(spec, server.url, report), env, tmp_path
            )
            (tmp_path / "schemathesis.txt").write_text(result.stdout + result.stderr)
            summary = summarise(report, result)

            # The admin the run signed in as is still there, with its password.
            still = await http.get("/4/login", headers=ADMIN)
            assert still.status_code == 200, still.text
        refused = await unparsable_request(server.port)

    # What the HTTP parser refuses is still a LUNA error with a request id.
    head, _, body = refused.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head
    assert b"luna-request-id: " in head.lower()
    assert json.loads(body)["error_code"] == 12046

    assert summary["tested"] == operation_count, summary
    assert summary["failures"] == [] and summary["errors"] == [], tail(result)
    assert result.returncode == 0, tail(result)
    assert all(phase["status"] in ("success", "skip") for phase in summary["phases"].values())


async def unparsable_request(port: int) -> bytes:
    """A request line past the HTTP parser's limit: the answer, raw."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /version?x=" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: fuzz\r\n\r\n")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


def summarise(report: Path, result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    if not report.exists():
        pytest.fail(f"schemathesis wrote no report:\n{tail(result)}")
    data = json.loads(report.read_text())
    return {
        "tested": data["operations"]["tested"],
        "failures": data["failures"],
        "errors": data["errors"],
        "phases": data["phases"],
        "test_cases": data["test_cases"],
    }


def tail(result: subprocess.CompletedProcess[str], lines: int = 150) -> str:
    return "\n".join((result.stdout + result.stderr).splitlines()[-lines:])
