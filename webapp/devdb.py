"""A local PostgreSQL cluster under var/pg, for `make run` and `make test`.

Used only when DATABASE_URL is not set. The cluster listens on a Unix socket
inside var/pg/run (no TCP port to clash with), trusts local connections, and
survives between runs; `python -m webapp.devdb stop` stops it.

As root, the server runs as the `postgres` user (initdb refuses root), which
must be able to reach var/pg. A checkout it cannot reach (a clone in /root,
mode 700) gets its cluster in the postgres user's home instead, in a directory
named after the checkout's path (~postgres/luna-admin/<name>-<hash>), and
var/pg becomes a link to it: nothing to change by hand, the same place on
every run, and each checkout of the machine a cluster of its own.

    python -m webapp.devdb ensure [DBNAME]   # init + start if needed, print the URL
    python -m webapp.devdb stop
    python -m webapp.devdb destroy           # stop, then remove the cluster's files
    python -m webapp.devdb test-url          # the database the tests may wipe

The tests drop and rebuild the schema of their database, so they never use
DATABASE_URL itself: `test-url` prints TEST_DATABASE_URL when set, otherwise
the database `<name>_test` beside DATABASE_URL's (created when missing), and
without DATABASE_URL the local cluster's `luna_admin_test`.
"""

from __future__ import annotations

import contextlib
import hashlib
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


def reachable_by_postgres(path: Path) -> bool:
    """Whether the postgres user can reach `path` (or, while it does not exist yet, the
    nearest directory above it that does)."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    result = subprocess.run(
        ["runuser", "-u", "postgres", "--", "test", "-x", str(existing)],
        check=False,
        capture_output=True,
    )
    return result.returncode == 0


def home_of_postgres_for(checkout: Path) -> Path:
    """The cluster directory of `checkout` in the postgres user's home: named after the
    checkout and a hash of its path, so that two checkouts never share one."""
    digest = hashlib.sha256(str(checkout.resolve()).encode()).hexdigest()[:10]
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in checkout.name)[:24]
    return Path(pwd.getpwnam("postgres").pw_dir) / "luna-admin" / f"{name}-{digest}"


class Cluster:
    def __init__(self, base: Path | None = None) -> None:
        self.link = base or ROOT / "var" / "pg"
        """Where the cluster is looked for; a link when it lives elsewhere."""
        self.relocatable = base is None
        self.bin = pg_bin_dir()
        self._locate(self.link.resolve())

    def _locate(self, base: Path) -> None:
        self.base = base
        self.data = self.base / "data"
        self.run_dir = self.base / "run"
        self.log = self.base / "server.log"

    def url(self, dbname: str = DEFAULT_DB) -> str:
        return f"postgresql://postgres@/{dbname}?host={self.run_dir}"

    def _prepare_dirs(self) -> None:
        relocatable = os.geteuid() == 0 and self.relocatable and not self.initialised()
        if relocatable and not reachable_by_postgres(self.base):
            self._relocate(home_of_postgres_for(ROOT))
        for path in (self.base, self.data, self.run_dir):
            path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            for path in (self.base, self.data, self.run_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
            if not reachable_by_postgres(self.data):
                raise DevDbError(
                    f"{self.base} is not reachable by the postgres user; "
                    "move the checkout, `chmod o+x` the directories above it, or set DATABASE_URL"
                )
        self.data.chmod(0o700)

    def _relocate(self, target: Path) -> None:
        """var/pg becomes a link to `target` (see the module docstring)."""
        if self.link.is_symlink():
            self.link.unlink()
        elif self.link.exists():
            shutil.rmtree(self.link)  # left by an attempt that could not start: holds nothing
        self.link.parent.mkdir(parents=True, exist_ok=True)
        target.mkdir(parents=True, exist_ok=True)
        owner = pwd.getpwnam("postgres")
        os.chown(target.parent, owner.pw_uid, owner.pw_gid)
        self.link.symlink_to(target, target_is_directory=True)
        print(
            f"devdb: the postgres user cannot reach {self.link.parent}; "
            f"the local cluster lives in {target} ({self.link} points there)",
            file=sys.stderr,
        )
        self._locate(target)

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

    def destroy(self) -> None:
        """Stop the cluster and remove its files (and the link to them)."""
        self.stop()
        if self.base.exists():
            shutil.rmtree(self.base)
        if self.link.is_symlink():
            self.link.unlink()
            with contextlib.suppress(OSError):  # ~postgres/luna-admin, when it holds no other
                self.base.parent.rmdir()


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
        elif command == "destroy":
            cluster.destroy()
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
