"""A local PostgreSQL cluster under var/pg, for `make run` and `make test`.

Used only when DATABASE_URL is not set. The cluster listens on a Unix socket
inside var/pg/run (no TCP port to clash with), trusts local connections, and
survives between runs; `python -m webapp.devdb stop` stops it.

    python -m webapp.devdb ensure [DBNAME]   # init + start if needed, print the URL
    python -m webapp.devdb stop
    python -m webapp.devdb test-url          # the database the tests may wipe

The tests drop and rebuild the schema of their database, so they never use
DATABASE_URL itself: `test-url` prints TEST_DATABASE_URL when set, otherwise
the database `<name>_test` beside DATABASE_URL's (created when missing), and
without DATABASE_URL the local cluster's `luna_admin_test`.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

from webapp.settings import ROOT

DEFAULT_DB = "luna_admin"


class DevDbError(RuntimeError):
    pass


def pg_bin_dir() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    for candidate in reversed(candidates):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise DevDbError("PostgreSQL server binaries not found: install Debian's postgresql package")


def _run_as_owner(args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a server command; as root, run it as `postgres` (initdb refuses root)."""
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(args, check=check, capture_output=True, text=True)


class Cluster:
    def __init__(self, base: Path | None = None) -> None:
        self.base = (base or ROOT / "var" / "pg").resolve()
        self.data = self.base / "data"
        self.run_dir = self.base / "run"
        self.log = self.base / "server.log"
        self.bin = pg_bin_dir()

    def url(self, dbname: str = DEFAULT_DB) -> str:
        return f"postgresql://postgres@/{dbname}?host={self.run_dir}"

    def _prepare_dirs(self) -> None:
        for path in (self.base, self.data, self.run_dir):
            path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            for path in (self.base, self.data, self.run_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
            self._check_reachable(self.base)
        self.data.chmod(0o700)

    @staticmethod
    def _check_reachable(path: Path) -> None:
        # The postgres user must be able to traverse every parent directory.
        for parent in path.parents:
            if not os.stat(parent).st_mode & 0o001:
                raise DevDbError(
                    f"{parent} is not searchable by the postgres user; "
                    "move the checkout, `chmod o+x` that directory, or set DATABASE_URL"
                )

    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def running(self) -> bool:
        result = _run_as_owner(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "status"], check=False
        )
        return result.returncode == 0

    def ensure_running(self) -> None:
        self._prepare_dirs()
        if not self.initialised():
            _run_as_owner(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            )
        if self.running():
            return
        options = " ".join(
            [
                "-c listen_addresses=''",
                f"-c unix_socket_directories='{self.run_dir}'",
                # A development cluster: a crash of the machine may lose the last
                # commits, never corrupt the data.
                "-c synchronous_commit=off",
                "-c max_connections=200",
                "-c shared_buffers=256MB",
            ]
        )
        result = _run_as_owner(
            [
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "start",
            ],
            check=False,
        )
        if result.returncode != 0:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise DevDbError(f"could not start PostgreSQL:\n{result.stderr}\n{tail}")

    def ensure_database(self, dbname: str) -> None:
        psql = [str(self.bin.parent / "bin" / "psql"), "-h", str(self.run_dir), "-U", "postgres"]
        if not Path(psql[0]).exists():
            psql[0] = "psql"
        exists = subprocess.run(
            [
                *psql,
                "-d",
                "postgres",
                "-tAc",
                f"SELECT 1 FROM pg_database WHERE datname = '{dbname}'",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if exists != "1":
            subprocess.run(
                [*psql, "-d", "postgres", "-qc", f'CREATE DATABASE "{dbname}"'],
                check=True,
                capture_output=True,
                text=True,
            )

    def stop(self) -> None:
        if self.initialised() and self.running():
            _run_as_owner(
                [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]
            )


def sibling_test_url(url: str) -> str:
    """`postgresql://.../luna?x=y` -> `postgresql://.../luna_test?x=y`, created if missing."""
    import asyncio
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "postgres"
    test_name = name if name.endswith("_test") else f"{name}_test"
    test_url = urlunsplit(parts._replace(path=f"/{test_name}"))
    maintenance = urlunsplit(parts._replace(path="/postgres"))

    async def create() -> None:
        import asyncpg

        conn = await asyncpg.connect(maintenance)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", test_name):
                await conn.execute(f'CREATE DATABASE "{test_name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return test_url


def test_url(cluster: Cluster) -> str:
    if os.environ.get("TEST_DATABASE_URL"):
        return os.environ["TEST_DATABASE_URL"]
    if os.environ.get("DATABASE_URL"):
        return sibling_test_url(os.environ["DATABASE_URL"])
    cluster.ensure_running()
    cluster.ensure_database("luna_admin_test")
    return cluster.url("luna_admin_test")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "ensure"
    cluster = Cluster(
        Path(os.environ["LUNA_ADMIN_PG_DIR"]) if os.environ.get("LUNA_ADMIN_PG_DIR") else None
    )
    try:
        if command == "ensure":
            dbname = args[1] if len(args) > 1 else DEFAULT_DB
            cluster.ensure_running()
            cluster.ensure_database(dbname)
            print(cluster.url(dbname))
        elif command == "test-url":
            print(test_url(cluster))
        elif command == "stop":
            cluster.stop()
        elif command == "url":
            print(cluster.url(args[1] if len(args) > 1 else DEFAULT_DB))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (DevDbError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        print(f"devdb: {exc}\n{detail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
