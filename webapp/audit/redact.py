"""Secrets never reach the audit log.

Notification policies go through the same `mask` as every answer that shows
them; then, as a second line of defence for whatever a future caller passes,
any string under a key that names a credential is masked too.
"""

from __future__ import annotations

import json
import re
from typing import Any

from webapp.notify.policy import MASK, mask

SECRET_KEY = re.compile(
    r"passw|secret|token|api[-_]?key|cookie|auth|session|signature|credential|private", re.I
)
"""Keys whose string values are credentials (the notification headers' rule, widened)."""

MAX_DETAILS_BYTES = 32 * 1024
"""Larger details are replaced by a note: a bounded row, whatever the body was."""


def redact(value: Any, key: str = "") -> Any:
    """A copy of `value` fit for the log."""
    if key == "notification_policy" and isinstance(value, dict | str):
        value = mask(value)
    if isinstance(value, dict):
        return {str(k): redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str) and value and SECRET_KEY.search(key):
        return MASK
    if isinstance(value, str):
        # jsonb cannot hold NUL; bodies refuse it already, this is for everything else.
        return value.replace("\x00", "")
    return value


def details_json(details: dict[str, Any] | None) -> str:
    """The details column: redacted, JSON, bounded."""
    text = json.dumps(redact(details or {}), default=str, ensure_ascii=False)
    if len(text.encode()) > MAX_DETAILS_BYTES:
        keys = sorted((details or {}).keys())
        text = json.dumps(
            {"omitted": f"details larger than {MAX_DETAILS_BYTES} bytes", "keys": keys},
            default=str,
        )
    return text
