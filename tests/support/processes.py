"""Real `luna-admin` processes for the tests: servers on free ports and workers.

Each process writes its log (stdout and stderr) to a file of its own, read back
by the test (`log_text`) and shown on failure. A `Processes` block stops every
process it started on the way out, whatever happened, and on an exception
prints the end of every log to stderr, which pytest shows with the failure:

    async with Processes(tmp_path) as processes:
        server = processes.serve("a", database_url, SCHEDULER_ENABLED="1")
        await server.wait_until_up()
        ...
        server.kill()  # SIGKILL, as a crash

`start_server` and `start_worker` start one process outside such a block; the
caller then stops it (`stop`, `kill`) in a `finally`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

SERVER_START_TIMEOUT = 60.0
"""Seconds a server may take to migrate, boot and answer /version."""

STOP_TIMEOUT = 10.0
"""Seconds a process may take to stop after SIGTERM before it gets SIGKILL."""

_ports_given: set[int] = set()


def free_port() -> int:
    """A free TCP port of 127.0.0.1, never one this module gave out before."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def luna_admin_command() -> list[str]:
    """`luna-admin` as the running interpreter starts it (the venv's)."""
    return [sys.executable, "-m", "webapp.cli"]


def process_env(database_url: str, **env: str) -> dict[str, str]:
    """The environment of a process: this one's, a database, quiet logs, `env` on top."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "process-test",
        "LOG_LEVEL": "warning",
        # The recording servers (tests/support/callback_server.py) listen on loopback.
        "CALLBACK_ALLOWED_NETWORKS": "127.0.0.1/32",
        **env,
    }


def with_application_name(database_url: str, name: str) -> str:
    """`database_url` with PostgreSQL's application_name set (asyncpg passes unknown
    query parameters on as server settings): pg_stat_activity then tells which
    process a backend serves."""
    return f"{database_url}{'&' if '?' in database_url else '?'}application_name={name}"


class LunaProcess:
    """One `luna-admin` subprocess, logging to `log_path` (or nowhere when None)."""

    def __init__(
        self, name: str, args: list[str], env: dict[str, str], log_path: Path | None
    ) -> None:
        self.name = name
        self.args = args
        self.log_path = log_path
        if log_path is None:
            self.process = subprocess.Popen(
                [*luna_admin_command(), *args],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        else:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with log_path.open("wb") as log_file:
                self.process = subprocess.Popen(
                    [*luna_admin_command(), *args],
                    env=env,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 200) -> str:
        if self.log_path is None:
            return "(no log kept)"
        return "\n".join(self.log_text().splitlines()[-lines:])

    def describe(self) -> str:
        state = "running" if self.running else f"exited with {self.process.returncode}"
        return f"luna-admin {' '.join(self.args)} ({self.name}, pid {self.pid}, {state})"

    def kill(self) -> int:
        """SIGKILL, as a crash; waits until it is gone (a stopped process dies too)."""
        if self.running:
            self.process.send_signal(signal.SIGKILL)
        return self.process.wait()

    def freeze(self) -> None:
        """SIGSTOP: the process does nothing more, but its connections stay open."""
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def terminate(self) -> None:
        """SIGTERM without waiting (see `stop`); a frozen process is thawed to hear it."""
        if self.running:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM and wait; SIGKILL if it has not stopped within `timeout` seconds."""
        self.terminate()
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return self.kill()


class Server(LunaProcess):
    """`luna-admin serve` on 127.0.0.1 at a free port."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**env, "HOST": "127.0.0.1", "PORT": str(self.port)}
        super().__init__(
            name, ["serve", "--host", "127.0.0.1", "--port", str(self.port)], env, log_path
        )

    async def wait_until_up(self, within: float = SERVER_START_TIMEOUT) -> None:
        """Until GET /version answers 200; RuntimeError with the log if it exits or is late."""
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(base_url=self.url, trust_env=False, timeout=2.0) as http:
            while True:
                if not self.running:
                    raise RuntimeError(f"{self.describe()} at start:\n{self.log_tail()}")
                try:
                    if (await http.get("/version")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self.describe()} did not answer in {within:.0f} s:\n{self.log_tail()}"
                    )
                await asyncio.sleep(0.05)  # polling a starting process


def start_server(name: str, database_url: str, log_dir: Path | None, **env: str) -> Server:
    """`luna-admin serve` (log `<log_dir>/<name>.log`); `env` adds to `process_env`."""
    log_path = log_dir / f"{name}.log" if log_dir is not None else None
    return Server(name, process_env(database_url, **env), log_path)


def start_worker(
    name: str,
    database_url: str,
    log_dir: Path | None = None,
    args: tuple[str, ...] = ("--no-dispatch",),
    **env: str,
) -> LunaProcess:
    """`luna-admin worker <args>` (log `<log_dir>/<name>.log`); `env` adds to `process_env`."""
    log_path = log_dir / f"{name}.log" if log_dir is not None else None
    return LunaProcess(name, ["worker", *args], process_env(database_url, **env), log_path)


class Processes:
    """Starts processes with their logs in `log_dir`; stops them all on exit."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[LunaProcess] = []

    def serve(self, name: str, database_url: str, **env: str) -> Server:
        server = start_server(name, database_url, self.log_dir, **env)
        self.started.append(server)
        return server

    def worker(
        self,
        name: str,
        database_url: str,
        args: tuple[str, ...] = ("--no-dispatch",),
        **env: str,
    ) -> LunaProcess:
        worker = start_worker(name, database_url, self.log_dir, args, **env)
        self.started.append(worker)
        return worker

    def logs(self) -> str:
        return "\n".join(
            f"----- {process.describe()}, {process.log_path}\n{process.log_tail()}"
            for process in self.started
        )

    def stop_all(self) -> None:
        """SIGTERM to every process at once, then wait for each (SIGKILL if late)."""
        for process in self.started:
            process.terminate()
        for process in self.started:
            process.stop()

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._finish(error)

    def _finish(self, error: BaseException | None) -> None:
        try:
            if error is not None:
                print(f"logs of the processes:\n{self.logs()}", file=sys.stderr)
        finally:
            self.stop_all()

    async def __aenter__(self) -> Processes:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Blocking on purpose: even a cancelled test must not leave them running.
        self._finish(error)
