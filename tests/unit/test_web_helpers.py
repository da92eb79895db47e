from __future__ import annotations

import uuid

import pytest

from webapp.accounts.login_controller import safe_next
from webapp.accounts.passwords import CredentialCache
from webapp.web.body import _coerce_form, validate
from webapp.web.errors import _KINDS, CATALOGUE, LunaError
from webapp.web.params import parse_time, parse_uuid


def test_error_codes_are_unique_and_complete():
    assert len(CATALOGUE) == len(_KINDS)
    for kind in _KINDS:
        assert kind.desc and kind.detail and 100 <= kind.status < 600


def test_error_body_fills_the_template():
    body = LunaError("BAD_QUERY_PARAM", name="page").body()
    assert body == {
        "error_code": 12012,
        "desc": "Bad/incomplete input data",
        "detail": "Bad query parameters 'page'",
        "link": "/docs/errors#error-12012",
    }


@pytest.mark.parametrize("target", ["//evil.com", "https://evil.com", "evil", "", None, "/\\evil"])
def test_safe_next_refuses_other_hosts(target):
    assert safe_next(target) == "/"


def test_safe_next_keeps_local_paths():
    assert safe_next("/accounts?page=2") == "/accounts?page=2"


def test_uuid_must_be_lower_case_hyphenated():
    value = uuid.uuid4()
    assert parse_uuid(str(value), "x") == value
    for bad in (str(value).upper(), value.hex, "x"):
        with pytest.raises(LunaError):
            parse_uuid(bad, "x")


def test_times_need_a_zone():
    assert parse_time("2026-01-01T00:00:00Z", "t").utcoffset().total_seconds() == 0
    with pytest.raises(LunaError):
        parse_time("2026-01-01T00:00:00", "t")


def test_form_values_take_the_schema_types():
    schema = {
        "properties": {
            "n": {"type": "integer"},
            "b": {"type": "boolean"},
            "s": {"type": "string"},
            "o": {"type": ["integer", "null"]},
        }
    }
    assert _coerce_form({"n": "5", "b": "on", "s": "5", "o": ""}, schema) == {
        "n": 5,
        "b": True,
        "s": "5",
        "o": None,
    }


def test_validation_reports_the_deepest_path():
    schema = {
        "type": "object",
        "properties": {"a": {"type": "object", "properties": {"b": {"type": "integer"}}}},
    }
    with pytest.raises(LunaError) as caught:
        validate({"a": {"b": "x"}}, schema)
    assert caught.value.params["path"] == "a.b"


def test_credential_cache_remembers_for_ttl_and_forgets_accounts():
    cache = CredentialCache("secret", ttl_seconds=60)
    account = uuid.uuid4()
    key = cache.key(account, "$argon2id$hash", "password")
    assert not cache.hit(key)
    cache.remember(key, account)
    assert cache.hit(key)
    assert not cache.hit(cache.key(account, "$argon2id$other-hash", "password"))
    assert not cache.hit(cache.key(account, "$argon2id$hash", "other"))
    cache.forget_account(account)
    assert not cache.hit(key)


def test_credential_cache_keys_reveal_nothing_and_depend_on_the_secret():
    account = uuid.uuid4()
    one = CredentialCache("one", 60).key(account, "h", "password")
    two = CredentialCache("two", 60).key(account, "h", "password")
    assert one != two and b"password" not in one


def test_credential_cache_expires(monkeypatch):
    import webapp.accounts.passwords as passwords

    now = [1000.0]
    monkeypatch.setattr(passwords.time, "monotonic", lambda: now[0])
    cache = CredentialCache("s", ttl_seconds=60)
    account = uuid.uuid4()
    key = cache.key(account, "h", "p")
    cache.remember(key, account)
    now[0] += 61
    assert not cache.hit(key)


def test_credential_cache_is_bounded():
    cache = CredentialCache("s", ttl_seconds=60, max_entries=10)
    for _ in range(50):
        account = uuid.uuid4()
        cache.remember(cache.key(account, "h", "p"), account)
    assert len(cache._entries) <= 10
