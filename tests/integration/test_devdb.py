"""The local cluster of a checkout the postgres user cannot reach (a clone in /root):
`make run` and `make test` must work there with nothing changed by hand.

A real cluster is made for a checkout in a directory of mode 700, as root (initdb runs
as `postgres`, which cannot enter it): it lives in the postgres user's home, var/pg
links there, a second look finds the same cluster, and `destroy` removes it."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import asyncpg
import pytest

from webapp import devdb

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as postgres")


async def test_a_checkout_postgres_cannot_enter_gets_its_cluster_in_postgres_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private = tmp_path / "home-of-root"
    checkout = private / "luna-admin"
    checkout.mkdir(parents=True)
    private.chmod(0o700)
    monkeypatch.setattr(devdb, "ROOT", checkout)
    assert not devdb.reachable_by_postgres(checkout)

    cluster = devdb.Cluster()
    try:
        cluster.ensure_running()
        cluster.ensure_database("devdb_check")
        link = checkout / "var" / "pg"
        assert link.is_symlink() and link.resolve() == cluster.base
        assert cluster.base == devdb.home_of_postgres_for(checkout)
        assert cluster.base.is_relative_to(pwd.getpwnam("postgres").pw_dir)
        conn = await asyncpg.connect(cluster.url("devdb_check"))
        try:
            assert await conn.fetchval("SELECT 1") == 1
        finally:
            await conn.close()

        again = devdb.Cluster()  # the next `make run`: the same cluster, already running
        again.ensure_running()
        assert again.base == cluster.base and again.running()

        other = tmp_path / "elsewhere" / "luna-admin"
        assert devdb.home_of_postgres_for(other) != cluster.base  # one cluster per checkout
    finally:
        cluster.destroy()
    assert not cluster.base.exists() and not (checkout / "var" / "pg").exists()
