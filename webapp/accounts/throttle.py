"""Sign-in throttling, shared by every process through PostgreSQL (login_throttle).

Failed sign-ins are counted under three keys, each forgotten once
LOGIN_FAILURE_WINDOW seconds pass without a failure under it:

- **(login, address)**: LOGIN_MAX_FAILURES failures lock that login *from that
  address* for a window;
- **address**: ADDRESS_FACTOR times as many failures, over any logins, lock the
  address for a window (one office behind one address should not lock itself
  out through one mistyped password);
- **login, over all addresses**: from LOGIN_MAX_FAILURES failures on, guesses
  from addresses that have already failed for this login are spaced by a delay
  that starts at 1 s and doubles with each further failure, up to
  LOGIN_MAX_DELAY. Only one such guess is let through per delay, however many
  addresses ask. An address that has not failed for this login (the owner's,
  usually) is never delayed or refused by it: there is no lock of the login
  itself that the right password from a clean address cannot pass.

A throttled attempt is refused (429, Retry-After) before any password is
verified, so it costs no argon2 verification. Unknown logins are counted the
same way, so nothing tells whether a login exists. docs/security.md, "Sign-in
throttling", has the policy and its trade-offs.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import timedelta

from webapp import db

ADDRESS_FACTOR = 4


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int
    window_seconds: int
    max_delay_seconds: int = 60

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self.window_seconds)


@dataclass(frozen=True)
class Keys:
    pair: str
    address: str
    login: str


def keys_for(login: str, ip: str) -> Keys:
    name = login.lower()
    # A digest: a login (up to 256 characters) and an address do not fit the column together.
    pair = hashlib.sha256(f"{name}\0{ip}".encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return Keys(pair=f"pair:{pair}", address=f"ip:{ip[:64]}", login=f"login:{name[:180]}")


async def admit(keys: Keys, policy: ThrottlePolicy) -> int | None:
    """None when this attempt may be verified; otherwise the seconds to wait."""
    rows = await db.fetch(
        "SELECT key, failures, last_failure > now() - $2::interval AS fresh, "
        "extract(epoch FROM locked_until - now()) AS wait "
        "FROM login_throttle WHERE key = ANY($1::varchar[])",
        [keys.pair, keys.address, keys.login],
        policy.window,
    )
    found = {row["key"]: row for row in rows}
    for key in (keys.pair, keys.address):
        row = found.get(key)
        if row is not None and row["wait"] is not None and row["wait"] > 0:
            return _seconds(row["wait"])
    pair, login = found.get(keys.pair), found.get(keys.login)
    dirty = pair is not None and pair["fresh"]
    if not dirty or login is None or not login["fresh"] or login["failures"] < policy.max_failures:
        return None
    # Take the login's next slot, or wait for it: one guess per delay from failed addresses.
    claimed = await db.fetch(
        "UPDATE login_throttle SET locked_until = now() + make_interval(secs => $2) "
        "WHERE key = $1 AND (locked_until IS NULL OR locked_until <= now()) RETURNING key",
        keys.login,
        _delay(login["failures"], policy),
    )
    if claimed:
        return None
    return _seconds(login["wait"] or 1)


def _seconds(wait: object) -> int:
    return max(1, math.ceil(float(wait)))  # type: ignore[arg-type]


def _delay(failures: int, policy: ThrottlePolicy) -> float:
    """Seconds between guesses of failed addresses once a login has `failures`."""
    return float(min(policy.max_delay_seconds, 2 ** max(0, failures - policy.max_failures)))


_COUNT = """
INSERT INTO login_throttle AS t (key, failures, last_failure, locked_until)
VALUES ($1, 1, now(), CASE WHEN 1 >= $2 THEN now() + make_interval(secs => {first}) END)
ON CONFLICT (key) DO UPDATE SET
    failures = CASE WHEN t.last_failure <= now() - $3::interval THEN 1 ELSE t.failures + 1 END,
    last_failure = now(),
    locked_until = CASE
        WHEN t.last_failure <= now() - $3::interval THEN
            CASE WHEN 1 >= $2 THEN now() + make_interval(secs => {first}) END
        WHEN t.failures + 1 >= $2 THEN now() + make_interval(secs => {next})
        ELSE t.locked_until END
"""
# $4: the lock's length (a window), or the cap of the growing delay.
_FIXED_LOCK = _COUNT.format(first="$4", next="$4")
_GROWING_DELAY = _COUNT.format(
    first="LEAST($4, power(2, 1 - $2))", next="LEAST($4, power(2, t.failures + 1 - $2))"
)


async def record_failure(keys: Keys, policy: ThrottlePolicy) -> None:
    """Count a failed attempt under the three keys (in the caller's transaction)."""
    window = policy.window
    lock = float(policy.window_seconds)
    await db.fetch(_FIXED_LOCK, keys.pair, policy.max_failures, window, lock)
    await db.fetch(_FIXED_LOCK, keys.address, policy.max_failures * ADDRESS_FACTOR, window, lock)
    await db.fetch(
        _GROWING_DELAY, keys.login, policy.max_failures, window, float(policy.max_delay_seconds)
    )


async def clear_pair(keys: Keys) -> None:
    """After a successful sign-in its address is clean again for the login; the
    address's count and the login's delay for others stay."""
    await db.fetch("DELETE FROM login_throttle WHERE key = $1", keys.pair)


async def forget_stale(policy: ThrottlePolicy) -> int:
    """Delete counters nothing remembers any more (housekeeping): a window after
    their latest failure, and no lock or delay left."""
    rows = await db.fetch(
        "DELETE FROM login_throttle WHERE last_failure <= now() - $1::interval "
        "AND (locked_until IS NULL OR locked_until <= now()) RETURNING key",
        policy.window,
    )
    return len(rows)
