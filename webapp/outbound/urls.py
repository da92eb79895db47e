"""The check of a URL when it is stored (a callback) or configured (TELEGRAM_API_URL).

Only what the URL itself says is checked here: a literal address in any
spelling, or a localhost name. A name is resolved (and every address checked)
when a request is made, by webapp/outbound/client.py.
"""

from __future__ import annotations

import httpx

from webapp.outbound.addresses import AddressRefused, AllowedNetworks, check_host


def check_url(url: str, allowed: AllowedNetworks) -> None:
    """ValueError for a URL the client could not use; AddressRefused for a refused host.

    The host is read by httpx, the client that will make the request, so both
    agree on where `http://good@127.0.0.1` goes (127.0.0.1).
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise ValueError(f"not a usable URL: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    host = parsed.raw_host.decode("ascii", "replace")
    if not host:
        raise ValueError("the URL names no host")
    check_host(host, allowed)


__all__ = ["AddressRefused", "check_url"]
