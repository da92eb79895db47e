"""The one redaction policy of every output: answers, pages, audit details, logs, /config.

What is stored keeps its secrets (callbacks must be sent with them); whatever
shows a stored value passes it through here first. A secret is:

- a value under a name that means a secret: a header (`Private-Key`,
  `X-Access-Key`), a JSON field (`password`, `token`), a query parameter
  (`?token=`, `?sig=`), a libpq keyword (`sslpassword=`) or a setting
  (`SECRET_KEY`). The rule is on the parts of the name (split at `-`, `_`,
  `.`, spaces and camelCase): a part that is, begins or ends with one of
  SECRET_WORDS (`key`, `token`, `secret`, `password`, `auth`, `cookie`,
  `session`, `signature`, `credential`, ...) makes the name secret;
- the user-info of a URL: its password, and a lone user name of an http(s)
  URL (a token is often sent that way); a database role name is kept.

Each is replaced by MASK. An edit that sends MASK back keeps the stored value
(webapp/notify/policy.py `keep_secrets`), so a value read from a page or an
answer can be saved again without ever being seen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "********"
"""What a secret looks like in any output."""

SECRET_WORDS = (
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "auth",
    "authorization",
    "cookie",
    "session",
    "signature",
    "credential",
    "credentials",
    "private",
    "bearer",
    "jwt",
    "salt",
    "passfile",
)
"""A name part equal to, beginning or ending with one of these means a secret."""

SECRET_PARTS = frozenset({"pass", "pw", "sig", "otp", "sid", "csrf", "xsrf"})
"""Short parts that mean a secret only on their own (`?pass=`, `?sig=`), not inside a word."""

_NAME_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_SECRET_AFFIX = re.compile(rf"^(?:{'|'.join(SECRET_WORDS)})|(?:{'|'.join(SECRET_WORDS)})$")
_DSN_PAIR = re.compile(
    r"(?P<key>[A-Za-z_][A-Za-z0-9_]*)(?P<eq>\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'|\S+)"
)
_HTTP_SCHEMES = {"http", "https"}
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s,;]+")
_BOT_TOKEN = re.compile(r"(?<=/bot)[0-9]+:[A-Za-z0-9_-]+")
"""A Telegram bot token in a Bot API path (/bot123:ABC/sendMessage)."""


def name_parts(name: str) -> list[str]:
    """`X-Access-Key` -> [x, access, key]; `accessToken` -> [access, token]."""
    return [part.lower() for part in _NAME_PARTS.findall(str(name))]


def is_secret_name(name: str) -> bool:
    """Whether a value under this name (header, field, parameter, setting) is a secret."""
    return any(part in SECRET_PARTS or _SECRET_AFFIX.search(part) for part in name_parts(name))


def _mask_pairs(text: str) -> str:
    """`a=1&token=x` with the values of secret names masked; the rest kept byte for byte."""
    pieces = []
    for piece in text.split("&"):
        key, eq, value = piece.partition("=")
        if eq and value and is_secret_name(unquote(key)):
            piece = f"{key}={MASK}"
        pieces.append(piece)
    return "&".join(pieces)


def redact_url(value: str) -> str:
    """A URL with its user-info password (or a lone http user), and the values of
    secret query and fragment parameters, masked; anything else unchanged.

    A libpq key/value string (`host=db password=x`) gets its secret values masked."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return value
    if not parts.scheme or not parts.netloc:
        return redact_dsn(value)
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at:
        user, colon, password = userinfo.partition(":")
        if colon and password:
            netloc = f"{user}:{MASK}@{hostport}"
        elif parts.scheme.lower() in _HTTP_SCHEMES and user:
            netloc = f"{MASK}@{hostport}"
    query = _mask_pairs(parts.query) if parts.query else parts.query
    fragment = _mask_pairs(parts.fragment) if "=" in parts.fragment else parts.fragment
    path = _BOT_TOKEN.sub(MASK, parts.path)
    if (netloc, path, query, fragment) == (parts.netloc, parts.path, parts.query, parts.fragment):
        return value
    return urlunsplit((parts.scheme, netloc, path, query, fragment))


def redact_text(value: str) -> str:
    """Free text (a setting's value) with every URL in it passed through `redact_url`
    and the secret `key=value` pairs around them masked."""
    pieces: list[str] = []
    end = 0
    for match in _URL_IN_TEXT.finditer(value):
        pieces.append(redact_dsn(value[end : match.start()]))
        pieces.append(redact_url(match[0]))
        end = match.end()
    pieces.append(redact_dsn(value[end:]))
    return "".join(pieces)


def redact_dsn(value: str) -> str:
    """`host=db sslpassword=x` -> `host=db sslpassword=********`."""

    def masked(match: re.Match[str]) -> str:
        if is_secret_name(match["key"]):
            return f"{match['key']}{match['eq']}{MASK}"
        return match[0]

    return _DSN_PAIR.sub(masked, value)


def looks_like_url(value: str) -> bool:
    return "://" in value[:20]


def redact(value: Any, name: str = "") -> Any:
    """A copy of `value` fit for any output.

    Strings under a secret name become MASK (when not empty); URLs are passed
    through `redact_url`; mappings and lists are walked, each value judged by
    its own key (so `authorization.login` stays, `authorization.password`
    goes, and a headers mapping is judged header by header)."""
    if isinstance(value, Mapping):
        return {str(key): redact(item, str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item, name) for item in value]
    if isinstance(value, str) and value:
        if name and is_secret_name(name):
            return MASK
        if looks_like_url(value):
            return redact_url(value)
    return value


def secret_values(value: Any, name: str = "") -> set[str]:
    """Every secret `redact` would mask in `value` (to scrub from free text, such as
    an error message that quotes a URL or a header)."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        for key, item in value.items():
            found |= secret_values(item, str(key))
    elif isinstance(value, list | tuple):
        for item in value:
            found |= secret_values(item, name)
    elif isinstance(value, str) and value:
        if name and is_secret_name(name):
            found.add(value)
        elif looks_like_url(value):
            found |= _url_secrets(value)
    return found


def secret_params(text: str) -> dict[str, list[str]]:
    """The values (as written) of the secret parameters of a query or fragment
    (`a=1&token=x`), by decoded name, in order."""
    found: dict[str, list[str]] = {}
    for piece in text.split("&"):
        key, eq, value = piece.partition("=")
        if eq and is_secret_name(unquote(key)):
            found.setdefault(unquote(key), []).append(value)
    return found


def _url_secrets(url: str) -> set[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return set()
    found = {parts.password} if parts.password else set()
    for text in (parts.query, parts.fragment):
        for values in secret_params(text).values():
            found |= {item for value in values if value for item in (value, unquote(value))}
    return found


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each secret replaced by MASK (longest first, so
    a secret containing another is masked whole)."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= 3:  # masking "a" everywhere would garble, not protect
            text = text.replace(secret, MASK)
    return text
