from __future__ import annotations

import pytest

from webapp.settings import Settings, SettingsError, load_or_create_secret


def test_defaults(monkeypatch, tmp_path):
    for name in ("DATABASE_URL", "API_VERSION", "SECRET_KEY", "PORT", "COOKIE_SECURE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LUNA_ADMIN_VAR_DIR", str(tmp_path))
    settings = Settings.from_env()
    assert settings.api_version == 4 and settings.api_prefix == "/4"
    assert settings.port == 5010 and settings.host == "127.0.0.1"
    assert not settings.secret_key_from_env and len(settings.secret_key) > 40


def test_the_scheduler_is_on_by_default_and_can_be_turned_off(monkeypatch, tmp_path):
    monkeypatch.setenv("LUNA_ADMIN_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("SCHEDULER_ENABLED", raising=False)
    assert Settings.from_env().scheduler_enabled
    monkeypatch.setenv("SCHEDULER_ENABLED", "0")
    assert not Settings.from_env().scheduler_enabled


def test_generated_secret_is_stable(tmp_path):
    assert load_or_create_secret(tmp_path) == load_or_create_secret(tmp_path)
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("API_VERSION", "four"),
        ("API_VERSION", "0"),
        ("COOKIE_SECURE", "maybe"),
        ("LOG_LEVEL", "loud"),
        ("LUNA_ADMIN_ENV", "staging"),
        ("SESSION_LIFETIME", "5"),
        ("SCHEDULER_ENABLED", "sometimes"),
        ("SESSION_IDLE_TIMEOUT", "-1"),
        ("CALLBACK_ALLOWED_NETWORKS", "10.0.0.0/33"),
        ("CALLBACK_ALLOWED_NETWORKS", "10.0.0.0/8,localhost"),
        ("TELEGRAM_API_URL", "http://127.0.0.1:8081"),
        ("TELEGRAM_API_URL", "http://localhost:8081/"),
        ("TELEGRAM_API_URL", "https://api.telegram.org@169.254.169.254/"),
        ("TELEGRAM_API_URL", "http://[::1]/"),
        ("TELEGRAM_API_URL", "http://2130706433/"),
        ("TELEGRAM_API_URL", "ftp://api.telegram.org"),
        ("TRUSTED_PROXIES", "127.0.0.1, proxy.example.com"),
        ("TRUSTED_PROXIES", "10.0.0.0/33"),
        ("REQUEST_READ_TIMEOUT", "0.5"),
        ("LOGIN_MAX_DELAY", "0"),
    ],
)
def test_bad_values_are_refused_with_the_name(monkeypatch, tmp_path, name, value):
    monkeypatch.setenv("LUNA_ADMIN_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("CALLBACK_ALLOWED_NETWORKS", raising=False)
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        Settings.from_env()


def test_an_allowed_network_lets_the_telegram_url_inside(monkeypatch, tmp_path):
    monkeypatch.setenv("LUNA_ADMIN_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:8081")
    monkeypatch.setenv("CALLBACK_ALLOWED_NETWORKS", " 127.0.0.0/8 , 10.1.0.0/16")
    settings = Settings.from_env()
    assert settings.telegram_api_url == "http://127.0.0.1:8081"
    assert str(settings.allowed_networks) == "127.0.0.0/8,10.1.0.0/16"


def test_a_refused_telegram_url_is_named_without_its_password(monkeypatch, tmp_path):
    monkeypatch.setenv("LUNA_ADMIN_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("TELEGRAM_API_URL", "http://bot:hunter22@10.0.0.5/")
    monkeypatch.delenv("CALLBACK_ALLOWED_NETWORKS", raising=False)
    with pytest.raises(SettingsError) as caught:
        Settings.from_env()
    assert "10.0.0.5 (private address)" in str(caught.value)
    assert "hunter22" not in str(caught.value)


def test_idle_timeout_defaults_to_half_an_hour(monkeypatch, tmp_path):
    monkeypatch.setenv("LUNA_ADMIN_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("SESSION_IDLE_TIMEOUT", raising=False)
    assert Settings.from_env().session_idle_timeout == 1800
    monkeypatch.setenv("SESSION_IDLE_TIMEOUT", "0")
    assert Settings.from_env().session_idle_timeout == 0


def test_edge_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("LUNA_ADMIN_VAR_DIR", str(tmp_path))
    for name in ("TRUSTED_PROXIES", "REQUEST_READ_TIMEOUT", "LOGIN_MAX_DELAY"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env()
    assert settings.trusted_proxies == ()  # nobody's X-Forwarded-For is believed
    assert settings.request_read_timeout == 30.0 and settings.login_max_delay == 60
    monkeypatch.setenv("TRUSTED_PROXIES", " 127.0.0.1 , 10.0.0.0/8,::1,")
    assert [str(network) for network in Settings.from_env().trusted_proxies] == [
        "127.0.0.1/32",
        "10.0.0.0/8",
        "::1/128",
    ]
