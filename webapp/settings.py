"""Settings, read from the environment once.

Every field is documented in `.env.example`; `luna-admin check` reports the
insecure ones. Nothing else in the package reads `os.environ`.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from webapp.networks import Network, parse_networks
from webapp.outbound.addresses import AddressRefused, AllowedNetworks
from webapp.outbound.urls import check_url
from webapp.redaction import redact_url

ROOT = Path(__file__).resolve().parent.parent
"""The repository root: templates/, static/, docs/ and var/ live here."""

DEFAULT_DATABASE_URL = "postgresql://postgres@localhost:5432/luna_admin"


class SettingsError(ValueError):
    """A setting has a value the service cannot run with."""


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(name: str, default: float, minimum: float = 0.0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def _choice(name: str, default: str, choices: set[str]) -> str:
    value = os.environ.get(name) or default
    if value.lower() not in choices:
        raise SettingsError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value.lower()


def _networks() -> AllowedNetworks:
    try:
        return AllowedNetworks.parse(os.environ.get("CALLBACK_ALLOWED_NETWORKS", ""))
    except ValueError as error:
        raise SettingsError(f"CALLBACK_ALLOWED_NETWORKS: {error}") from None


def _outbound_url(name: str, default: str) -> str:
    """A URL the service sends requests to, refused at start when its host is a literal
    address (or localhost) that outbound requests may not reach."""
    value = os.environ.get(name) or default
    try:
        check_url(value, _networks())
    except (ValueError, AddressRefused) as error:
        raise SettingsError(f"{name}={redact_url(value)!r}: {error}") from None
    return value


def _network_list(name: str) -> tuple[Network, ...]:
    try:
        return parse_networks(os.environ.get(name, ""))
    except ValueError as error:
        raise SettingsError(f"{name}: {error}") from None


DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_origin(origin: str) -> str | None:
    """`scheme://host[:port]` in lower case without a default port, or None when
    `origin` is not an http(s) origin (a path, user info, another scheme, `null`)."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    host = parts.hostname.lower()
    if ":" in host:  # an IPv6 literal, bracketed again
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _origins(name: str) -> tuple[str, ...]:
    """A comma-separated list of origins (`https://admin.example.com`), normalised."""
    result = []
    for item in (os.environ.get(name) or "").split(","):
        if not item.strip():
            continue
        origin = normalise_origin(item)
        if origin is None:
            raise SettingsError(
                f"{name} must list origins such as https://admin.example.com, got {item.strip()!r}"
            )
        result.append(origin)
    return tuple(result)


def load_or_create_secret(var_dir: Path) -> str:
    """The secret used when SECRET_KEY is unset: generated once, kept in var/.

    Stored in a file so every process on this machine (servers, workers, the
    CLI) signs and checks with the same key, across restarts.
    """
    path = var_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    var_dir.mkdir(parents=True, exist_ok=True)
    candidate = secrets.token_urlsafe(48)
    # O_EXCL: when two processes race, exactly one writes and both read its key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(candidate)
    return candidate


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    """PostgreSQL URL, e.g. postgresql://user:password@host:5432/dbname."""
    api_version: int = 4
    """Prefix of the JSON routes (/4/accounts) and Version.api."""
    secret_key: str = ""
    """Keys the credential cache. Generated into var/ when unset."""
    secret_key_from_env: bool = False
    """Whether SECRET_KEY came from the environment (checked by `luna-admin check`)."""
    session_lifetime: int = 8 * 3600
    """Seconds a sign-in session lasts (absolute, not sliding)."""
    session_idle_timeout: int = 30 * 60
    """Seconds without a request after which a session ends (0: only the absolute lifetime)."""
    cookie_secure: bool = False
    """Send the session cookie only over HTTPS."""
    public_origins: tuple[str, ...] = ()
    """The origins browsers reach the service at, when a proxy in front changes the
    scheme or Host it sees; empty: the request's own scheme and Host
    (webapp/web/origin.py)."""
    production: bool = False
    """LUNA_ADMIN_ENV=production: stricter checks in `luna-admin check`."""
    login_max_failures: int = 5
    """Failed sign-ins for one login from one address before that pair is locked, and
    for one login from all addresses before its guesses are spaced by a delay."""
    login_failure_window: int = 300
    """Seconds without a failure after which failures are forgotten; the length of a lock."""
    login_max_delay: int = 60
    """Cap, in seconds, of the growing delay between guesses at one login."""
    credential_cache_ttl: int = 60
    """Seconds a verified Basic credential is remembered (0 turns the cache off)."""
    request_read_timeout: float = 30.0
    """Seconds a client has to send a request's head, and again its body."""
    trusted_proxies: tuple[Network, ...] = ()
    """Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or
    CIDRs); none by default (webapp/web/client_address.py)."""
    log_level: str = "info"
    log_format: str = "text"
    """text or json."""
    host: str = "127.0.0.1"
    port: int = 5010
    db_pool_size: int = 10
    """Connections each process keeps open to PostgreSQL."""
    workers_in_process: int = 1
    """Task workers run by each `luna-admin serve` process (0: only separate workers)."""
    worker_heartbeat_seconds: float = 2.0
    """How often a worker proves it is alive while it holds a subtask."""
    worker_dead_after_seconds: float = 15.0
    """A subtask whose heartbeat is older than this goes back to the queue."""
    worker_idle_poll_seconds: float = 5.0
    """How often an idle worker looks for work unasked: new work wakes it at once
    (LISTEN/NOTIFY); this poll is the fallback for a lost notification."""
    worker_listen: bool = True
    """Idle workers listen for new work (one PostgreSQL LISTEN connection per process).
    Off: they only poll, every WORKER_IDLE_POLL_SECONDS (for a connection pooler
    that does not pass notifications, such as PgBouncer in transaction mode)."""
    gc_batch_size: int = 20_000
    """Rows removed per batch (one transaction; a cancel takes effect between batches).
    A batch costs a few round trips whatever its size: at 20,000 rows (about 0.1 s)
    they weigh little against the rows, and a cancel still stops within that."""
    subtask_size: int = 100_000
    """Objects per subtask (the unit workers claim)."""
    extraction_batch_size: int = 32
    """Samples handed to the extraction backend at once."""
    extraction_backend: str = ""
    """Name of the extraction backend (empty: the built-in one)."""
    telegram_api_url: str = "https://api.telegram.org"
    """Base URL of the Telegram Bot API (a local fake in tests)."""
    callback_allowed_networks: str = ""
    """Comma-separated CIDRs that callbacks, Telegram and health checks may reach although
    they are loopback, private, link-local... (docs/security.md); empty: none."""
    notify_max_attempts: int = 8
    """Deliveries tried per notification before it is given up (and logged)."""
    notify_backoff_seconds: float = 2.0
    """First retry delay; it doubles each attempt, up to ten minutes."""
    scheduler_enabled: bool = True
    """Whether this process may lead the scheduler (one leader among all processes)."""
    route_stats_enabled: bool = True
    """Count requests per route and month for luna_sys_info and the system page."""
    audit_retention_days: int = 365
    """Audit events older than this are deleted by housekeeping (0 keeps them all)."""
    var_dir: Path = field(default_factory=lambda: ROOT / "var")
    """Local state: the generated secret, the development database cluster."""

    @property
    def api_prefix(self) -> str:
        return f"/{self.api_version}"

    @property
    def allowed_networks(self) -> AllowedNetworks:
        """CALLBACK_ALLOWED_NETWORKS parsed (checked by from_env)."""
        return AllowedNetworks.parse(self.callback_allowed_networks)

    @classmethod
    def from_env(cls) -> Settings:
        var_dir = Path(os.environ.get("LUNA_ADMIN_VAR_DIR") or ROOT / "var")
        secret = os.environ.get("SECRET_KEY", "")
        return cls(
            database_url=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            api_version=_int("API_VERSION", 4, minimum=1),
            secret_key=secret or load_or_create_secret(var_dir),
            secret_key_from_env=bool(secret),
            session_lifetime=_int("SESSION_LIFETIME", 8 * 3600, minimum=60),
            session_idle_timeout=_int("SESSION_IDLE_TIMEOUT", 30 * 60, minimum=0),
            cookie_secure=_bool("COOKIE_SECURE", False),
            public_origins=_origins("PUBLIC_ORIGINS"),
            production=_choice("LUNA_ADMIN_ENV", "development", {"development", "production"})
            == "production",
            login_max_failures=_int("LOGIN_MAX_FAILURES", 5, minimum=1),
            login_failure_window=_int("LOGIN_FAILURE_WINDOW", 300, minimum=1),
            login_max_delay=_int("LOGIN_MAX_DELAY", 60, minimum=1),
            credential_cache_ttl=_int("CREDENTIAL_CACHE_TTL", 60, minimum=0),
            request_read_timeout=_float("REQUEST_READ_TIMEOUT", 30.0, minimum=1.0),
            trusted_proxies=_network_list("TRUSTED_PROXIES"),
            log_level=_choice("LOG_LEVEL", "info", {"debug", "info", "warning", "error"}),
            log_format=_choice("LOG_FORMAT", "text", {"text", "json"}),
            host=os.environ.get("HOST") or "127.0.0.1",
            port=_int("PORT", 5010, minimum=1),
            db_pool_size=_int("DB_POOL_SIZE", 10, minimum=1),
            workers_in_process=_int("WORKERS_IN_PROCESS", 1, minimum=0),
            worker_heartbeat_seconds=_float("WORKER_HEARTBEAT_SECONDS", 2.0, minimum=0.1),
            worker_dead_after_seconds=_float("WORKER_DEAD_AFTER_SECONDS", 15.0, minimum=1.0),
            worker_idle_poll_seconds=_float("WORKER_IDLE_POLL_SECONDS", 5.0, minimum=0.05),
            worker_listen=_bool("WORKER_LISTEN", True),
            gc_batch_size=_int("GC_BATCH_SIZE", 20_000, minimum=1),
            subtask_size=_int("SUBTASK_SIZE", 100_000, minimum=1),
            extraction_batch_size=_int("EXTRACTION_BATCH_SIZE", 32, minimum=1),
            extraction_backend=os.environ.get("EXTRACTION_BACKEND", ""),
            telegram_api_url=_outbound_url("TELEGRAM_API_URL", "https://api.telegram.org"),
            callback_allowed_networks=str(_networks()),
            notify_max_attempts=_int("NOTIFY_MAX_ATTEMPTS", 8, minimum=1),
            notify_backoff_seconds=_float("NOTIFY_BACKOFF_SECONDS", 2.0, minimum=0.0),
            scheduler_enabled=_bool("SCHEDULER_ENABLED", True),
            route_stats_enabled=_bool("ROUTE_STATS_ENABLED", True),
            audit_retention_days=_int("AUDIT_RETENTION_DAYS", 365, minimum=0),
            var_dir=var_dir,
        )


def database_url_from_env() -> str:
    """The database URL alone, for piccolo_conf.py (which must not create secrets)."""
    return os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
