"""Accounts: the rules, the queries and the transactions. Nothing here knows HTTP."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from webapp import audit, db
from webapp.accounts import sessions
from webapp.accounts.passwords import CredentialCache, hash_password
from webapp.settings import Settings
from webapp.tasks import service as tasks
from webapp.web.errors import LunaError
from webapp.web.params import Page

log = logging.getLogger(__name__)

ACCOUNT_TYPES = ("admin", "advanced_user", "user")
DEFAULT_ADMIN_LOGIN = "root@visionlabs.ai"
DEFAULT_ADMIN_PASSWORD = "root"

LOGIN_PATTERN = r"^[a-z0-9_'\+\-\.]+@[a-z0-9]+\.[a-z]{2,}$"

ACCOUNT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "account_type": {"type": "string", "enum": list(ACCOUNT_TYPES)},
        "login": {"type": "string", "minLength": 3, "maxLength": 128, "pattern": LOGIN_PATTERN},
        "password": {"type": "string", "minLength": 3, "maxLength": 128, "pattern": "^.{3,128}$"},
        "description": {"type": "string", "maxLength": 128},
        # The legacy scheme: email is the login, organization_name the description.
        "email": {"type": "string", "minLength": 3, "maxLength": 128, "pattern": LOGIN_PATTERN},
        "organization_name": {"type": "string", "maxLength": 128},
    },
    "required": ["password"],
    # login is required, unless the legacy email stands in for it.
    "if": {"required": ["email"], "not": {"required": ["login"]}},
    "else": {"required": ["login"]},
    "additionalProperties": False,
}

FRIENDLY_FIELD_HINTS = {
    "login": "Enter an e-mail address such as name@example.com: lower-case letters, digits "
    "and _'+-. before the @, then a domain like example.com",
    "password": "Use 3 to 128 characters",
    "description": "Use at most 128 characters",
}
"""What the create form says under a field, where the schema's own message is cryptic."""

PASSWORD_SCHEMA: dict[str, Any] = {
    "type": "object",
    # The reference's own pattern: no line break (`.` does not match one).
    "properties": {
        "password": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^.{1,128}$"}
    },
    "required": ["password"],
    "additionalProperties": False,
}


def _account_columns(table: str = "account") -> str:
    """The columns of an account object, ids and times already as text.

    Queries must order by the qualified column (`account.create_time`): the bare
    name would mean the text output column and miss the index.
    """
    return (
        f"{table}.account_id::text AS account_id, {table}.login, {table}.account_type, "
        f"{table}.description, {db.iso_sql(f'{table}.create_time', 'create_time')}, "
        f"{db.iso_sql(f'{table}.last_update_time', 'last_update_time')}"
    )


def account_json(row: Any) -> dict[str, Any]:
    return {
        "account_id": row["account_id"],
        "account_type": row["account_type"],
        "description": row["description"],
        "login": row["login"],
        "create_time": row["create_time"],
        "last_update_time": row["last_update_time"],
        # Legacy names of the same values, kept for old clients.
        "email": row["login"],
        "organization_name": row["description"],
    }


def stats_json(row: Any) -> dict[str, int]:
    return {
        "list_count": int(row["list_count"] or 0),
        "face_count": int(row["face_count"] or 0),
        "face_attribute_count": int(row["face_attribute_count"] or 0),
    }


def normalise_new_account(body: dict[str, Any]) -> dict[str, Any]:
    """Map the legacy scheme (email, organization_name) onto login and description."""
    login = body.get("login", body.get("email"))
    description = body.get("description", body.get("organization_name", ""))
    return {
        "login": login,
        "password": body["password"],
        "account_type": body.get("account_type", "advanced_user"),
        "description": description,
    }


def _time_filter(
    gte: datetime | None, lt: datetime | None, first_arg: int = 1
) -> tuple[str, list[Any]]:
    """` WHERE …` over live accounts (not being removed) in the time range."""
    clauses, args = ["remove_time IS NULL"], []
    if gte is not None:
        args.append(gte)
        clauses.append(f"create_time >= ${first_arg + len(args) - 1}")
    if lt is not None:
        args.append(lt)
        clauses.append(f"create_time < ${first_arg + len(args) - 1}")
    return " WHERE " + " AND ".join(clauses), args


async def list_accounts(
    page: Page, create_time_gte: datetime | None = None, create_time_lt: datetime | None = None
) -> tuple[list[dict[str, Any]], int]:
    """A page of accounts, newest first, and the number of all matching ones."""
    where, args = _time_filter(create_time_gte, create_time_lt)
    rows = await db.fetch_page(
        f"SELECT {_account_columns()} FROM account{where} "
        "ORDER BY account.create_time DESC, account.account_id DESC",
        args,
        page,
    )
    if args:
        total = await db.count(f"FROM account{where}", args)
    else:
        # Kept by a trigger: an unfiltered page costs no count(*) over every account.
        row = await db.fetchrow("SELECT account_count AS n FROM account_total")
        total = int(row["n"]) if row else 0
    return [account_json(row) for row in rows], total


async def get_account(account_id: uuid.UUID) -> dict[str, Any]:
    """`{"info", "stats"}` of one account; 15012 when there is none."""
    row = await db.fetchrow(
        f"SELECT {_account_columns('a')}, "
        "s.list_count, s.face_count, s.face_attribute_count "
        "FROM account a LEFT JOIN account_stats s ON s.account_id = a.account_id "
        "WHERE a.account_id = $1 AND a.remove_time IS NULL",
        account_id,
    )
    if row is None:
        raise LunaError("ACCOUNT_NOT_FOUND", account_id=account_id)
    return {"info": account_json(row), "stats": stats_json(row)}


async def find_account_by_login(login: str) -> dict[str, Any] | None:
    row = await db.fetchrow(
        "SELECT account_id FROM account WHERE login = $1 AND remove_time IS NULL", login
    )
    return None if row is None else await get_account(row["account_id"])


async def login_exists(login: str) -> bool:
    """Whether a live account has this login (a removed account's login is free)."""
    row = await db.fetchrow("SELECT 1 FROM account WHERE login = $1 AND remove_time IS NULL", login)
    return row is not None


async def create_account(
    login: str,
    password: str,
    account_type: str = "advanced_user",
    description: str = "",
    account_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Create an account; 409 when the login (or the given id) is taken."""
    password_hash = await hash_password(password)
    try:
        async with db.engine().transaction():
            row = await db.fetchrow(
                "INSERT INTO account (account_id, login, password_hash, account_type, description) "
                "VALUES (coalesce($1, gen_random_uuid()), $2, $3, $4, $5) RETURNING account_id",
                account_id,
                login,
                password_hash,
                account_type,
                description,
            )
            assert row is not None
            details = {"login": login, "account_type": account_type, "description": description}
            await audit.record(None, "account.create", "account", row["account_id"], details)
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "account_pkey":
            # The id of an account being removed comes free when its last row is gone.
            if await db.fetchrow(
                "SELECT 1 FROM account WHERE account_id = $1 AND remove_time IS NOT NULL",
                account_id,
            ):
                raise LunaError("ACCOUNT_BEING_REMOVED", account_id=account_id) from None
            raise LunaError("ACCOUNT_ID_TAKEN", account_id=account_id) from None
        raise LunaError("LOGIN_TAKEN", login=login) from None
    assert row is not None
    log.info("account %s (%s, %s) created", row["account_id"], login, account_type)
    new_id: uuid.UUID = row["account_id"]
    return new_id


@dataclass(frozen=True)
class Removal:
    login: str
    task_id: int
    """The task that removes the account's rows in the background."""


async def delete_account(
    account_id: uuid.UUID, settings: Settings, cache: CredentialCache | None = None
) -> Removal:
    """Remove an account: gone from every route, its sessions ended and its login
    free when this returns; its rows are deleted in the background by a task
    (webapp/tasks/account_removal.py). One short transaction, whatever it owns.

    The last admin account is refused: without one nobody could sign in.
    """
    async with db.engine().transaction() as transaction:
        # Lock the admin rows first, always in the same order, so two concurrent
        # removals of the last two admins cannot both succeed (or deadlock).
        admins = await db.fetch(
            "SELECT account_id FROM account WHERE account_type = 'admin' AND remove_time IS NULL "
            "ORDER BY account_id FOR UPDATE"
        )
        row = await db.fetchrow(
            "SELECT login, account_type FROM account WHERE account_id = $1 "
            "AND remove_time IS NULL FOR UPDATE",
            account_id,
        )
        if row is None:
            raise LunaError("ACCOUNT_NOT_FOUND", account_id=account_id)
        login = str(row["login"])
        if row["account_type"] == "admin" and len(admins) <= 1:
            raise LunaError("LAST_ADMIN", account_id=account_id)
        # The password goes now: nothing may sign in as a removed account.
        await db.fetch(
            "UPDATE account SET remove_time = now(), password_hash = '', last_update_time = now() "
            "WHERE account_id = $1",
            account_id,
        )
        ended = await sessions.end_all(account_id)
        task_id = await tasks.start_account_removal(
            transaction.connection, account_id, login, settings
        )
        details = {
            "login": login,
            "account_type": row["account_type"],
            "sessions_ended": ended,
            "task_id": task_id,
        }
        await audit.record(None, "account.delete", "account", account_id, details)
    if cache is not None:
        cache.forget_account(account_id)
    log.info("account %s (%s) removed; task %s removes its rows", account_id, login, task_id)
    return Removal(login, task_id)


async def change_password(
    account_id: uuid.UUID, new_password: str, cache: CredentialCache | None = None
) -> None:
    """Set a new password and end every session of the account."""
    password_hash = await hash_password(new_password)
    async with db.engine().transaction():
        updated = await db.fetch(
            "UPDATE account SET password_hash = $2, last_update_time = now() "
            "WHERE account_id = $1 AND remove_time IS NULL RETURNING 1",
            account_id,
            password_hash,
        )
        if not updated:
            raise LunaError("ACCOUNT_NOT_FOUND", account_id=account_id)
        ended = await sessions.end_all(account_id)
        details = {"sessions_ended": ended}
        await audit.record(None, "password.change", "account", account_id, details)
    if cache is not None:
        cache.forget_account(account_id)
    log.info("password of account %s changed, %d session(s) ended", account_id, ended)


async def change_password_by_login(login: str, new_password: str) -> bool:
    """`change_password` of the account with this login; False when there is none."""
    row = await db.fetchrow(
        "SELECT account_id FROM account WHERE login = $1 AND remove_time IS NULL", login
    )
    if row is None:
        return False
    await change_password(row["account_id"], new_password)
    return True


async def ensure_default_admin() -> bool:
    """Create root@visionlabs.ai / root when no admin account exists; True if created."""
    if await db.fetchrow(
        "SELECT 1 FROM account WHERE account_type = 'admin' AND remove_time IS NULL LIMIT 1"
    ):
        return False
    password_hash = await hash_password(DEFAULT_ADMIN_PASSWORD)
    async with db.engine().transaction():
        created = await db.fetch(
            "INSERT INTO account (login, password_hash, account_type, description) "
            "VALUES ($1, $2, 'admin', 'default administrator') "
            "ON CONFLICT (login) WHERE remove_time IS NULL DO NOTHING RETURNING account_id",
            DEFAULT_ADMIN_LOGIN,
            password_hash,
        )
        if created:
            # An account with a well-known password: operators must be able to see when.
            details = {"login": DEFAULT_ADMIN_LOGIN, "account_type": "admin", "default": True}
            await audit.record(None, "account.create", "account", created[0]["account_id"], details)
    if created:
        log.warning(
            "created the default admin account %s with password %r: sign in and change it now",
            DEFAULT_ADMIN_LOGIN,
            DEFAULT_ADMIN_PASSWORD,
        )
    return bool(created)


async def recount_stats() -> None:
    """Rebuild every counter from the rows (after a TRUNCATE or a manual repair)."""
    async with db.engine().transaction():
        await db.fetch(
            "UPDATE account_total SET account_count = "
            "(SELECT count(*) FROM account WHERE remove_time IS NULL)"
        )
        await db.fetch(
            "INSERT INTO account_stats (account_id) SELECT account_id FROM account "
            "ON CONFLICT (account_id) DO NOTHING"
        )
        await db.fetch(
            """
            UPDATE account_stats s SET
                list_count = (SELECT count(*) FROM list l WHERE l.account_id = s.account_id),
                face_count = (SELECT count(*) FROM face f WHERE f.account_id = s.account_id),
                face_attribute_count =
                    (SELECT count(*) FROM face_attribute a WHERE a.account_id = s.account_id)
            """
        )
        await db.fetch(
            "UPDATE list l SET face_count = "
            "(SELECT count(*) FROM list_face m WHERE m.list_id = l.list_id)"
        )
