"""The one redaction policy (webapp/redaction.py) and keeping masked secrets on edit."""

from __future__ import annotations

import pytest

from webapp.notify.policy import keep_secrets, mask, normalise
from webapp.redaction import MASK, is_secret_name, redact, redact_url, scrub, secret_values
from webapp.web.errors import LunaError


@pytest.mark.parametrize(
    "name",
    [
        "Private-Key",
        "X-Access-Key",
        "X-Api-Key",
        "X-APIKey",
        "apikey",
        "Authorization",
        "Proxy-Authorization",
        "X-Auth-Token",
        "accessToken",
        "access_token",
        "client_secret",
        "Cookie",
        "X-Session-Id",
        "X-Hub-Signature-256",
        "X-Amz-Security-Token",
        "sslpassword",
        "passwd",
        "pass",
        "sig",
        "SECRET_KEY",
        "X-Credentials",
    ],
)
def test_names_that_mean_a_secret(name):
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    ["Content-Type", "X-Team", "User-Agent", "Keep-Alive", "team", "login", "url", "passage"],
)
def test_names_that_do_not(name):
    assert not is_secret_name(name)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://h/x?token=abc&team=ops", f"https://h/x?token={MASK}&team=ops"),
        ("https://h/x?X-Amz-Signature=zz&a=1", f"https://h/x?X-Amz-Signature={MASK}&a=1"),
        ("https://h/#access_token=abc&state=1", f"https://h/#access_token={MASK}&state=1"),
        ("https://ghp_abc@h/repo", f"https://{MASK}@h/repo"),
        ("postgresql://u:p@h/d?sslpassword=x", f"postgresql://u:{MASK}@h/d?sslpassword={MASK}"),
        ("postgresql://postgres@/luna?host=/run", "postgresql://postgres@/luna?host=/run"),
        ("host=db password='a b' dbname=d", f"host=db password={MASK} dbname=d"),
        ("https://h/path?team=a%20b", "https://h/path?team=a%20b"),
    ],
)
def test_urls_keep_everything_but_their_secrets(url, shown):
    assert redact_url(url) == shown


def test_redact_walks_values_by_their_own_names():
    value = {
        "authorization": {"type": "basic", "login": "ops", "password": "pw"},
        "headers": {"Private-Key": "k", "X-Team": "t", "Cookie": ""},
        "url": "https://h/?token=t",
        "tokens": ["a", "b"],
        "session_count": 3,
    }
    assert redact(value) == {
        "authorization": {"type": "basic", "login": "ops", "password": MASK},
        "headers": {"Private-Key": MASK, "X-Team": "t", "Cookie": ""},
        "url": f"https://h/?token={MASK}",
        "tokens": [MASK, MASK],
        "session_count": 3,
    }


def test_scrub_removes_every_secret_of_a_callback_from_free_text():
    callback = {
        "type": "http",
        "url": "https://h/hook?token=tok%2B1&sig=s1g",
        "params": {"headers": {"X-Access-Key": "ak-1"}},
    }
    found = secret_values(callback)
    assert {"tok%2B1", "tok+1", "s1g", "ak-1"} <= found
    text = "HTTP 400: bad key ak-1 for https://h/hook?token=tok%2B1&sig=s1g (tok+1)"
    assert (
        scrub(text, found)
        == f"HTTP 400: bad key {MASK} for https://h/hook?token={MASK}&sig={MASK} ({MASK})"
    )


def policy_with(url: str) -> dict:
    return normalise({"task_callbacks": [{"type": "http", "url": url}]})


def test_masked_url_parameters_are_kept_on_edit():
    stored = policy_with("https://h/hook?token=t1&team=a&token=t2#sig=s3")
    shown = mask(stored)
    assert (
        shown["task_callbacks"][0]["url"]
        == f"https://h/hook?token={MASK}&team=a&token={MASK}#sig={MASK}"
    )
    shown["task_callbacks"][0]["url"] = shown["task_callbacks"][0]["url"].replace(
        "team=a", "team=b"
    )
    kept = keep_secrets(shown, stored)
    assert kept["task_callbacks"][0]["url"] == "https://h/hook?token=t1&team=b&token=t2#sig=s3"


def test_a_masked_url_parameter_with_nothing_to_keep_is_refused():
    with pytest.raises(LunaError) as caught:
        keep_secrets(policy_with(f"https://h/hook?token={MASK}"), None)
    assert caught.value.params["path"] == "task_callbacks.0.url"
    stored = policy_with("https://h/hook?token=t1")
    moved = policy_with(f"https://elsewhere/hook?token={MASK}")
    with pytest.raises(LunaError):
        keep_secrets(moved, stored)
