"""Whether the default admin (root@visionlabs.ai) still has its well-known password.

Every page of a signed-in operator shows a banner while it does (base.html), and
`luna-admin serve` refuses to start in production. An argon2 verification
costs tens of milliseconds, so the answer is remembered per stored hash: each
page view costs one indexed query, and any password change, in any process,
stores a new hash (a new salt) and so is noticed at once.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request

from webapp import db
from webapp.accounts.passwords import verify_password
from webapp.accounts.service import DEFAULT_ADMIN_LOGIN, DEFAULT_ADMIN_PASSWORD
from webapp.web.negotiation import Mode, response_mode

SCOPE_KEY = "luna.default_password"
"""Where a page request keeps the answer for base.html (the account id, or None)."""


class DefaultPasswordCheck:
    """The answer, remembered for the stored hash it was computed from."""

    def __init__(self) -> None:
        self._verdict: tuple[str, bool] | None = None
        self.verifications = 0
        """argon2 verifications made (a page view should not add one)."""

    async def account(self) -> uuid.UUID | None:
        """The id of the default admin while its password is the default one, else None."""
        row = await db.fetchrow(
            "SELECT account_id, password_hash FROM account "
            "WHERE login = $1 AND remove_time IS NULL",
            DEFAULT_ADMIN_LOGIN,
        )
        if row is None:
            return None
        stored = str(row["password_hash"])
        if self._verdict is None or self._verdict[0] != stored:
            self.verifications += 1
            self._verdict = (stored, await verify_password(DEFAULT_ADMIN_PASSWORD, stored))
        return row["account_id"] if self._verdict[1] else None


async def note_for_page(request: Request[Any, Any, Any]) -> None:
    """before_request: a page for a signed-in operator learns whether to show the banner.

    JSON answers, fragments and public pages pay nothing."""
    if request.scope.get("user") is None or response_mode(request) is not Mode.PAGE:
        return
    check: DefaultPasswordCheck = request.app.state.default_password
    request.scope[SCOPE_KEY] = await check.account()  # type: ignore[literal-required]
