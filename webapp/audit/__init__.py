"""The audit log: who changed what, when, from where (docs/audit.md).

Services call `await audit.record(conn, action, target_type, target_id, details)`
inside the transaction of the change; the actor, address, user agent and
request id come from the request (webapp/audit/context.py).
"""

from webapp.audit.context import ANONYMOUS, SYSTEM, Actor
from webapp.audit.recorder import record
from webapp.audit.vocabulary import ACTIONS, TARGET_TYPES

__all__ = ["ACTIONS", "ANONYMOUS", "SYSTEM", "TARGET_TYPES", "Actor", "record"]
