"""Who is making the current change, and from where.

The auth guard (webapp/web/auth.py) fills this in for every request it sees,
so services record events without being handed the request: they know nothing
of HTTP. Outside a request (the scheduler leader, the command line) there is
no context, and the actor is the system.

LunaLitestar resets the variable around each request: under the test client a
request runs in the caller's own task, and its actor must not outlive it.
"""

from __future__ import annotations

import contextvars
import ipaddress
import uuid
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Actor:
    account_id: uuid.UUID | None
    login: str | None
    """The login at the time of the event; None for an unauthenticated caller."""


SYSTEM = Actor(account_id=None, login="system")
"""Changes nobody asked for over HTTP: scheduled fires, the command line.
'system' cannot be a login (a login is an e-mail address)."""

ANONYMOUS = Actor(account_id=None, login=None)
"""A request whose caller has not (yet) proved who they are: a failed sign-in."""


@dataclass(frozen=True)
class RequestContext:
    ip: str | None
    user_agent: str | None
    actor: Actor = ANONYMOUS


USER_AGENT_MAX = 256

CONTEXT: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "luna_audit_context", default=None
)


def _ip(host: str | None) -> str | None:
    """The client address if it is one (the column is inet; a test client's
    'testclient' is not)."""
    if not host:
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def enter_request(host: str | None, user_agent: str | None) -> None:
    """Called by the guard before it checks credentials: a failed check is recorded
    with the caller's address."""
    agent = (user_agent or "").replace("\x00", "")[:USER_AGENT_MAX]
    CONTEXT.set(RequestContext(ip=_ip(host), user_agent=agent))


def set_actor(account_id: uuid.UUID, login: str) -> None:
    """Called by the guard once the credentials are proved."""
    current = CONTEXT.get()
    if current is not None:
        CONTEXT.set(replace(current, actor=Actor(account_id=account_id, login=login)))


def current() -> RequestContext | None:
    return CONTEXT.get()
