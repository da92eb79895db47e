"""Password hashing (argon2 through the passlib API) and the verified-credential cache.

Hashing and verifying cost tens of milliseconds of CPU each, so they run in a
thread, never on the event loop. An API client that sends Basic credentials on
every request pays that once per CREDENTIAL_CACHE_TTL: a successful
verification is remembered under an HMAC of (account id, stored hash,
password) keyed with the server secret. The key reveals nothing about the
password, and because it covers the stored hash, a changed password matches
no old entry in any process.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from functools import lru_cache

from passlib.context import CryptContext

# argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): about
# 40 ms per verification on one core here. passlib's default (64 MiB, 3 passes,
# 4 lanes) costs four times that, which a sign-in page does not need.
_context = CryptContext(
    schemes=["argon2"],
    deprecated="auto",
    argon2__type="ID",
    argon2__memory_cost=19456,
    argon2__time_cost=2,
    argon2__parallelism=1,
)


def hash_password_sync(password: str) -> str:
    return _context.hash(password)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_context.hash, password)


async def verify_password(password: str, password_hash: str) -> bool:
    return await asyncio.to_thread(_verify, password, password_hash)


def _verify(password: str, password_hash: str) -> bool:
    try:
        return bool(_context.verify(password, password_hash))
    except (ValueError, TypeError):
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _context.hash("an unknown login still pays for one verification")


async def burn_verification(password: str) -> None:
    """Spend the time of a real verification, so an unknown login answers as slowly."""
    dummy = await asyncio.to_thread(_dummy_hash)
    await verify_password(password, dummy)


class CredentialCache:
    """Remembers successful verifications for a short time, per process."""

    def __init__(self, secret: str, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self._secret = hashlib.sha256(b"credential-cache:" + secret.encode()).digest()
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._entries: dict[bytes, tuple[float, uuid.UUID]] = {}

    def key(self, account_id: uuid.UUID, password_hash: str, password: str) -> bytes:
        message = b"\0".join((account_id.bytes, password_hash.encode(), password.encode()))
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def hit(self, key: bytes) -> bool:
        entry = self._entries.get(key)
        if entry is None:
            return False
        if entry[0] < time.monotonic():
            self._entries.pop(key, None)
            return False
        return True

    def remember(self, key: bytes, account_id: uuid.UUID) -> None:
        if self._ttl <= 0:
            return
        if len(self._entries) >= self._max_entries:
            self._evict()
        self._entries[key] = (time.monotonic() + self._ttl, account_id)

    def forget_account(self, account_id: uuid.UUID) -> None:
        for key in [k for k, (_, owner) in self._entries.items() if owner == account_id]:
            del self._entries[key]

    def _evict(self) -> None:
        now = time.monotonic()
        for key in [k for k, (expires, _) in self._entries.items() if expires < now]:
            del self._entries[key]
        while len(self._entries) >= self._max_entries:
            self._entries.pop(next(iter(self._entries)))
