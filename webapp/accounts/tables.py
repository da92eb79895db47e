"""Accounts, their sign-in sessions and the login-failure counters.

The schema itself is defined by the SQL migrations in piccolo_migrations/;
these classes mirror it for queries.
"""

from piccolo.columns import (
    UUID,
    BigInt,
    Boolean,
    Bytea,
    ForeignKey,
    Integer,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table


class Account(Table, tablename="account"):
    account_id = UUID(primary_key=True)
    login = Varchar(length=128)
    """Unique among live accounts (a partial unique index: WHERE remove_time IS NULL)."""
    password_hash = Text()
    account_type = Varchar(length=16, default="advanced_user")
    description = Varchar(length=128, default="")
    create_time = Timestamptz()
    last_update_time = Timestamptz()
    remove_time = Timestamptz(null=True, default=None)
    """Set when the account's removal starts: gone from every route from then on,
    its rows deleted in the background (webapp/tasks/account_removal.py)."""


class AccountTotal(Table, tablename="account_total"):
    """A single row: how many accounts exist (kept by a trigger)."""

    id = Boolean(primary_key=True, default=True)
    account_count = BigInt(default=0)


class AccountStats(Table, tablename="account_stats"):
    """What an account owns, counted by triggers on the platform tables."""

    account_id = ForeignKey(references=Account, primary_key=True, on_delete=OnDelete.cascade)
    list_count = BigInt(default=0)
    face_count = BigInt(default=0)
    face_attribute_count = BigInt(default=0)


class AuthSession(Table, tablename="auth_session"):
    """A sign-in session. Only the SHA-256 of the cookie token is stored."""

    token_hash = Bytea(primary_key=True)
    account_id = ForeignKey(references=Account, null=False, on_delete=OnDelete.cascade)
    create_time = Timestamptz()
    expire_time = Timestamptz()
    last_seen_time = Timestamptz()
    """The last request of the session (refreshed at most once a minute): the idle timeout."""
    ip = Varchar(length=64, default="")
    user_agent = Varchar(length=256, default="")


class LoginThrottle(Table, tablename="login_throttle"):
    """Failed sign-ins per key: a login, a client address, or the two together
    (webapp/accounts/throttle.py)."""

    key = Varchar(length=200, primary_key=True)
    failures = Integer()
    last_failure = Timestamptz()
    locked_until = Timestamptz(null=True, default=None)
