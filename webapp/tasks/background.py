"""The background work of a process: task workers, housekeeping (the reaper and
the result TTL), the notification dispatcher and the scheduler leader (or its
standby, see webapp/schedules/leader.py).

`luna-admin serve` runs WORKERS_IN_PROCESS workers beside the HTTP server;
`luna-admin worker` runs only this. Any number of either may share a database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from webapp.notify.senders import CallbackSender
from webapp.settings import Settings
from webapp.tasks.processes import ProcessRecord, worker_id
from webapp.tasks.wakeup import WorkSignal
from webapp.tasks.worker import Worker, housekeeping

log = logging.getLogger(__name__)


class BackgroundWork:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stop_event = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.sender: CallbackSender | None = None

    def start(self, workers: int, dispatch: bool = True) -> None:
        from webapp.notify.dispatcher import Dispatcher

        self.stop_event = asyncio.Event()
        if workers:
            # One record, one listening connection per process, whatever its workers.
            record = ProcessRecord(workers, self.settings.worker_heartbeat_seconds)
            signal = WorkSignal()
            self.tasks.append(asyncio.create_task(record.run(self.stop_event)))
            if self.settings.worker_listen:
                self.tasks.append(asyncio.create_task(signal.listen(self.stop_event)))
            for n in range(workers):
                worker = Worker(
                    self.settings, worker_id=worker_id(record.process_id, n), signal=signal
                )
                self.tasks.append(asyncio.create_task(worker.run(self.stop_event)))
        if workers or dispatch:
            self.tasks.append(asyncio.create_task(housekeeping(self.settings, self.stop_event)))
        if self.settings.scheduler_enabled:
            from webapp.schedules.leader import Leader

            leader = Leader(self.settings)
            self.tasks.append(asyncio.create_task(leader.run(self.stop_event)))
        if dispatch:
            self.sender = CallbackSender(self.settings)
            dispatcher = Dispatcher(self.sender, self.settings)
            self.tasks.append(asyncio.create_task(dispatcher.run_forever(self.stop_event)))

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking work; a subtask in hand finishes its batch (or is reaped later)."""
        self.stop_event.set()
        if not self.tasks:
            return
        _, pending = await asyncio.wait(self.tasks, timeout=grace)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks.clear()
        if self.sender is not None:
            await self.sender.aclose()
            self.sender = None

    async def run_until(self, stop: asyncio.Event) -> None:
        await stop.wait()
        await self.stop()
