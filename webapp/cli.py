"""The `luna-admin` command."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from webapp import logs
from webapp.settings import Settings, SettingsError

log = logging.getLogger("webapp.cli")


async def _with_db(settings: Settings, work: Callable[[], Awaitable[Any]]) -> Any:
    from webapp import db

    await db.start_pool(2)
    try:
        return await work()
    finally:
        await db.close_pool()


async def prepare_database(settings: Settings) -> None:
    """Pending migrations, then (except in production, where a well-known password is
    refused) the default admin when there is no admin at all."""
    from webapp import db
    from webapp.accounts.service import ensure_default_admin

    await db.migrate()
    if not settings.production:
        await _with_db(settings, ensure_default_admin)


def _refuse(reasons: list[str]) -> int:
    print("refusing to serve with LUNA_ADMIN_ENV=production:", file=sys.stderr)
    for reason in reasons:
        print(f"  - {reason}", file=sys.stderr)
    return 2


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from webapp.app import create_app
    from webapp.checks import refusal_after_migrations, refusal_before_start
    from webapp.web.http_protocol import protocol_class

    if reasons := refusal_before_start(settings):
        return _refuse(reasons)
    asyncio.run(prepare_database(settings))
    if reasons := asyncio.run(_with_db(settings, lambda: refusal_after_migrations(settings))):
        return _refuse(reasons)
    uvicorn.run(
        create_app(settings),
        host=args.host or settings.host,
        port=args.port or settings.port,
        # Unparsable requests get the LUNA error body too, and a slow request head a
        # timeout (webapp/web/http_protocol.py).
        http=protocol_class(settings.request_read_timeout),
        # The service has no WebSocket route: an upgrade request is answered as HTTP.
        ws="none",
        # Forwarding headers are read by webapp/web/client_address.py, from the
        # proxies of TRUSTED_PROXIES only (uvicorn's default trusts 127.0.0.1).
        proxy_headers=False,
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="on",
    )
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Task workers without an HTTP server; stops cleanly on SIGTERM or Ctrl-C."""
    import signal

    from webapp import db
    from webapp.tasks.background import BackgroundWork

    async def run() -> None:
        await db.start_pool(max(2, args.concurrency + 2))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        background = BackgroundWork(settings)
        background.start(workers=args.concurrency, dispatch=not args.no_dispatch)
        log.info("%d worker(s) running; SIGTERM or Ctrl-C stops them", args.concurrency)
        try:
            await background.run_until(stop)
        finally:
            await db.close_pool()

    asyncio.run(prepare_database(settings))
    asyncio.run(run())
    return 0


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from webapp import db

    applied = asyncio.run(db.migrate())
    print(f"applied {len(applied)} migration(s)" if applied else "no migrations pending")
    return 0


def cmd_create_admin(settings: Settings, args: argparse.Namespace) -> int:
    from webapp.accounts import service
    from webapp.web.body import validate
    from webapp.web.errors import LunaError

    password = args.password or getpass.getpass("Password: ")
    body = {
        "login": args.login,
        "password": password,
        "account_type": "admin",
        "description": args.description,
    }
    try:
        validate(body, service.ACCOUNT_SCHEMA)
        account_id = asyncio.run(_with_db(settings, lambda: service.create_account(**body)))
    except LunaError as error:
        print(f"error: {error.detail}", file=sys.stderr)
        return 1
    print(account_id)
    return 0


def cmd_set_password(settings: Settings, args: argparse.Namespace) -> int:
    """A new password for an account (the way out of the production refusal)."""
    from webapp.accounts import service
    from webapp.web.body import validate
    from webapp.web.errors import LunaError

    password = args.password
    if password is None:
        password = getpass.getpass("New password: ")
        if getpass.getpass("Repeat it: ") != password:
            print("error: the two passwords differ", file=sys.stderr)
            return 1
    try:
        validate({"password": password}, service.PASSWORD_SCHEMA)
    except LunaError as error:
        print(f"error: {error.detail}", file=sys.stderr)
        return 1
    changed = asyncio.run(
        _with_db(settings, lambda: service.change_password_by_login(args.login, password))
    )
    if not changed:
        print(f"error: no account has the login {args.login!r}", file=sys.stderr)
        return 1
    print(f"password of {args.login} changed; its sessions were signed out")
    return 0


def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    from webapp.platform.seed import SeedPlan, seed

    plan = SeedPlan(
        accounts=args.accounts,
        lists_per_account=args.lists_per_account,
        faces=args.faces,
        faces_per_list=args.faces_per_list,
        descriptor_versions=tuple(args.descriptor_versions),
        attributes=args.attributes,
        events=args.events,
        samples=args.samples,
        account_id=args.account_id,
    )
    report = asyncio.run(_with_db(settings, lambda: seed(plan)))
    print(report)
    return 0


def cmd_recount(settings: Settings, args: argparse.Namespace) -> int:
    from webapp.accounts.service import recount_stats

    asyncio.run(_with_db(settings, recount_stats))
    print("counters rebuilt")
    return 0


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    from webapp.checks import run_checks

    warnings = asyncio.run(run_checks(settings))
    for warning in warnings:
        print(f"WARNING: {warning}")
    if not warnings:
        print("no insecure settings found")
    return 1 if warnings and args.strict else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="luna-admin",
        description="Administration service of a face-recognition platform. "
        "Settings come from the environment (see .env.example).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="apply migrations, ensure an admin exists, serve HTTP",
        description="Apply pending migrations, create the default admin root@visionlabs.ai "
        "(password root) when no admin account exists, and serve HTTP. With "
        "LUNA_ADMIN_ENV=production it refuses to start without SECRET_KEY, without an admin "
        "account, or while root@visionlabs.ai still has the password root.",
    )
    serve.add_argument("--host", help="address to listen on (default HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default PORT or 5010)")
    serve.set_defaults(func=cmd_serve)

    worker = commands.add_parser(
        "worker",
        help="run task workers (no HTTP server)",
        description="Claim and run subtasks of tasks, deliver notifications, reap subtasks of "
        "dead workers. Run as many as you like against one database.",
    )
    worker.add_argument(
        "--concurrency", type=int, default=1, help="subtasks this process runs at once (default 1)"
    )
    worker.add_argument(
        "--no-dispatch", action="store_true", help="do not deliver notifications from this process"
    )
    worker.set_defaults(func=cmd_worker)

    migrate = commands.add_parser(
        "migrate",
        help="apply pending database migrations",
        description="Apply pending database migrations and exit.",
    )
    migrate.set_defaults(func=cmd_migrate)

    admin = commands.add_parser(
        "create-admin",
        help="create an admin account",
        description="Create an admin account (asks for the password when --password is not given).",
    )
    admin.add_argument("login", help="the login, an e-mail address")
    admin.add_argument("--password", help="the password (prompted when omitted)")
    admin.add_argument("--description", default="", help="a description of the account")
    admin.set_defaults(func=cmd_create_admin)

    set_password = commands.add_parser(
        "set-password",
        help="set the password of an account",
        description="Set a new password for an account (asks for it when --password is not "
        "given) and sign out its sessions.",
    )
    set_password.add_argument("login", help="the login of the account")
    set_password.add_argument("--password", help="the new password (prompted when omitted)")
    set_password.set_defaults(func=cmd_set_password)

    seed = commands.add_parser(
        "seed",
        help="fill the database with realistic platform data, fast",
        description="Create accounts with lists, faces, memberships, attributes, descriptors, "
        "events and samples using COPY. Meant for demos and benchmarks.",
    )
    seed.add_argument("--accounts", type=int, default=10, help="accounts to create (default 10)")
    seed.add_argument("--account-id", help="add the data to this existing account instead")
    seed.add_argument("--lists-per-account", type=int, default=3, help="lists per account")
    seed.add_argument("--faces", type=int, default=1000, help="faces per account (default 1000)")
    seed.add_argument(
        "--faces-per-list", type=int, default=100, help="faces linked to each list (default 100)"
    )
    seed.add_argument(
        "--descriptor-versions",
        type=int,
        nargs="*",
        default=[56],
        help="a descriptor of each version for every face (default 56)",
    )
    seed.add_argument(
        "--attributes",
        type=float,
        default=0.5,
        help="share of faces with basic attributes (default 0.5)",
    )
    seed.add_argument("--events", type=int, default=0, help="events per account")
    seed.add_argument(
        "--samples", type=float, default=0.0, help="share of faces with a sample image (default 0)"
    )
    seed.set_defaults(func=cmd_seed)

    recount = commands.add_parser(
        "recount",
        help="rebuild the account and list counters",
        description="Recount lists, faces and attributes per account "
        "and faces per list from the rows.",
    )
    recount.set_defaults(func=cmd_recount)

    check = commands.add_parser(
        "check",
        help="warn about insecure settings",
        description="Warn about insecure settings: the default admin password still valid, "
        "insecure cookies in production, no SECRET_KEY set.",
    )
    check.add_argument("--strict", action="store_true", help="exit 1 when there is a warning")
    check.set_defaults(func=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    return int(args.func(settings, args))


if __name__ == "__main__":
    sys.exit(main())
