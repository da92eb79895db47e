"""Delivering the outbox: claim due rows with a lease, send, record the outcome.

Any number of dispatchers (one per serving or worker process) can run against
the same table:

- A claim is one short statement: due rows are locked with `FOR UPDATE SKIP
  LOCKED` (two dispatchers never take the same row), their `attempts` is
  counted up and `next_attempt_time` pushed past the callback's timeout plus a
  margin. That push is the lease: while it runs nobody else takes the row, and
  if its dispatcher dies the row is due again when it ends. Nothing is held
  open while the endpoint is called.
- The outcome is written under a compare-and-set on `attempts`: a dispatcher
  whose lease ran out and was taken over cannot overwrite the newer attempt.
- Delivery is at least once: a dispatcher that dies after the endpoint
  answered but before it wrote that down sends the notification again.

Order. Notifications of one task to one destination (a stream: the same URL,
or the same bot and chat) are delivered one at a time, oldest first: a row is
claimed only when no older row of its stream is still pending, and that
includes an older row waiting for its retry. So a receiver never sees "done"
before "in progress", even across retries and dispatchers. Streams are
independent: an http endpoint that is down does not hold back the Telegram
messages of the same task. After a row is delivered its dispatcher takes the
next row of the stream in the same transaction, so a busy stream does not
wait for the next poll.

Retries. After the n-th failed attempt the row waits notify_backoff_seconds *
2**(n-1) (at most ten minutes); after notify_max_attempts it is marked failed,
with its last error, and logged. A failure never touches the task.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from webapp import db
from webapp.notify.senders import CallbackSender, DeliveryError, Sender, callback_timeout
from webapp.redaction import scrub, secret_values
from webapp.settings import Settings

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 600.0
DEFAULT_LEASE_MARGIN = 30.0
"""Seconds a lease outlasts the callback's timeout (time to write the outcome down)."""
SEND_GRACE_SECONDS = 5.0
"""A sender that ignores its own timeout is cut off this much later."""
MAX_ERROR_LENGTH = 1000
SHUTDOWN_GRACE_SECONDS = 5.0
"""On stop, deliveries in flight get this long; cut off, their rows come back after the lease."""


def retry_delay(attempt: int, base: float) -> float:
    """Seconds to wait after the `attempt`-th failed attempt (1-based): doubling, capped."""
    exponent = min(max(attempt - 1, 0), 30)  # 2**30 * any sane base is past the cap already
    return min(base * 2**exponent, MAX_BACKOFF_SECONDS)


def _stream(alias: str) -> str:
    # The destination of a row: where the receiver sees the notifications in order.
    return (
        f"concat_ws(chr(31), {alias}.callback->>'type', {alias}.callback->>'url', "
        f"{alias}.callback->>'token', {alias}.callback->>'chat_id')"
    )


def _lease(alias: str, margin_param: str) -> str:
    # The callback's timeout (validated, but a stored row is read defensively:
    # one malformed row must not break every claim) plus the margin.
    timeout = f"{alias}.callback->'params'->'timeout'"
    return (
        f"make_interval(secs => (CASE WHEN jsonb_typeof({timeout}) = 'number' "
        f"THEN ({timeout})::text::float8 ELSE 60 END) + {margin_param})"
    )


_PENDING = "{a}.delivered_time IS NULL AND NOT {a}.failed"

_RETURNING = (
    "RETURNING n.notification_id, n.task_id, n.subtask_id, n.callback::text AS callback, "
    f"n.payload::text AS payload, n.attempts, {_stream('n')} AS stream_key"
)

# $1 limit, $2 max attempts, $3 lease margin (s).
CLAIM_SQL = f"""
WITH due AS (
    SELECT o.notification_id
    FROM notification_outbox o
    WHERE {_PENDING.format(a="o")}
      AND o.next_attempt_time <= now()
      AND o.attempts < $2
      AND NOT EXISTS (
          SELECT 1 FROM notification_outbox e
          WHERE {_PENDING.format(a="e")}
            AND e.notification_id < o.notification_id
            AND e.task_id = o.task_id
            AND {_stream("e")} = {_stream("o")}
      )
    ORDER BY o.notification_id
    LIMIT $1
    FOR UPDATE OF o SKIP LOCKED
)
UPDATE notification_outbox n
SET attempts = n.attempts + 1, next_attempt_time = now() + {_lease("n", "$3")}
FROM due
WHERE n.notification_id = due.notification_id
{_RETURNING}
"""

# The next row of a stream whose previous row was just delivered (same transaction).
# $1 task_id, $2 stream key, $3 max attempts, $4 lease margin (s).
CLAIM_NEXT_SQL = f"""
WITH head AS (
    SELECT o.notification_id
    FROM notification_outbox o
    WHERE {_PENDING.format(a="o")}
      AND o.task_id = $1::bigint
      AND {_stream("o")} = $2::text
    ORDER BY o.notification_id
    LIMIT 1
    FOR UPDATE OF o
)
UPDATE notification_outbox n
SET attempts = n.attempts + 1, next_attempt_time = now() + {_lease("n", "$4")}
FROM head
WHERE n.notification_id = head.notification_id
  AND n.next_attempt_time <= now()
  AND n.attempts < $3
{_RETURNING}
"""

# Rows whose last allowed attempt was cut short (their dispatcher died): give up.
GIVE_UP_SQL = f"""
UPDATE notification_outbox n
SET failed = true,
    last_error = left('the last attempt was interrupted'
                      || coalesce('; before it: ' || n.last_error, ''), {MAX_ERROR_LENGTH})
WHERE {_PENDING.format(a="n")} AND n.next_attempt_time <= now() AND n.attempts >= $1
RETURNING n.notification_id, n.task_id, n.attempts
"""

MARK_DELIVERED_SQL = f"""
UPDATE notification_outbox n SET delivered_time = now()
WHERE n.notification_id = $1 AND n.attempts = $2 AND {_PENDING.format(a="n")}
"""

# $3 error, $4 give up, $5 delay (s).
MARK_FAILED_SQL = f"""
UPDATE notification_outbox n
SET last_error = $3, failed = $4, next_attempt_time = now() + make_interval(secs => $5)
WHERE n.notification_id = $1 AND n.attempts = $2 AND {_PENDING.format(a="n")}
"""


@dataclass(frozen=True)
class Claimed:
    """An outbox row this dispatcher holds the lease on (for this attempt)."""

    notification_id: int
    task_id: int | None
    subtask_id: int | None
    callback: dict[str, Any]
    payload: dict[str, Any]
    attempts: int
    """This attempt's number, 1-based; also the compare-and-set key when writing the outcome."""
    stream_key: str

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Claimed:
        return cls(
            notification_id=record["notification_id"],
            task_id=record["task_id"],
            subtask_id=record["subtask_id"],
            callback=json.loads(record["callback"]),
            payload=json.loads(record["payload"]),
            attempts=record["attempts"],
            stream_key=record["stream_key"],
        )


def describe(callback: Mapping[str, Any]) -> str:
    """The callback for a log line: its kind and destination, never its secrets."""
    if callback.get("type") == "telegram":
        return f"telegram chat {callback.get('chat_id')}"
    try:
        host = urlsplit(str(callback.get("url"))).hostname
    except ValueError:
        host = None
    return f"{callback.get('type')} {host or '?'}"


def _updated(status: str) -> bool:
    return status.split()[-1] != "0"


class Dispatcher:
    """Delivers due outbox rows through `sender` (see the module docstring)."""

    def __init__(
        self, sender: Sender, settings: Settings, *, lease_margin: float = DEFAULT_LEASE_MARGIN
    ) -> None:
        self.sender = sender
        self.max_attempts = settings.notify_max_attempts
        self.backoff = settings.notify_backoff_seconds
        self.lease_margin = lease_margin

    async def run_once(self, limit: int = 50) -> int:
        """One round: claim up to `limit` streams' due rows, deliver them; return rows handled.

        Streams are delivered concurrently (at most `limit` at a time), the rows
        of one stream one after another, at most `limit` of them per round.
        """
        heads = await self.claim(limit)
        if not heads:
            return 0
        results = await asyncio.gather(
            *(self._run_stream(head, limit) for head in heads), return_exceptions=True
        )
        handled = 0
        for result in results:
            if isinstance(result, Exception):
                # The row stays leased and comes back when the lease ends.
                log.error("notification delivery failed unexpectedly", exc_info=result)
            elif isinstance(result, BaseException):
                raise result
            else:
                handled += result
        return handled

    async def run_forever(self, stop: asyncio.Event, interval: float = 1.0) -> None:
        """Deliver until `stop` is set: straight on while there is work, else every `interval` s."""
        pause = interval
        while not stop.is_set():
            try:
                handled = await self.run_once()
                pause = interval
            except Exception:
                # The database is away, most likely: say so, and ask less often.
                log.exception("notification dispatcher round failed; next in %.1f s", pause)
                handled = 0
                pause = min(pause * 2, 30.0)
            if handled:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)

    async def claim(self, limit: int) -> list[Claimed]:
        """Take the lease on up to `limit` due rows, each the oldest pending one of its stream."""
        async with db.connection() as conn, conn.transaction():
            for row in await conn.fetch(GIVE_UP_SQL, self.max_attempts):
                log.warning(
                    "notification %s of task %s given up after %s attempts "
                    "(the last one was interrupted)",
                    row["notification_id"],
                    row["task_id"],
                    row["attempts"],
                )
            records = await conn.fetch(CLAIM_SQL, limit, self.max_attempts, self.lease_margin)
        return [Claimed.from_record(record) for record in records]

    async def _run_stream(self, head: Claimed, budget: int) -> int:
        handled = 0
        current: Claimed | None = head
        while current is not None:
            error = await self._deliver(current)
            handled += 1
            if error is not None:
                await self._record_failure(current, error)
                break
            current = await self._record_delivery(current, take_next=handled < budget)
        return handled

    async def _deliver(self, row: Claimed) -> str | None:
        """Send one row; the reason it failed, or None when delivered."""
        limit = callback_timeout(row.callback) + SEND_GRACE_SECONDS
        try:
            async with asyncio.timeout(limit):
                await self.sender.send(row.callback, row.payload)
        except DeliveryError as exc:
            return exc.reason or "delivery failed"
        except TimeoutError:
            return f"no answer within {limit:g} s"
        except Exception as exc:
            # A bug in a sender, not the endpoint's fault. Its message may quote a URL
            # with a token in it: the log gets it redacted, the row only its type.
            message = scrub(str(exc), secret_values(row.callback))
            log.error(
                "notification %s: the sender failed: %s: %s",
                row.notification_id,
                type(exc).__name__,
                message,
            )
            log.debug("the sender's traceback", exc_info=True)
            return f"unexpected {type(exc).__name__} in the sender (see the log)"
        return None

    async def _record_delivery(self, row: Claimed, *, take_next: bool) -> Claimed | None:
        async with db.connection() as conn, conn.transaction():
            status = await conn.execute(MARK_DELIVERED_SQL, row.notification_id, row.attempts)
            if not _updated(status):
                # Our lease ran out and another dispatcher took the row over: the
                # stream is theirs now.
                log.warning(
                    "notification %s was delivered after its lease ended (sent twice?)",
                    row.notification_id,
                )
                return None
            log.debug(
                "notification %s of task %s delivered to %s (attempt %s)",
                row.notification_id,
                row.task_id,
                describe(row.callback),
                row.attempts,
            )
            if not take_next:
                return None
            record = await conn.fetchrow(
                CLAIM_NEXT_SQL, row.task_id, row.stream_key, self.max_attempts, self.lease_margin
            )
        return Claimed.from_record(record) if record is not None else None

    async def _record_failure(self, row: Claimed, error: str) -> None:
        give_up = row.attempts >= self.max_attempts
        delay = retry_delay(row.attempts, self.backoff)
        async with db.connection() as conn:
            status = await conn.execute(
                MARK_FAILED_SQL,
                row.notification_id,
                row.attempts,
                error[:MAX_ERROR_LENGTH],
                give_up,
                delay,
            )
        if not _updated(status):
            return
        if give_up:
            log.warning(
                "notification %s of task %s to %s given up after %s attempts: %s",
                row.notification_id,
                row.task_id,
                describe(row.callback),
                row.attempts,
                error,
            )
        else:
            log.info(
                "notification %s of task %s to %s failed (attempt %s of %s): %s; "
                "next attempt in %.1f s",
                row.notification_id,
                row.task_id,
                describe(row.callback),
                row.attempts,
                self.max_attempts,
                error,
                delay,
            )


@contextlib.asynccontextmanager
async def running_dispatcher(
    settings: Settings, sender: Sender | None = None, *, interval: float = 1.0
) -> AsyncIterator[Dispatcher]:
    """A dispatcher running in the background for the duration of the block.

    For the app's lifespan and the worker process: `async with
    running_dispatcher(settings): ...`. Without a sender it builds (and closes)
    the real one from the settings.
    """
    owned: CallbackSender | None = None
    if sender is None:
        owned = sender = CallbackSender(settings)
    dispatcher = Dispatcher(sender, settings)
    stop = asyncio.Event()
    runner = asyncio.create_task(
        dispatcher.run_forever(stop, interval), name="notification-dispatcher"
    )
    try:
        yield dispatcher
    finally:
        stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(runner), SHUTDOWN_GRACE_SECONDS)
        except TimeoutError:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        if owned is not None:
            await owned.aclose()
