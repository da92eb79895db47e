"""The audit log's table. The schema is the SQL migration
piccolo_migrations/luna_admin_2026_11_28t0005_audit.py; this mirrors it."""

from piccolo.columns import JSONB, UUID, BigSerial, Text, Timestamptz
from piccolo.table import Table


class AuditEvent(Table, tablename="audit_event"):
    event_id = BigSerial(primary_key=True)
    event_time = Timestamptz()
    actor_id = UUID(null=True, default=None)
    actor_login = Text(null=True, default=None)
    action = Text()
    target_type = Text()
    target_id = Text(null=True, default=None)
    details = JSONB()
    # inet: Piccolo has no column for it; read with host(ip) (webapp/audit/service.py).
    ip = Text(null=True, default=None)
    user_agent = Text(null=True, default=None)
    request_id = Text(null=True, default=None)
