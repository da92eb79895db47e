"""Secrets never reach the audit log.

Details pass through the service's one redaction policy (webapp/redaction.py),
the same that answers and pages use: a notification policy in the details is
masked exactly as GET shows it, and any string under a key that names a
secret, or a URL's password and secret query parameters, too.
"""

from __future__ import annotations

import json
from typing import Any

from webapp.redaction import redact as redact_secrets

MAX_DETAILS_BYTES = 32 * 1024
"""Larger details are replaced by a note: a bounded row, whatever the body was."""


def redact(value: Any, key: str = "") -> Any:
    """A copy of `value` fit for the log."""
    return _without_nul(redact_secrets(value, key))


def _without_nul(value: Any) -> Any:
    # jsonb cannot hold NUL; bodies refuse it already, this is for everything else.
    if isinstance(value, dict):
        return {key: _without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, str):
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
