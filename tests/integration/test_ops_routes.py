"""Routes 46-50: /config, /healthcheck (both paths), /plugins and /metrics.

Health failures are made real, never mocked: a running schedule with nobody
holding the scheduler lock, subtasks nobody claims or whose heartbeat stopped,
a connection pool with no free connection, and local fake outside services
that answer 500, refuse connections or never answer.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ADMIN, HTML, TEST_DATABASE_URL, TEST_SECRET, basic
from tests.integration.helpers import app_client
from tests.support.callback_server import CallbackServer, FakeTelegramApi
from webapp import db
from webapp.schedules.leader import LEADER_LOCK
from webapp.settings import Settings, parse_networks
from webapp.system import config_view, health, plugins

MASK = "********"


@asynccontextmanager
async def leader_lock() -> AsyncIterator[None]:
    """Hold the scheduler leader's lock, as a leading process does."""
    conn = await db.engine().get_new_connection()
    try:
        assert await conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK)
        yield
    finally:
        await conn.close()


async def add_schedule(status: str = "running", due_in: str = "1 day") -> int:
    row = await db.fetchrow(
        "INSERT INTO task_schedule (task_type, task, trigger, status, next_run_time) "
        "VALUES (4, '{}', '{\"cron\": \"0 3 * * *\"}', $1, now() + $2::text::interval) "
        "RETURNING schedule_id",
        status,
        due_in,
    )
    assert row is not None
    return int(row["schedule_id"])


async def add_subtask(
    status: int = 0, age: str = "0 seconds", heartbeat_age: str | None = None
) -> int:
    """A gc task with one subtask created `age` ago (heartbeat `heartbeat_age` ago)."""
    row = await db.fetchrow(
        "WITH t AS (INSERT INTO task (task_type, content, task_status) "
        "VALUES (4, '{}', CASE WHEN $1 = 0 THEN 0 ELSE 1 END) RETURNING task_id) "
        "INSERT INTO subtask (task_id, content, subtask_status, worker_id, create_time, "
        "heartbeat_time) SELECT task_id, '{}', $1, CASE WHEN $1 = 1 THEN 'w:1:abc' END, "
        "now() - $2::text::interval, now() - $3::text::interval FROM t RETURNING subtask_id",
        status,
        age,
        heartbeat_age,
    )
    assert row is not None
    return int(row["subtask_id"])


def free_port() -> int:
    """A port nobody listens on (bound, then closed): connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def failures(response: httpx.Response) -> dict[str, dict[str, Any]]:
    assert response.status_code == 502, response.text
    body = response.json()
    assert body["error_code"] == 29150
    assert set(body) == {"error_code", "desc", "detail", "link", "errors", "execution_time"}
    found = {entry["component"]: entry["error"] for entry in body["errors"]}
    for error in found.values():
        assert error["error_code"] == 38001
        assert set(error) == {"error_code", "desc", "detail", "link"}
    assert body["detail"] == "Unhealthy components: " + ", ".join(found)
    return found


# ------------------------------------------------------------------ /config


async def test_config_and_plugins_answer_without_credentials(client):
    """As the reference shows them: no Authorization header listed for either."""
    for path in ("/config", "/plugins"):
        response = await client.get(path)
        assert response.status_code == 200, (path, response.text)
        assert "www-authenticate" not in response.headers
    text = await client.get("/config", headers={"Accept": "text/plain"})
    assert text.status_code == 200 and "SECRET_KEY = ********" in text.text


SECRETS = {
    "hunter2": "the password of the database URL",
    "s3cr3t-ssl": "sslpassword= in its query",
    "tok-in-query": "a token in its query",
    "123456:AAbbCC-dd": "the Telegram bot token in the API path",
    "p4ss-telegram": "the password of the Telegram URL",
}


async def test_config_masks_every_secret_it_could_show(client):
    async with app_client(
        database_url="postgresql://luna:hunter2@db:5432/luna"
        "?sslmode=verify-full&sslpassword=s3cr3t-ssl&application_name=admin",
        telegram_api_url="https://bot:p4ss-telegram@tg.example.com/bot123456:AAbbCC-dd/"
        "?access_token=tok-in-query&region=eu",
        public_origins=("https://admin.example.com",),
    ) as anonymous:
        for accept in ("application/json", "text/plain", "text/html"):
            response = await anonymous.get("/config", headers={"Accept": accept})
            assert response.status_code == 200
            for secret, where in SECRETS.items():
                assert secret not in response.text, (accept, where)
        groups = (await anonymous.get("/config")).json()
    # What is not secret stays readable.
    assert groups["DATABASE"]["DATABASE_URL"] == (
        f"postgresql://luna:{MASK}@db:5432/luna"
        f"?sslmode=verify-full&sslpassword={MASK}&application_name=admin"
    )
    assert groups["NOTIFICATIONS"]["TELEGRAM_API_URL"] == (
        f"https://bot:{MASK}@tg.example.com/bot{MASK}/?access_token={MASK}&region=eu"
    )
    assert groups["SECURITY"]["PUBLIC_ORIGINS"] == ["https://admin.example.com"]


async def test_config_shows_every_setting_grouped_by_environment_name(client):
    response = await client.get("/config", headers=ADMIN)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    groups = response.json()
    flat = {name: value for values in groups.values() for name, value in values.items()}
    expected = {config_view.place(f.name)[1] for f in dataclasses.fields(Settings)}
    assert set(flat) == expected
    assert groups["DATABASE"]["DATABASE_URL"] == TEST_DATABASE_URL
    assert groups["SERVER"]["API_VERSION"] == 4
    assert groups["SECURITY"]["SECRET_KEY"] == MASK
    assert groups["SECURITY"]["COOKIE_SECURE"] == 0
    assert groups["TASKS"]["WORKERS_IN_PROCESS"] == 0
    assert groups["SCHEDULES"]["SCHEDULER_ENABLED"] == 1
    assert TEST_SECRET not in response.text


async def test_config_as_text_is_one_line_per_setting(client):
    response = await client.get("/config", headers={**ADMIN, "Accept": "text/plain"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert len(lines) == len(dataclasses.fields(Settings))
    pairs = dict(line.split(" = ", 1) for line in lines)
    assert pairs["API_VERSION"] == "4"
    assert pairs["SECRET_KEY"] == MASK
    assert pairs["DATABASE_URL"] == TEST_DATABASE_URL


async def test_config_masks_every_secret_in_every_form(client):
    password, secret = "Pa55-w0rd-in-url", "a-very-secret-signing-key"
    async with app_client(
        database_url=f"postgresql://luna:{password}@db.example.com:5432/luna_admin",
        secret_key=secret,
        telegram_api_url="https://bot:tg-pass-123@telegram.example",
    ) as other:
        as_json = await other.get("/config", headers=ADMIN)
        as_text = await other.get("/config", headers={**ADMIN, "Accept": "text/plain"})
        as_page = await other.get("/config", headers={**ADMIN, **HTML})
    assert as_json.json()["DATABASE"]["DATABASE_URL"] == (
        f"postgresql://luna:{MASK}@db.example.com:5432/luna_admin"
    )
    assert as_json.json()["NOTIFICATIONS"]["TELEGRAM_API_URL"] == (
        f"https://bot:{MASK}@telegram.example"
    )
    assert f"DATABASE_URL = postgresql://luna:{MASK}@db.example.com" in as_text.text
    assert as_page.status_code == 200 and "db.example.com" in as_page.text
    for response in (as_json, as_text, as_page):
        for leaked in (password, secret, "tg-pass-123"):
            assert leaked not in response.text


async def test_config_shows_the_edge_settings(client):
    async with app_client(
        trusted_proxies=parse_networks("127.0.0.1, 10.0.0.0/8"), request_read_timeout=12.5
    ) as other:
        as_json = await other.get("/config", headers=ADMIN)
        as_text = await other.get("/config", headers={**ADMIN, "Accept": "text/plain"})
    security = as_json.json()["SECURITY"]
    assert security["TRUSTED_PROXIES"] == "127.0.0.1/32,10.0.0.0/8"
    assert security["REQUEST_READ_TIMEOUT"] == 12.5
    assert security["LOGIN_MAX_DELAY"] == 60
    assert "TRUSTED_PROXIES = 127.0.0.1/32,10.0.0.0/8" in as_text.text


@pytest.mark.parametrize("accept", ["application/xml", "image/png", "application/x-yaml"])
async def test_config_refuses_other_media_types(client, accept):
    response = await client.get("/config", headers={**ADMIN, "Accept": accept})
    assert response.status_code == 415
    body = response.json()
    assert body["error_code"] == 12024
    assert set(body) == {"error_code", "desc", "detail", "link"}


async def test_config_accepts_wildcards_and_no_accept_as_json(client):
    for accept in ("*/*", "application/*"):
        response = await client.get("/config", headers={**ADMIN, "Accept": accept})
        assert response.status_code == 200
        assert "DATABASE" in response.json()
    bare = await client.get("/config", headers={**ADMIN, "Accept": ""})
    assert bare.status_code == 200 and "DATABASE" in bare.json()


async def test_config_page_for_a_browser(client):
    response = await client.get("/config", headers={**ADMIN, **HTML})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'data-testid="config-SECRET_KEY">********<' in response.text
    assert "WORKER_DEAD_AFTER_SECONDS" in response.text
    no_session = await client.get("/config", headers=HTML)
    assert no_session.status_code == 200
    assert 'data-testid="config-SECRET_KEY">********<' in no_session.text
    assert 'data-testid="signed-in-as"' not in no_session.text


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (
            "postgresql://u:p%40ss@h:5432/d?sslmode=require",
            f"postgresql://u:{MASK}@h:5432/d?sslmode=require",
        ),
        ("postgresql://u@h/d?password=x", f"postgresql://u@h/d?password={MASK}"),
        (
            "postgresql://u@h/d?sslpassword=x&passfile=/p",
            f"postgresql://u@h/d?sslpassword={MASK}&passfile={MASK}",
        ),
        ("redis://:p@h:6379/0", f"redis://:{MASK}@h:6379/0"),
        (
            "https://h/x?api_key=1&apiKey=2&AccessToken=3&q=4",
            f"https://h/x?api_key={MASK}&apiKey={MASK}&AccessToken={MASK}&q=4",
        ),
        ("host=db password='x y' dbname=d", f"host=db password={MASK} dbname=d"),
        ("host=db sslpassword=z user=u", f"host=db sslpassword={MASK} user=u"),
        (
            "a=https://u:p@h/,b=https://h/?token=t",
            f"a=https://u:{MASK}@h/,b=https://h/?token={MASK}",
        ),
        (
            "https://api.telegram.org/bot1:AA_b-c/sendMessage",
            f"https://api.telegram.org/bot{MASK}/sendMessage",
        ),
        ("postgresql://u@h/d", "postgresql://u@h/d"),
        ("127.0.0.1", "127.0.0.1"),
    ],
)
def test_a_secret_in_any_url_or_connection_string_is_masked(value, shown):
    assert config_view.shown_value("SOME_URL", value) == shown


@pytest.mark.parametrize(
    "name",
    [
        "SECRET_KEY",
        "DB_PASSWORD",
        "DB_PASS",
        "REDIS_PWD",
        "API_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "PRIVATE_KEY_PEM",
        "CLIENT_SECRET",
        "BASIC_AUTH",
        "SIGNING_SALT",
        "X_CREDENTIALS",
    ],
)
def test_a_setting_whose_name_means_a_secret_is_masked_whatever_it_holds(name):
    assert config_view.shown_value(name, "plain-looking value") == MASK
    assert config_view.shown_value(name, True) == 1  # a 0/1 flag tells nothing


# ------------------------------------------------------------- /healthcheck


async def test_healthcheck_is_public_on_both_paths(client):
    for path in ("/healthcheck", "/4/healthcheck"):
        response = await client.get(path)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"execution_time"}
        assert 0 <= body["execution_time"] < 5


@pytest.mark.parametrize("value", ["2", "-1", "yes", "1.0", ""])
async def test_include_luna_services_must_be_0_or_1(client, value):
    if value == "":
        # An empty value is the default (0), as for every integer parameter.
        assert (await client.get("/healthcheck?include_luna_services=")).status_code == 200
        return
    response = await client.get(f"/healthcheck?include_luna_services={value}")
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == 12012
    assert body["detail"] == "Bad query parameters 'include_luna_services'"


async def test_running_schedule_without_a_leader_is_unhealthy(client):
    await add_schedule("paused")
    # A paused schedule fires nothing: no leader is needed for it.
    assert (await client.get("/healthcheck")).status_code == 200
    await add_schedule("running")
    found = failures(await client.get("/healthcheck"))
    assert list(found) == ["scheduler"]
    assert str(LEADER_LOCK) in found["scheduler"]["detail"]
    assert "1 running schedule(s) will not fire" in found["scheduler"]["detail"]
    async with leader_lock():
        assert (await client.get("/4/healthcheck")).status_code == 200
    # The leader went away: unhealthy again.
    assert (await client.get("/4/healthcheck")).status_code == 502


async def test_overdue_schedule_is_unhealthy_even_with_a_leader(client):
    async with leader_lock():
        await add_schedule("running", due_in="-10 minutes")
        found = failures(await client.get("/healthcheck"))
        assert "was due 600 s ago and has not fired" in found["scheduler"]["detail"]
        # Late by less than the grace: a fire may be on its way.
        await db.fetch("UPDATE task_schedule SET next_run_time = now() - interval '5 seconds'")
        assert (await client.get("/healthcheck")).status_code == 200


async def test_subtasks_nobody_claims_make_workers_unhealthy(client):
    # Just created: a worker has not had time to claim it yet.
    await add_subtask(0, age="1 second")
    assert (await client.get("/healthcheck")).status_code == 200
    await add_subtask(0, age="60 seconds")
    found = failures(await client.get("/healthcheck"))
    assert list(found) == ["workers"]
    assert "1 subtask(s) waited more than 15 s for a worker" in found["workers"]["detail"]
    # A worker heartbeating on another subtask is alive, only busy.
    await add_subtask(1, age="60 seconds", heartbeat_age="1 second")
    assert (await client.get("/healthcheck")).status_code == 200


async def test_stale_heartbeats_make_workers_unhealthy(client):
    await add_subtask(1, age="5 minutes", heartbeat_age="2 minutes")
    found = failures(await client.get("/healthcheck"))
    assert "without a heartbeat for more than 15 s" in found["workers"]["detail"]
    assert "(the oldest 120 s)" in found["workers"]["detail"]


async def test_every_failing_component_is_named(client):
    await add_schedule("running")
    await add_subtask(0, age="60 seconds")
    response = await client.get("/4/healthcheck")
    assert set(failures(response)) == {"scheduler", "workers"}
    assert response.json()["detail"] == "Unhealthy components: scheduler, workers"


async def test_database_without_a_free_connection_is_unhealthy(client, monkeypatch):
    monkeypatch.setattr(health, "DB_TIMEOUT_SECONDS", 0.3)
    pool = db.engine().pool
    assert pool is not None
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    try:
        found = failures(await client.get("/healthcheck"))
    finally:
        for conn in held:
            await pool.release(conn)
    # The other checks need the database: only its failure is reported.
    assert list(found) == ["database"]
    assert found["database"]["detail"] == "database: no answer within 0.3 s"
    assert (await client.get("/healthcheck")).status_code == 200


async def test_outside_services_are_checked_only_when_asked(client):
    async with FakeTelegramApi() as telegram, app_client(telegram_api_url=telegram.url) as other:
        assert (await other.get("/healthcheck")).status_code == 200
        assert telegram.requests == []
        # The fake answers its base URL 404, as a reachable Bot API answers without a token.
        response = await other.get("/healthcheck?include_luna_services=1")
        assert response.status_code == 200, response.text
        assert [(r.method, r.path) for r in telegram.requests] == [("GET", "/")]


async def test_outside_service_answering_500_is_unhealthy(client):
    async with CallbackServer() as server, app_client(telegram_api_url=server.url) as other:
        server.fail_next(1, 500)
        found = failures(await other.get("/4/healthcheck?include_luna_services=1"))
    assert list(found) == ["telegram_api"]
    assert found["telegram_api"]["detail"] == f"telegram_api: {server.url}: answered HTTP 500"


async def test_outside_service_refusing_connections_is_unhealthy(client):
    url = f"http://127.0.0.1:{free_port()}"
    async with app_client(telegram_api_url=url) as other:
        found = failures(await other.get("/healthcheck?include_luna_services=1"))
    assert "ConnectError" in found["telegram_api"]["detail"]


async def test_outside_service_not_answering_in_time_is_unhealthy(client, monkeypatch):
    monkeypatch.setattr(health, "SERVICE_TIMEOUT_SECONDS", 0.3)
    async with CallbackServer() as server, app_client(telegram_api_url=server.url) as other:
        server.hang_next(1)
        response = await other.get("/healthcheck?include_luna_services=1")
        found = failures(response)
    assert found["telegram_api"]["detail"].endswith("no answer within 0.3 s")
    assert response.json()["execution_time"] < 2


async def test_outside_service_password_is_not_shown(client):
    url = f"http://bot:hidden-pass@127.0.0.1:{free_port()}"
    async with app_client(telegram_api_url=url) as other:
        response = await other.get("/healthcheck?include_luna_services=1")
    assert response.status_code == 502
    assert "hidden-pass" not in response.text
    assert f"bot:{MASK}@127.0.0.1" in response.text


# ------------------------------------------------------------------ /plugins


async def test_plugins_lists_extraction_backends_and_notifiers(client):
    response = await client.get("/plugins", headers=ADMIN)
    assert response.status_code == 200
    listed = response.json()["plugins"]
    assert all(set(entry) == {"name", "running"} for entry in listed)
    running = {entry["name"]: entry["running"] for entry in listed}
    assert running["dlib_resnet_v1"] == 1  # its models are installed with the package
    assert running["http_callbacks"] == 1
    assert running["telegram_callbacks"] == 1


async def test_plugins_not_usable_are_not_running(client):
    async with app_client(extraction_backend="someone_elses", telegram_api_url="") as other:
        listed = (await other.get("/plugins", headers=ADMIN)).json()["plugins"]
    running = {entry["name"]: entry["running"] for entry in listed}
    assert running == {"dlib_resnet_v1": 0, "http_callbacks": 1, "telegram_callbacks": 0}


async def test_a_plugin_whose_probe_fails_is_listed_as_not_running(client, monkeypatch):
    def broken(settings: Settings) -> bool:
        raise RuntimeError("cannot tell")

    monkeypatch.setitem(plugins._REGISTRY, "broken", plugins.Plugin("broken", "test", broken))
    monkeypatch.setitem(
        plugins._REGISTRY, "fine", plugins.Plugin("fine", "test", lambda settings: True)
    )
    listed = (await client.get("/plugins", headers=ADMIN)).json()["plugins"]
    assert {"name": "broken", "running": 0} in listed
    assert {"name": "fine", "running": 1} in listed
    assert [entry["name"] for entry in listed] == sorted(entry["name"] for entry in listed)


async def test_plugins_page(client):
    response = await client.get("/plugins", headers={**ADMIN, **HTML})
    assert response.status_code == 200
    assert 'data-testid="plugin-dlib_resnet_v1"' in response.text
    assert "extraction" in response.text and "notifier" in response.text


# ------------------------------------------------------------------ /metrics


async def scrape(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/metrics")  # no credentials: public
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    return families


def value(families: dict[str, Any], sample_name: str, **labels: str) -> float:
    family_name = sample_name
    for suffix in ("_total", "_bucket", "_count", "_sum"):
        if sample_name.endswith(suffix) and sample_name.removesuffix(suffix) in families:
            family_name = sample_name.removesuffix(suffix)
    for sample in families[family_name].samples:
        if sample.name == sample_name and sample.labels == labels:
            return float(sample.value)
    return 0.0


async def test_metrics_parse_and_have_every_family(client):
    families = await scrape(client)
    assert {
        "request_count": "counter",
        "request_latency_seconds": "histogram",
        "login_failures": "counter",
        "task_count": "gauge",
        "subtasks_finished": "counter",
        "task_schedule_count": "gauge",
        "schedule_fires": "counter",
        "database_scrape_success": "gauge",
    }.items() <= {name: family.type for name, family in families.items()}.items()
    assert value(families, "database_scrape_success") == 1


async def test_request_counts_and_latency_follow_requests(client):
    path = {"path": "GET:/version"}
    before = await scrape(client)
    for _ in range(3):
        await client.get("/version")
    await client.get("/no/such/page")
    await client.get("/4/tasks/12345", headers=ADMIN)
    after = await scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("request_count_total", **path, status_code="200") == 3
    assert grew("request_latency_seconds_count", **path) == 3
    assert grew("request_latency_seconds_bucket", **path, le="+Inf") == 3
    assert grew("request_count_total", path="GET:<unmatched>", status_code="404") == 1
    # The route template, not the path: one series however many ids are asked for.
    assert grew("request_count_total", path="GET:/4/tasks/{task_id}", status_code="404") == 1
    # The previous scrape itself is counted by now.
    assert grew("request_count_total", path="GET:/metrics", status_code="200") == 1
    buckets = [
        s.value
        for s in after["request_latency_seconds"].samples
        if s.name == "request_latency_seconds_bucket" and s.labels["path"] == "GET:/version"
    ]
    assert buckets == sorted(buckets)  # cumulative
    assert value(after, "request_latency_seconds_sum", **path) > 0


async def test_made_up_methods_share_one_label(client):
    before = await scrape(client)
    for method in ("BREW", "WHEN", "PROPFIND"):
        await client.request(method, "/version")
    after = await scrape(client)
    labels = {"path": "OTHER:<unmatched>", "status_code": "405"}
    assert (
        value(after, "request_count_total", **labels)
        - value(before, "request_count_total", **labels)
        == 3
    )
    assert not any("BREW" in s.labels.get("path", "") for s in after["request_count"].samples)


async def test_healthcheck_paths_and_answers_are_counted_apart(client):
    before = await scrape(client)
    await client.get("/healthcheck")
    await client.get("/4/healthcheck")
    await add_subtask(0, age="60 seconds")
    await client.get("/4/healthcheck")
    after = await scrape(client)
    for label, status, grown in (
        ("GET:/healthcheck", "200", 1),
        ("GET:/4/healthcheck", "200", 1),
        ("GET:/4/healthcheck", "502", 1),
    ):
        now = value(after, "request_count_total", path=label, status_code=status)
        then = value(before, "request_count_total", path=label, status_code=status)
        assert now - then == grown


async def test_login_failures_are_counted(client):
    before = value(await scrape(client), "login_failures_total")
    await client.get("/4/accounts", headers=basic("root@visionlabs.ai", "wrong"))
    await client.get("/4/accounts", headers=basic("nobody@example.com", "x"))
    await client.get("/4/accounts", headers=ADMIN)  # a success is not a failure
    assert value(await scrape(client), "login_failures_total") - before == 2


async def test_task_and_schedule_figures_come_from_the_database(client):
    families = await scrape(client)
    assert value(families, "task_count", status="pending") == 0
    await add_subtask(0)
    await add_subtask(0)
    await add_subtask(1, heartbeat_age="1 second")
    done = await add_subtask(1, heartbeat_age="1 second")
    await db.fetch("UPDATE subtask SET subtask_status = 5 WHERE subtask_id = $1", done)
    schedule_id = await add_schedule("running")
    await add_schedule("paused")
    await db.fetch(
        "INSERT INTO schedule_fire (schedule_id, fire_time, outcome) VALUES "
        "($1, now(), 'created'), ($1, now() - interval '1 day', 'skipped'), "
        "($1, now() - interval '2 days', 'skipped')",
        schedule_id,
    )
    families = await scrape(client)
    assert value(families, "task_count", status="pending") == 2
    assert value(families, "task_count", status="in_progress") == 2
    assert value(families, "task_count", status="done") == 0
    assert value(families, "subtasks_finished_total", status="done") == 1
    assert value(families, "subtasks_finished_total", status="failed") == 0
    assert value(families, "task_schedule_count", status="running") == 1
    assert value(families, "task_schedule_count", status="paused") == 1
    assert value(families, "schedule_fires_total", outcome="created") == 1
    assert value(families, "schedule_fires_total", outcome="skipped") == 2


async def test_metrics_without_the_database_still_answer(client, monkeypatch):
    from webapp.system import metrics

    monkeypatch.setattr(metrics, "SCRAPE_TIMEOUT_SECONDS", 0.3)
    pool = db.engine().pool
    assert pool is not None
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    try:
        families = await scrape(client)
    finally:
        for conn in held:
            await pool.release(conn)
    assert value(families, "database_scrape_success") == 0
    assert "task_count" not in families
    assert "request_count" in families
