"""Task notifications end to end: outbox rows written in the caller's
transaction, delivered by the dispatcher over real HTTP to a local recording
server and a fake Telegram Bot API, with retries, timeouts, leases and two
dispatchers racing."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.conftest import test_settings as make_settings
from tests.support.callback_server import CallbackServer, FakeTelegramApi
from webapp import db
from webapp.notify.dispatcher import Dispatcher, running_dispatcher
from webapp.notify.outbox import (
    TASK_COLUMNS,
    enqueue_subtask_event,
    enqueue_task_event,
    purge_finished,
)
from webapp.notify.senders import CallbackSender, RecordingSender
from webapp.settings import Settings

TOKEN = "123456789:AAF-secret_Token"


@pytest.fixture
async def outbox(client: httpx.AsyncClient) -> AsyncIterator[None]:
    """Empty task and outbox tables (the `client` fixture built the schema)."""
    await db.fetch("TRUNCATE notification_outbox, task RESTART IDENTITY CASCADE")
    yield


@pytest.fixture
async def server() -> AsyncIterator[CallbackServer]:
    async with CallbackServer() as running:
        yield running


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as running:
        yield running


@pytest.fixture
async def senders() -> AsyncIterator[Callable[[Settings], CallbackSender]]:
    """Real senders built from settings, closed after the test."""
    made: list[CallbackSender] = []

    def make(settings: Settings) -> CallbackSender:
        sender = CallbackSender(settings)
        made.append(sender)
        return sender

    yield make
    for sender in made:
        await sender.aclose()


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"notify_max_attempts": 3, "notify_backoff_seconds": 0.05}
    values.update(overrides)
    return make_settings(**values)


def http(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "http", "url": url, **extra}


async def create_task(
    policy: dict[str, Any] | None, *, task_type: int = 4, status: int = 1, parts: int = 4
) -> dict[str, Any]:
    row = await db.fetchrow(
        "INSERT INTO task (task_type, task_status, content, notification_policy, "
        "count_task_parts_all) "
        "VALUES ($1, $2, '{}', coalesce($3::text::jsonb, "
        """'{"enable": 1, "task_callbacks": [], "subtask_callbacks": []}'), $4) """
        f"RETURNING {TASK_COLUMNS}",
        task_type,
        status,
        json.dumps(policy) if policy is not None else None,
        parts,
    )
    assert row is not None
    return dict(row)


def set_status(task: dict[str, Any], status: int, parts_done: int | None = None) -> None:
    task["task_status"] = status
    if parts_done is not None:
        task["count_task_parts_done"] = parts_done


async def in_transaction(action: Callable[[Any], Awaitable[int]], *, rollback: bool = False) -> int:
    """Run `action(conn)` in a transaction, as the task engine does with a status change."""

    class Rollback(Exception):
        pass

    count = 0
    async with db.connection() as conn:
        try:
            async with conn.transaction():
                count = await action(conn)
                if rollback:
                    raise Rollback
        except Rollback:
            pass
    return count


async def outbox_rows() -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT notification_id, task_id, subtask_id, callback::text AS callback, "
        "payload::text AS payload, attempts, last_error, failed, delivered_time, "
        "extract(epoch FROM next_attempt_time - now())::float8 AS due_in "
        "FROM notification_outbox ORDER BY notification_id"
    )
    result = []
    for row in rows:
        item = dict(row)
        item["callback"] = json.loads(item["callback"])
        item["payload"] = json.loads(item["payload"])
        result.append(item)
    return result


async def make_everything_due() -> None:
    """Let time pass for the outbox: every lease and retry delay ends now."""
    await db.fetch("UPDATE notification_outbox SET next_attempt_time = now()")


# -- writing -----------------------------------------------------------------


async def test_enqueue_writes_one_row_per_enabled_callback(outbox: None) -> None:
    policy = {
        "task_callbacks": [
            http("http://hooks.example.com/a"),
            http("http://hooks.example.com/b", enable=0),
            {"type": "telegram", "token": TOKEN, "chat_id": 42},
        ],
        "subtask_callbacks": [http("http://hooks.example.com/s")],
    }
    task = await create_task(policy, status=5)

    written = await in_transaction(
        lambda conn: enqueue_task_event(conn, task, result_url="/4/tasks/1/result")
    )
    assert written == 2
    set_status(task, 1, parts_done=2)
    assert await in_transaction(lambda conn: enqueue_subtask_event(conn, task, 7, 5)) == 1

    rows = await outbox_rows()
    assert [(row["task_id"], row["subtask_id"]) for row in rows] == [
        (task["task_id"], None),
        (task["task_id"], None),
        (task["task_id"], 7),
    ]
    assert [row["callback"].get("url") for row in rows] == [
        "http://hooks.example.com/a",
        None,
        "http://hooks.example.com/s",
    ]
    assert rows[1]["callback"]["token"] == TOKEN  # the dispatcher needs the real one
    assert rows[0]["callback"]["params"]["timeout"] == 60  # stored normalised
    assert rows[0]["payload"] == {
        "task_id": task["task_id"],
        "task_status": 5,
        "task_type": 4,
        "result_url": "/4/tasks/1/result",
    }
    assert rows[2]["payload"] == {
        "task_id": task["task_id"],
        "subtask_id": 7,
        "subtask_status": 5,
        "count_task_parts_done": 2,
        "count_task_parts_all": 4,
    }
    assert all(row["attempts"] == 0 and row["due_in"] <= 0 for row in rows)


async def test_enqueue_writes_nothing_when_disabled_empty_or_rolled_back(outbox: None) -> None:
    disabled = await create_task({"enable": 0, "task_callbacks": [http("http://h/a")]})
    default = await create_task(None)
    error_only = await create_task({"task_callbacks": [http("http://h/a")]}, status=3)

    assert await in_transaction(lambda conn: enqueue_task_event(conn, disabled)) == 0
    assert await in_transaction(lambda conn: enqueue_subtask_event(conn, disabled, 1, 1)) == 0
    assert await in_transaction(lambda conn: enqueue_task_event(conn, default)) == 0
    # A status change that is rolled back notifies nobody.
    rolled_back = await in_transaction(
        lambda conn: enqueue_task_event(conn, error_only, error="boom"), rollback=True
    )
    assert rolled_back == 1
    assert await outbox_rows() == []

    await in_transaction(lambda conn: enqueue_task_event(conn, error_only, error="boom"))
    (row,) = await outbox_rows()
    assert row["payload"] == {
        "task_id": error_only["task_id"],
        "task_status": 3,
        "task_type": 4,
        "error": "boom",
    }


async def test_enqueue_accepts_the_policy_as_stored_text(outbox: None) -> None:
    task = await create_task({"task_callbacks": [http("http://h/a")]})
    record = await db.fetchrow(
        f"SELECT {TASK_COLUMNS} FROM task WHERE task_id = $1", task["task_id"]
    )
    assert record is not None and isinstance(record["notification_policy"], str)
    assert await in_transaction(lambda conn: enqueue_task_event(conn, record)) == 1


# -- delivering --------------------------------------------------------------


async def test_http_delivery_sends_json_with_basic_auth_and_headers(
    outbox: None, server: CallbackServer, senders: Callable[[Settings], CallbackSender]
) -> None:
    config = settings()
    task = await create_task(
        {
            "task_callbacks": [
                http(
                    f"{server.url}/hooks/task?source=luna",
                    authorization={"type": "basic", "login": "hook", "password": "s3cr:et"},
                    params={
                        "timeout": 5,
                        "content_type": "application/json; charset=utf-8",
                        "headers": {"X-Trace": "abc", "X-Api-Key": "k-1", "Host": "evil"},
                    },
                )
            ]
        },
        status=5,
    )
    await in_transaction(lambda conn: enqueue_task_event(conn, task, result_url="/4/r"))

    handled = await Dispatcher(senders(config), config).run_once()

    assert handled == 1
    (request,) = server.requests
    assert request.method == "POST"
    assert request.path == "/hooks/task?source=luna"
    assert request.json() == {
        "task_id": task["task_id"],
        "task_status": 5,
        "task_type": 4,
        "result_url": "/4/r",
    }
    credentials = base64.b64encode(b"hook:s3cr:et").decode()
    assert request.headers["authorization"] == f"Basic {credentials}"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["x-trace"] == "abc"
    assert request.headers["x-api-key"] == "k-1"
    assert request.headers["host"] == f"127.0.0.1:{server.port}"  # not overridable
    (row,) = await outbox_rows()
    assert row["delivered_time"] is not None
    assert row["attempts"] == 1 and not row["failed"] and row["last_error"] is None
    # Delivered rows are never sent again.
    await make_everything_due()
    assert await Dispatcher(senders(config), config).run_once() == 0
    assert len(server.requests) == 1


async def test_telegram_delivery_posts_a_message_to_the_bot_api(
    outbox: None, telegram: FakeTelegramApi, senders: Callable[[Settings], CallbackSender]
) -> None:
    config = settings(telegram_api_url=telegram.url + "/")
    callback = {"type": "telegram", "token": TOKEN, "chat_id": -1001234567890}
    task = await create_task({"task_callbacks": [callback], "subtask_callbacks": [callback]})
    await in_transaction(lambda conn: enqueue_subtask_event(conn, task, 31, 1))
    set_status(task, 5, parts_done=4)
    await in_transaction(lambda conn: enqueue_task_event(conn, task))

    assert await Dispatcher(senders(config), config).run_once() == 2

    assert [request.path for request in telegram.requests] == [
        f"/bot{TOKEN}/sendMessage",
        f"/bot{TOKEN}/sendMessage",
    ]
    assert telegram.messages == [
        (
            TOKEN,
            {
                "chat_id": -1001234567890,
                "text": f"luna-admin: task {task['task_id']}, subtask 31 is in progress "
                "(0 of 4 parts done)",
            },
        ),
        (
            TOKEN,
            {"chat_id": -1001234567890, "text": f"luna-admin: task {task['task_id']} (gc) is done"},
        ),
    ]
    assert all(row["delivered_time"] is not None for row in await outbox_rows())


async def test_a_telegram_refusal_is_a_failure_and_the_token_stays_secret(
    outbox: None,
    telegram: FakeTelegramApi,
    senders: Callable[[Settings], CallbackSender],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = settings(telegram_api_url=telegram.url, notify_max_attempts=1)
    telegram.rejected_tokens.add(TOKEN)
    task = await create_task(
        {"task_callbacks": [{"type": "telegram", "token": TOKEN, "chat_id": 1}]}
    )
    await in_transaction(lambda conn: enqueue_task_event(conn, task))

    with caplog.at_level("INFO", logger="webapp.notify"):
        assert await Dispatcher(senders(config), config).run_once() == 1

    (row,) = await outbox_rows()
    assert row["failed"] and row["delivered_time"] is None
    assert row["last_error"] == "Telegram answered HTTP 401: Unauthorized"
    assert "given up after 1 attempts" in caplog.text
    assert TOKEN not in caplog.text and TOKEN.split(":")[1] not in caplog.text


async def test_a_failing_endpoint_is_retried_with_growing_delays_then_given_up(
    outbox: None,
    server: CallbackServer,
    senders: Callable[[Settings], CallbackSender],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = settings(notify_max_attempts=4, notify_backoff_seconds=0.1)
    server.fail_next(100)
    task = await create_task({"task_callbacks": [http(f"{server.url}/hook")]}, status=5)
    await in_transaction(lambda conn: enqueue_task_event(conn, task))
    dispatcher = Dispatcher(senders(config), config)

    stop = asyncio.Event()
    with caplog.at_level("INFO", logger="webapp.notify"):
        running = asyncio.create_task(dispatcher.run_forever(stop, interval=0.02))
        try:
            await server.wait_for(4, within=10)
            await asyncio.sleep(0.3)  # a fifth attempt would come within 0.8 s
        finally:
            stop.set()
            await running

    assert len(server.requests) == 4
    times = [request.time for request in server.requests]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # 0.1, 0.2, 0.4 s: each at least its delay, and each longer than the one before.
    for gap, delay in zip(gaps, [0.1, 0.2, 0.4], strict=True):
        assert gap >= delay - 0.02, gaps
    assert gaps[0] < gaps[1] < gaps[2], gaps
    (row,) = await outbox_rows()
    assert row["failed"] and row["attempts"] == 4 and row["delivered_time"] is None
    assert row["last_error"].startswith("answered HTTP 500")
    assert "given up after 4 attempts" in caplog.text
    assert caplog.text.count("next attempt in") == 3
    # The task is not touched by the failure.
    status = await db.fetchrow("SELECT task_status FROM task WHERE task_id = $1", task["task_id"])
    assert status is not None and status["task_status"] == 5
    # A given-up row is never sent again.
    await make_everything_due()
    assert await dispatcher.run_once() == 0


async def test_a_stream_stays_in_order_across_retries_and_other_streams_go_on(
    outbox: None,
    server: CallbackServer,
    telegram: FakeTelegramApi,
    senders: Callable[[Settings], CallbackSender],
) -> None:
    config = settings(telegram_api_url=telegram.url, notify_max_attempts=5)
    server.fail_next(2)
    telegram_callback = {"type": "telegram", "token": TOKEN, "chat_id": 7}
    task = await create_task(
        {
            "task_callbacks": [http(f"{server.url}/task"), telegram_callback],
            "subtask_callbacks": [http(f"{server.url}/task")],
        },
        status=1,
    )
    await in_transaction(lambda conn: enqueue_task_event(conn, task))
    set_status(task, 1, parts_done=1)
    await in_transaction(lambda conn: enqueue_subtask_event(conn, task, 1, 5))
    set_status(task, 5)
    await in_transaction(lambda conn: enqueue_task_event(conn, task))
    dispatcher = Dispatcher(senders(config), config)

    # First round: the http head fails; the ones behind it wait, Telegram does not.
    assert await dispatcher.run_once() == 3
    assert [r.json().get("task_status") for r in server.requests] == [1]
    assert len(telegram.messages) == 2
    # Due again but in backoff... then through, in order.
    for _ in range(3):
        await make_everything_due()
        await dispatcher.run_once()
    received = [(r.status, r.json()) for r in server.requests]
    assert [status for status, _ in received] == [500, 500, 200, 200, 200]
    assert [body.get("task_status", body.get("subtask_status")) for _, body in received] == [
        1,
        1,
        1,
        5,
        5,
    ]
    assert [("subtask_id" in body) for _, body in received] == [False, False, False, True, False]
    rows = await outbox_rows()
    assert all(row["delivered_time"] is not None for row in rows)
    assert [row["attempts"] for row in rows] == [3, 1, 1, 1, 1]
    assert rows[0]["last_error"].startswith("answered HTTP 500")  # kept for the record


async def test_a_timeout_is_a_failure_not_a_hang(
    outbox: None, server: CallbackServer, senders: Callable[[Settings], CallbackSender]
) -> None:
    config = settings()
    server.hang_next(1)
    task = await create_task({"task_callbacks": [http(server.url, params={"timeout": 1})]})
    await in_transaction(lambda conn: enqueue_task_event(conn, task))
    dispatcher = Dispatcher(senders(config), config)

    started = time.monotonic()
    assert await dispatcher.run_once() == 1
    assert time.monotonic() - started < 3

    (row,) = await outbox_rows()
    assert row["last_error"] == "no answer within 1 s"
    assert row["attempts"] == 1 and not row["failed"] and row["delivered_time"] is None
    assert 0 < row["due_in"] <= 0.06  # the first backoff delay
    await asyncio.sleep(0.06)
    assert await dispatcher.run_once() == 1
    (row,) = await outbox_rows()
    assert row["delivered_time"] is not None and row["attempts"] == 2
    assert [request.status for request in server.requests] == [None, 200]


async def test_a_crashed_dispatchers_rows_come_back_after_the_lease(
    outbox: None, server: CallbackServer, senders: Callable[[Settings], CallbackSender]
) -> None:
    config = settings()
    task = await create_task({"task_callbacks": [http(server.url, params={"timeout": 1})]})
    await in_transaction(lambda conn: enqueue_task_event(conn, task))
    crashed = Dispatcher(senders(config), config, lease_margin=0.5)
    survivor = Dispatcher(senders(config), config, lease_margin=0.5)

    (claimed,) = await crashed.claim(10)  # ... and then it dies before sending
    (row,) = await outbox_rows()
    assert row["attempts"] == 1
    assert 1.3 < row["due_in"] <= 1.5  # the timeout (1 s) plus the margin (0.5 s)
    assert await survivor.run_once() == 0  # leased: nobody else takes it

    await asyncio.sleep(row["due_in"] + 0.05)
    assert await survivor.run_once() == 1
    assert len(server.requests) == 1
    (row,) = await outbox_rows()
    assert row["delivered_time"] is not None and row["attempts"] == 2

    # The late dispatcher cannot overwrite the newer outcome.
    await crashed._record_failure(claimed, "too late")
    (row,) = await outbox_rows()
    assert row["delivered_time"] is not None and row["last_error"] is None


async def test_a_last_attempt_cut_short_is_given_up(
    outbox: None, caplog: pytest.LogCaptureFixture
) -> None:
    config = settings(notify_max_attempts=3)
    task = await create_task({"task_callbacks": [http("http://127.0.0.1:9/x")]})
    await in_transaction(lambda conn: enqueue_task_event(conn, task))
    await db.fetch("UPDATE notification_outbox SET attempts = 3, last_error = 'HTTP 500'")
    sender = RecordingSender()

    with caplog.at_level("WARNING", logger="webapp.notify"):
        assert await Dispatcher(sender, config).run_once() == 0

    assert sender.attempts == []
    (row,) = await outbox_rows()
    assert row["failed"] and row["delivered_time"] is None
    assert row["last_error"] == "the last attempt was interrupted; before it: HTTP 500"
    assert "given up after 3 attempts" in caplog.text


async def test_two_dispatchers_deliver_each_notification_exactly_once_in_order(
    outbox: None, server: CallbackServer, senders: Callable[[Settings], CallbackSender]
) -> None:
    config = settings()
    server.delay = 0.003  # so that the two dispatchers overlap
    policy = {
        "task_callbacks": [http(f"{server.url}/a")],
        "subtask_callbacks": [http(f"{server.url}/a"), http(f"{server.url}/b")],
    }
    for _ in range(8):
        task = await create_task(policy, status=1, parts=5)
        await in_transaction(lambda conn, task=task: enqueue_task_event(conn, task))
        for subtask_id in range(1, 6):
            set_status(task, 1, parts_done=subtask_id)
            await in_transaction(
                lambda conn, task=task, sid=subtask_id: enqueue_subtask_event(conn, task, sid, 5)
            )
        set_status(task, 5)
        await in_transaction(lambda conn, task=task: enqueue_task_event(conn, task))
    rows = await outbox_rows()
    assert len(rows) == 8 * (2 + 5 * 2)

    first = Dispatcher(senders(config), config)
    second = Dispatcher(senders(config), config)
    handled: dict[str, int] = {"first": 0, "second": 0}

    async def drain(name: str, dispatcher: Dispatcher) -> None:
        idle = 0
        while idle < 3:
            count = await dispatcher.run_once(limit=3)
            handled[name] += count
            idle = idle + 1 if count == 0 else 0
            await asyncio.sleep(0)

    await asyncio.wait_for(asyncio.gather(drain("first", first), drain("second", second)), 30)

    assert handled["first"] + handled["second"] == len(rows)
    assert handled["first"] > 0 and handled["second"] > 0
    assert all(row["delivered_time"] is not None for row in await outbox_rows())
    assert all(row["attempts"] == 1 for row in await outbox_rows())
    received = [(request.path, request.body) for request in server.requests]
    assert len(received) == len(rows) == len(set(received))  # each exactly once
    # Per task and destination, in the order they were written.
    expected: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for row in rows:
        path = row["callback"]["url"].removeprefix(server.url)
        expected[(row["task_id"], path)].append(row["payload"])
    arrived: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for request in server.requests:
        body = request.json()
        arrived[(body["task_id"], request.path)].append(body)
    assert arrived == expected


async def test_run_forever_stops_when_told(outbox: None) -> None:
    config = settings()
    sender = RecordingSender()
    task = await create_task({"task_callbacks": [http("http://127.0.0.1:9/x")]})
    await in_transaction(lambda conn: enqueue_task_event(conn, task))
    stop = asyncio.Event()
    running = asyncio.create_task(Dispatcher(sender, config).run_forever(stop, interval=0.02))
    for _ in range(100):
        if sender.sent:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(running, 2)
    assert [payload["task_id"] for _, payload in sender.sent] == [task["task_id"]]


async def test_running_dispatcher_delivers_in_the_background_until_the_block_ends(
    outbox: None, server: CallbackServer
) -> None:
    config = settings()
    task = await create_task({"task_callbacks": [http(f"{server.url}/bg")]})
    async with running_dispatcher(config, interval=0.02):
        await in_transaction(lambda conn: enqueue_task_event(conn, task))
        await server.wait_for(1, within=5)
    later = await create_task({"task_callbacks": [http(f"{server.url}/bg")]})
    await in_transaction(lambda conn: enqueue_task_event(conn, later))
    await asyncio.sleep(0.1)
    assert [request.json()["task_id"] for request in server.requests] == [task["task_id"]]


async def test_purge_finished_removes_only_old_delivered_and_given_up_rows(outbox: None) -> None:
    task = await create_task({"task_callbacks": [http("http://h/a")] * 4})
    await in_transaction(lambda conn: enqueue_task_event(conn, task))
    ids = [row["notification_id"] for row in await outbox_rows()]
    await db.fetch(
        "UPDATE notification_outbox SET create_time = now() - interval '8 days', "
        "delivered_time = CASE WHEN notification_id = $1 THEN now() END, "
        "failed = notification_id = $2",
        ids[0],
        ids[1],
    )
    await db.fetch(
        "UPDATE notification_outbox SET delivered_time = now() WHERE notification_id = $1", ids[3]
    )
    await db.fetch(
        "UPDATE notification_outbox SET create_time = now() WHERE notification_id = $1", ids[3]
    )

    assert await in_transaction(purge_finished) == 2

    # Left: the old pending one, and the recent delivered one.
    assert [row["notification_id"] for row in await outbox_rows()] == [ids[2], ids[3]]
