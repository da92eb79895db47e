"""Waking idle workers when work arrives: PostgreSQL LISTEN/NOTIFY.

Whoever makes a subtask claimable (a new task, the reaper returning a subtask)
calls `announce` in its transaction; PostgreSQL delivers the notification when
that transaction commits. Each process holds one listening connection (not one
per worker coroutine) and wakes all its idle workers; they race for the work
with SKIP LOCKED, as before.

A notification can be lost (the listening connection drops, the process starts
after it was sent): idle workers still look every WORKER_IDLE_POLL_SECONDS, and
a (re)connected listener wakes them once, so no work is stranded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from webapp import db

log = logging.getLogger(__name__)

CHANNEL = "luna_admin_work"

KEEPALIVE_SECONDS = 30.0
"""How often the listener proves its connection alive (a silently dropped
connection would otherwise deliver nothing until the fallback poll)."""


async def announce(conn: Any) -> None:
    """Tell every listening process that work is there (sent at commit)."""
    await conn.execute(f"NOTIFY {CHANNEL}")


class WorkSignal:
    """One per process: idle workers wait on it; the listener sets it."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.listening = False

    async def wait(self, stop: asyncio.Event, seconds: float, seen: asyncio.Event) -> None:
        """Until a wake-up after `seen` was taken (see `mark`), `stop`, or `seconds`."""
        await _first_of(stop, seen, seconds=seconds)

    def mark(self) -> asyncio.Event:
        """The event a worker will wait on; taken *before* it looks for work, so a
        notification that arrives while it looks is not missed."""
        return self._event

    def wake(self, *_: Any) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def listen(self, stop: asyncio.Event, retry_seconds: float = 1.0) -> None:
        """Hold the listening connection until `stop`, reconnecting when it drops."""
        while not stop.is_set():
            conn = None
            try:
                conn = await db.engine().get_new_connection()
                dropped = asyncio.Event()
                conn.add_termination_listener(_setter(dropped))
                await conn.add_listener(CHANNEL, self.wake)
                self.listening = True
                self.wake()  # anything announced while nobody listened
                await self._hold(conn, stop, dropped)
            except Exception as exc:  # a database restart, a network cut: try again
                if not stop.is_set():
                    log.warning("work listener: %s; reconnecting", exc)
            finally:
                self.listening = False
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=2)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), retry_seconds)

    async def _hold(self, conn: Any, stop: asyncio.Event, dropped: asyncio.Event) -> None:
        while not stop.is_set() and not dropped.is_set():
            await _first_of(stop, dropped, seconds=KEEPALIVE_SECONDS)
            if not stop.is_set() and not dropped.is_set():
                await conn.fetchval("SELECT 1", timeout=10)


def _setter(event: asyncio.Event) -> Any:
    return lambda *_: event.set()


async def _first_of(*events: asyncio.Event, seconds: float) -> None:
    """Until any of `events` is set, or `seconds` have passed."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
