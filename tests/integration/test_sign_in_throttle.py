"""Sign-in throttling (docs/security.md, "Sign-in throttling").

Guesses from some addresses must not lock the owner out: the owner's right
password from another address passes, on every route that signs in. Guessers
are held back per (login, address), per address, and, across addresses, by a
growing delay between their guesses at one login.
"""

from __future__ import annotations

from tests.conftest import ADMIN, ADMIN_LOGIN, basic
from tests.integration.helpers import client_at
from tests.integration.test_pages import page_sign_in
from webapp import db
from webapp.accounts import authentication, throttle

ATTACKERS = ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
OWNER = "203.0.113.50"
WRONG = basic(ADMIN_LOGIN, "guess")


def forget_credentials(app) -> None:  # type: ignore[no-untyped-def]
    """Make the next right password be verified again, not taken from the cache."""
    app.state.authenticator.cache._entries.clear()


async def guess(app, address: str, times: int = 1, headers=WRONG) -> list[int]:  # type: ignore[no-untyped-def]
    async with client_at(app, address) as attacker:
        return [
            (await attacker.get("/4/accounts", headers=headers)).status_code for _ in range(times)
        ]


async def test_guesses_from_other_addresses_do_not_lock_the_owner_out(client, app):
    limit = app.state.settings.login_max_failures
    for address in ATTACKERS:
        statuses = await guess(app, address, limit + 3)
        assert set(statuses) <= {401, 429}
        assert statuses[-1] == 429  # the guessers themselves are held back
    async with client_at(app, OWNER) as owner:
        # Basic on the API, POST /{api}/login, and the sign-in page: each verifies.
        assert (await owner.get("/4/accounts", headers=ADMIN)).status_code == 200
        forget_credentials(app)
        assert (await owner.post("/4/login", headers=ADMIN)).status_code == 201
        forget_credentials(app)
        owner.cookies.clear()
        signed_in = await page_sign_in(owner)
        assert signed_in.status_code == 303, signed_in.text
        assert "luna_admin_session" in signed_in.cookies


async def test_an_address_that_failed_is_locked_for_that_login_only(client, app):
    limit = app.state.settings.login_max_failures
    assert await guess(app, ATTACKERS[0], limit) == [401] * limit
    async with client_at(app, ATTACKERS[0]) as attacker:
        locked = await attacker.get("/4/accounts", headers=ADMIN)  # even the right password
        assert locked.status_code == 429
        assert locked.json()["error_code"] == 29003
        assert 0 < int(locked.headers["retry-after"]) <= app.state.settings.login_failure_window
        # Another login from the same address is not locked by this one.
        other = await attacker.get("/4/accounts", headers=basic("someone@example.com", "x"))
        assert other.status_code == 401
    forget_credentials(app)
    assert await guess(app, OWNER, headers=ADMIN) == [200]


async def test_an_address_guessing_many_logins_is_locked_for_all(client, app):
    limit = app.state.settings.login_max_failures * throttle.ADDRESS_FACTOR
    async with client_at(app, ATTACKERS[0]) as attacker:
        for index in range(limit):
            answer = await attacker.get("/4/accounts", headers=basic(f"u{index}@example.com", "x"))
            assert answer.status_code == 401
        assert (await attacker.get("/4/accounts", headers=ADMIN)).status_code == 429
        answer = await attacker.get("/4/accounts", headers=basic("new@example.com", "x"))
        assert answer.status_code == 429
    forget_credentials(app)
    assert await guess(app, OWNER, headers=ADMIN) == [200]


async def _retry_after(app, address: str) -> int:  # type: ignore[no-untyped-def]
    async with client_at(app, address) as attacker:
        answer = await attacker.get("/4/accounts", headers=WRONG)
    assert answer.status_code == 429, answer.text
    return int(answer.headers["retry-after"])


async def _slot_passes() -> None:
    """As if the delay had run out (instead of sleeping through it)."""
    await db.fetch(
        "UPDATE login_throttle SET locked_until = now() WHERE key = $1", f"login:{ADMIN_LOGIN}"
    )


async def test_failed_addresses_guess_one_at_a_time_with_a_growing_delay(client, app):
    settings = app.state.settings
    limit = settings.login_max_failures
    fresh = (f"192.0.2.{index}" for index in range(1, 200))
    spent = [next(fresh) for _ in range(limit)]
    for address in spent:  # one guess each: no address is locked on its own
        assert await guess(app, address) == [401]
    # The login has `limit` failures: a failed address waits 1 s, then 2, 4 ...
    assert await _retry_after(app, spent[0]) == 1
    # An address that has not failed for this login is never delayed ...
    assert await guess(app, next(fresh)) == [401]
    # ... but its failure doubles the delay of the others.
    assert await _retry_after(app, spent[1]) == 2
    await _slot_passes()
    assert await guess(app, spent[2]) == [401]  # one guess through the slot
    assert await _retry_after(app, spent[3]) == 4  # however many addresses ask
    assert await _retry_after(app, spent[2]) == 4
    # The delay stops growing at LOGIN_MAX_DELAY.
    await db.fetch("UPDATE login_throttle SET failures = 40 WHERE key = $1", f"login:{ADMIN_LOGIN}")
    assert await guess(app, next(fresh)) == [401]
    assert await _retry_after(app, spent[0]) == settings.login_max_delay
    # And the right password from a clean address still passes at once.
    forget_credentials(app)
    assert await guess(app, OWNER, headers=ADMIN) == [200]


async def test_a_throttled_attempt_verifies_no_password(client, app, monkeypatch):
    calls: list[str] = []
    real = authentication.verify_password

    async def counting(password: str, password_hash: str) -> bool:
        calls.append(password)
        return await real(password, password_hash)

    monkeypatch.setattr(authentication, "verify_password", counting)
    limit = app.state.settings.login_max_failures
    assert await guess(app, ATTACKERS[0], limit) == [401] * limit
    assert len(calls) == limit
    assert await guess(app, ATTACKERS[0], 10) == [429] * 10
    assert await guess(app, ATTACKERS[0], 3, headers=ADMIN) == [429] * 3
    assert await guess(app, ATTACKERS[1]) == [401]  # clean: verified
    assert await guess(app, ATTACKERS[1], 5) == [429] * 5  # delayed: not verified
    assert len(calls) == limit + 1


async def test_unknown_and_known_logins_are_answered_alike(client, app):
    limit = app.state.settings.login_max_failures

    async def answers(login: str, address: str) -> list[tuple[int, str]]:
        async with client_at(app, address) as attacker:
            seen = []
            for _ in range(limit + 2):
                answer = await attacker.get("/4/accounts", headers=basic(login, "guess"))
                seen.append((answer.status_code, answer.json()["error_code"]))
            return seen

    known = await answers(ADMIN_LOGIN, ATTACKERS[0])
    unknown = await answers("nobody@example.com", ATTACKERS[1])
    assert known == unknown == [(401, 41006)] * limit + [(429, 29003)] * 2


async def test_stale_counters_are_forgotten(client, app):
    policy = app.state.authenticator.policy
    await guess(app, ATTACKERS[0], policy.max_failures)  # a locked pair
    await guess(app, ATTACKERS[1])
    stale = throttle.keys_for(ADMIN_LOGIN, ATTACKERS[1])
    await db.fetch(
        "UPDATE login_throttle SET last_failure = now() - interval '1 day' WHERE key = $1",
        stale.pair,
    )
    assert await throttle.forget_stale(policy) == 1
    left = {row["key"] for row in await db.fetch("SELECT key FROM login_throttle")}
    assert stale.pair not in left
    assert throttle.keys_for(ADMIN_LOGIN, ATTACKERS[0]).pair in left
