"""The notification policy: schema, defaults, masking, keeping secrets on edit;
and the small pure rules of delivery (backoff, Telegram text, timeouts)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from webapp.notify.dispatcher import MAX_BACKOFF_SECONDS, retry_delay
from webapp.notify.policy import (
    MASK,
    NOTIFICATION_POLICY_SCHEMA,
    enabled_callbacks,
    keep_secrets,
    mask,
    normalise,
)
from webapp.notify.senders import callback_timeout, telegram_text
from webapp.web.body import validate
from webapp.web.errors import LunaError

TOKEN = "1111111111:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"


def http_callback(**extra: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "enable": 1,
        "url": "https://hooks.example.com/luna?x=1",
        "authorization": {"type": "basic", "login": "login", "password": "password"},
        "params": {"timeout": 60, "content_type": "application/json", "headers": {}},
        **extra,
    }


def telegram_callback(**extra: Any) -> dict[str, Any]:
    return {
        "type": "telegram",
        "enable": 1,
        "token": TOKEN,
        "chat_id": 111111111,
        "params": {"timeout": 60},
        **extra,
    }


def reference_policy() -> dict[str, Any]:
    """The reference's example policy (plus the url, which its dump lost)."""
    return {
        "enable": 1,
        "task_callbacks": [http_callback(), telegram_callback()],
        "subtask_callbacks": [http_callback(), telegram_callback()],
    }


def rejection(data: Any, schema: dict[str, Any] = NOTIFICATION_POLICY_SCHEMA) -> LunaError:
    with pytest.raises(LunaError) as caught:
        validate(data, schema)
    assert caught.value.kind.code == 12022
    return caught.value


# -- schema ------------------------------------------------------------------


def test_the_reference_policy_and_the_smallest_policies_are_valid() -> None:
    validate(reference_policy(), NOTIFICATION_POLICY_SCHEMA)
    validate({}, NOTIFICATION_POLICY_SCHEMA)
    validate({"enable": 0}, NOTIFICATION_POLICY_SCHEMA)
    validate(
        {
            "task_callbacks": [
                {"type": "http", "url": "http://10.0.0.7:8080/hook"},
                {"type": "http", "url": "http://[::1]:9000"},
                {"type": "telegram", "token": "1:x", "chat_id": -1001234567890},
            ]
        },
        NOTIFICATION_POLICY_SCHEMA,
    )


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/x",
        "hooks.example.com/x",
        "http://",
        "http:///path",
        "https://:8080/x",
        "http://user:secret@hooks.example.com/x",
        "http://hooks example.com/",
        "http://hooks.example.com/a b",
        "",
        123,
        None,
        ["http://hooks.example.com"],
    ],
)
def test_a_bad_url_is_refused_with_its_path(url: Any) -> None:
    error = rejection({"task_callbacks": [{"type": "http", "url": url}]})
    assert error.params["path"] == "task_callbacks.0.url"
    assert "task_callbacks.0.url" in error.detail


def test_a_url_is_required_and_named_when_missing() -> None:
    error = rejection({"subtask_callbacks": [http_callback(), {"type": "http"}]})
    assert error.params["path"] == "subtask_callbacks.1.url"


@pytest.mark.parametrize("token", ["abc", "123", "123:", ":abc", "123:a b", "123:ab/c", 123])
def test_a_bad_telegram_token_is_refused_with_its_path(token: Any) -> None:
    error = rejection({"task_callbacks": [telegram_callback(token=token)]})
    assert error.params["path"] == "task_callbacks.0.token"


@pytest.mark.parametrize(
    ("policy", "path"),
    [
        ({"enable": 1, "callbacks": []}, ""),
        ({"task_callbacks": [http_callback(method="PUT")]}, "task_callbacks.0"),
        ({"task_callbacks": [telegram_callback(url="http://x")]}, "task_callbacks.0"),
        (
            {"task_callbacks": [http_callback(params={"timeout": 5, "retries": 3})]},
            "task_callbacks.0.params",
        ),
        (
            {"task_callbacks": [telegram_callback(params={"timeout": 5, "headers": {}})]},
            "task_callbacks.0.params",
        ),
        (
            {
                "task_callbacks": [
                    http_callback(
                        authorization={"type": "basic", "login": "a", "password": "b", "x": 1}
                    )
                ]
            },
            "task_callbacks.0.authorization",
        ),
    ],
)
def test_unknown_fields_are_refused_everywhere(policy: dict[str, Any], path: str) -> None:
    error = rejection(policy)
    assert error.params["path"] == path
    assert "Additional properties" in error.params["message"]


@pytest.mark.parametrize(
    ("policy", "path"),
    [
        ({"enable": 2}, "enable"),
        ({"enable": True}, "enable"),
        ({"task_callbacks": [{"url": "http://x"}]}, "task_callbacks.0.type"),
        ({"task_callbacks": [{"type": "smtp"}]}, "task_callbacks.0.type"),
        ({"task_callbacks": [http_callback(enable=3)]}, "task_callbacks.0.enable"),
        ({"task_callbacks": [telegram_callback(chat_id="111")]}, "task_callbacks.0.chat_id"),
        ({"task_callbacks": [telegram_callback(chat_id=1.5)]}, "task_callbacks.0.chat_id"),
        ({"task_callbacks": [{"type": "telegram", "token": TOKEN}]}, "task_callbacks.0.chat_id"),
        (
            {"task_callbacks": [http_callback(params={"timeout": 0})]},
            "task_callbacks.0.params.timeout",
        ),
        (
            {"task_callbacks": [telegram_callback(params={"timeout": 3601})]},
            "task_callbacks.0.params.timeout",
        ),
        (
            {"task_callbacks": [http_callback(params={"timeout": "60"})]},
            "task_callbacks.0.params.timeout",
        ),
        (
            {"task_callbacks": [http_callback(params={"headers": {"X-A": 1}})]},
            "task_callbacks.0.params.headers.X-A",
        ),
        (
            {"task_callbacks": [http_callback(params={"headers": {"X-A": "a\r\nX-B: b"}})]},
            "task_callbacks.0.params.headers.X-A",
        ),
        (
            {"task_callbacks": [http_callback(params={"headers": {"X-A": "caf\u00e9"}})]},
            "task_callbacks.0.params.headers.X-A",
        ),
        (
            {"task_callbacks": [http_callback(params={"headers": {"bad name": "a"}})]},
            "task_callbacks.0.params.headers",
        ),
        (
            {
                "task_callbacks": [
                    http_callback(params={"headers": {f"X-H{i}": "v" for i in range(21)}})
                ]
            },
            "task_callbacks.0.params.headers",
        ),
        (
            {"task_callbacks": [http_callback(params={"content_type": "json"})]},
            "task_callbacks.0.params.content_type",
        ),
        (
            {
                "task_callbacks": [
                    http_callback(authorization={"type": "bearer", "login": "a", "password": "b"})
                ]
            },
            "task_callbacks.0.authorization.type",
        ),
        (
            {
                "task_callbacks": [
                    http_callback(authorization={"type": "basic", "login": "a:b", "password": ""})
                ]
            },
            "task_callbacks.0.authorization.login",
        ),
        ({"task_callbacks": [http_callback()] * 11}, "task_callbacks"),
        ({"subtask_callbacks": {"type": "http"}}, "subtask_callbacks"),
    ],
)
def test_bad_values_are_refused_with_their_path(policy: dict[str, Any], path: str) -> None:
    assert rejection(policy).params["path"] == path


def test_twenty_headers_and_ten_callbacks_are_allowed() -> None:
    headers = {f"X-H{i}": "v" for i in range(20)}
    validate(
        {"task_callbacks": [http_callback(params={"headers": headers})] * 10},
        NOTIFICATION_POLICY_SCHEMA,
    )


def test_the_schema_works_embedded_in_a_task_body() -> None:
    # webapp/tasks/schemas.py embeds it under "notification_policy".
    body_schema = {
        "type": "object",
        "properties": {"notification_policy": NOTIFICATION_POLICY_SCHEMA},
        "additionalProperties": False,
    }
    validate({"notification_policy": reference_policy()}, body_schema)
    error = rejection(
        {"notification_policy": {"task_callbacks": [{"type": "http", "url": "ftp://x"}]}},
        body_schema,
    )
    assert error.params["path"] == "notification_policy.task_callbacks.0.url"


def test_a_masked_policy_read_back_is_valid_as_a_body() -> None:
    validate(mask(reference_policy()), NOTIFICATION_POLICY_SCHEMA)


# -- defaults ----------------------------------------------------------------


def test_normalise_fills_every_default() -> None:
    assert normalise({}) == {"enable": 1, "task_callbacks": [], "subtask_callbacks": []}
    assert normalise(None) == {"enable": 1, "task_callbacks": [], "subtask_callbacks": []}
    policy = {
        "task_callbacks": [{"type": "http", "url": "http://h/x"}],
        "subtask_callbacks": [{"type": "telegram", "token": TOKEN, "chat_id": 5}],
    }
    assert normalise(policy) == {
        "enable": 1,
        "task_callbacks": [
            {
                "type": "http",
                "enable": 1,
                "url": "http://h/x",
                "params": {"timeout": 60, "content_type": "application/json", "headers": {}},
            }
        ],
        "subtask_callbacks": [
            {
                "type": "telegram",
                "enable": 1,
                "token": TOKEN,
                "chat_id": 5,
                "params": {"timeout": 60},
            }
        ],
    }


def test_normalise_keeps_what_was_given_and_does_not_touch_its_argument() -> None:
    policy = {
        "enable": 0,
        "task_callbacks": [
            {"type": "http", "url": "http://h/x", "enable": 0, "params": {"timeout": 5}}
        ],
    }
    before = copy.deepcopy(policy)
    result = normalise(policy)
    assert policy == before
    callback = result["task_callbacks"][0]
    assert result["enable"] == 0
    assert callback["enable"] == 0
    assert callback["params"] == {
        "timeout": 5,
        "content_type": "application/json",
        "headers": {},
    }
    assert normalise(json.dumps(policy)) == result  # jsonb as text, as asyncpg returns it


def test_normalised_reference_policy_is_unchanged() -> None:
    assert normalise(reference_policy()) == reference_policy()


def test_enabled_callbacks_honour_both_switches() -> None:
    policy = {
        "task_callbacks": [
            http_callback(),
            telegram_callback(enable=0),
            {"type": "http", "url": "http://h"},
        ],
    }
    assert [cb["type"] for cb in enabled_callbacks(policy, "task_callbacks")] == ["http", "http"]
    assert enabled_callbacks({**policy, "enable": 0}, "task_callbacks") == []
    assert enabled_callbacks(policy, "subtask_callbacks") == []


# -- masking -----------------------------------------------------------------


def test_mask_hides_passwords_tokens_and_credential_headers() -> None:
    policy = reference_policy()
    policy["task_callbacks"][0]["params"]["headers"] = {
        "X-Api-Key": "k-123",
        "Authorization": "Bearer abc",
        "X-Trace": "visible",
    }
    before = copy.deepcopy(policy)
    masked = mask(policy)
    assert policy == before
    for name in ("task_callbacks", "subtask_callbacks"):
        http, telegram = masked[name]
        assert http["authorization"] == {"type": "basic", "login": "login", "password": MASK}
        assert telegram["token"] == MASK
        assert telegram["chat_id"] == 111111111
    assert masked["task_callbacks"][0]["params"]["headers"] == {
        "X-Api-Key": MASK,
        "Authorization": MASK,
        "X-Trace": "visible",
    }
    text = json.dumps(masked)
    assert 'password": "password' not in text and TOKEN not in text and "k-123" not in text


def test_mask_accepts_stored_text_and_empty_policies() -> None:
    assert mask(json.dumps(reference_policy()))["task_callbacks"][1]["token"] == MASK
    assert mask(None) == {}
    assert mask({"enable": 1}) == {"enable": 1}


# -- keeping secrets on edit -----------------------------------------------------


def test_a_policy_read_back_and_sent_again_keeps_its_secrets() -> None:
    stored = reference_policy()
    stored["task_callbacks"][0]["params"]["headers"] = {"X-Api-Key": "k-123", "X-A": "a"}
    edited = mask(stored)
    edited["task_callbacks"][0]["params"]["timeout"] = 5
    edited["enable"] = 0
    kept = keep_secrets(edited, stored)
    expected = copy.deepcopy(stored)
    expected["task_callbacks"][0]["params"]["timeout"] = 5
    expected["enable"] = 0
    assert kept == expected
    assert keep_secrets(json.dumps(edited), json.dumps(stored)) == expected


def test_new_secrets_replace_the_stored_ones() -> None:
    stored = reference_policy()
    edited = mask(stored)
    edited["task_callbacks"][0]["authorization"]["password"] = "new-password"
    edited["task_callbacks"][1]["token"] = "222:bbb"
    kept = keep_secrets(edited, stored)
    assert kept["task_callbacks"][0]["authorization"]["password"] == "new-password"
    assert kept["task_callbacks"][1]["token"] == "222:bbb"
    assert kept["subtask_callbacks"] == stored["subtask_callbacks"]


def test_a_mask_is_matched_by_index_and_type_only() -> None:
    stored = reference_policy()
    swapped = mask(stored)
    swapped["task_callbacks"].reverse()  # telegram first now: types differ at both indexes
    with pytest.raises(LunaError) as caught:
        keep_secrets(swapped, stored)
    assert caught.value.kind.code == 12022
    assert caught.value.params["path"] == "task_callbacks.0.token"

    appended = mask(stored)
    appended["task_callbacks"].append(telegram_callback(token=MASK))
    with pytest.raises(LunaError) as caught:
        keep_secrets(appended, stored)
    assert caught.value.params["path"] == "task_callbacks.2.token"


def test_a_stored_password_does_not_follow_the_url_to_another_host() -> None:
    stored = reference_policy()
    moved = mask(stored)
    moved["task_callbacks"][0]["url"] = "https://elsewhere.example.org/luna"
    with pytest.raises(LunaError) as caught:
        keep_secrets(moved, stored)
    assert caught.value.params["path"] == "task_callbacks.0.authorization.password"

    # Another path on the same host is the same destination.
    same_host = mask(stored)
    same_host["task_callbacks"][0]["url"] = "https://HOOKS.example.com/other"
    kept = keep_secrets(same_host, stored)
    assert kept["task_callbacks"][0]["authorization"]["password"] == "password"


def test_a_masked_secret_header_without_a_stored_value_is_refused() -> None:
    stored = reference_policy()
    edited = mask(stored)
    edited["task_callbacks"][0]["params"]["headers"] = {"X-Api-Key": MASK}
    with pytest.raises(LunaError) as caught:
        keep_secrets(edited, stored)
    assert caught.value.params["path"] == "task_callbacks.0.params.headers.X-Api-Key"
    # An ordinary header whose value happens to be eight stars is just a value.
    edited["task_callbacks"][0]["params"]["headers"] = {"X-Stars": MASK}
    assert keep_secrets(edited, stored)["task_callbacks"][0]["params"]["headers"] == {
        "X-Stars": MASK
    }


def test_a_new_policy_may_not_carry_masked_secrets() -> None:
    with pytest.raises(LunaError) as caught:
        keep_secrets(mask(reference_policy()), None)
    assert caught.value.params["path"] == "task_callbacks.0.authorization.password"
    assert keep_secrets(reference_policy(), None) == reference_policy()


# -- delivery rules ----------------------------------------------------------


def test_retry_delays_double_from_the_setting_up_to_ten_minutes() -> None:
    assert [retry_delay(n, 2.0) for n in range(1, 6)] == [2.0, 4.0, 8.0, 16.0, 32.0]
    assert retry_delay(9, 2.0) == 512.0
    assert retry_delay(10, 2.0) == MAX_BACKOFF_SECONDS == 600.0
    assert retry_delay(10_000, 2.0) == 600.0
    assert retry_delay(3, 0.0) == 0.0


def test_telegram_text_is_readable() -> None:
    assert telegram_text({"task_id": 12, "task_status": 5, "task_type": 4}) == (
        "luna-admin: task 12 (gc) is done"
    )
    assert telegram_text(
        {"task_id": 3, "task_status": 3, "task_type": 8, "error": "backend unavailable"}
    ) == ("luna-admin: task 3 (additional_extract) has failed: backend unavailable")
    assert telegram_text(
        {"task_id": 12, "task_status": 5, "task_type": 4, "result_url": "/4/tasks/12/result"}
    ) == ("luna-admin: task 12 (gc) is done\nresult: /4/tasks/12/result")
    assert (
        telegram_text(
            {
                "task_id": 12,
                "subtask_id": 40,
                "subtask_status": 1,
                "count_task_parts_done": 3,
                "count_task_parts_all": 10,
            }
        )
        == "luna-admin: task 12, subtask 40 is in progress (3 of 10 parts done)"
    )


def test_callback_timeout_defaults_to_sixty_seconds() -> None:
    assert callback_timeout({"type": "http"}) == 60.0
    assert callback_timeout({"params": {"timeout": 5}}) == 5.0
    assert callback_timeout({"params": {"timeout": "5"}}) == 60.0


@pytest.mark.parametrize(
    "url", ["http://[6aDf.e.c:]/hook", "https://[::1/x", "http://example.com:99999/hook"]
)
def test_a_url_that_could_never_be_delivered_to_is_refused_when_stored(url: str) -> None:
    """The schema's pattern lets these through; every delivery to them would fail."""
    policy = {"task_callbacks": [{"type": "http", "url": url}]}
    with pytest.raises(LunaError) as caught:
        keep_secrets(normalise(policy), None)
    assert caught.value.params["path"] == "task_callbacks.0.url"


def test_an_ipv6_callback_url_is_kept() -> None:
    policy = {"task_callbacks": [{"type": "http", "url": "http://[::1]:8080/hook"}]}
    assert (
        keep_secrets(normalise(policy), None)["task_callbacks"][0]["url"]
        == policy["task_callbacks"][0]["url"]
    )
