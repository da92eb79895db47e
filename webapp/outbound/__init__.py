"""Outbound requests (callbacks, Telegram, health checks of outside services) and the
addresses they may reach.

    addresses.py   which addresses and names are refused; CALLBACK_ALLOWED_NETWORKS
    urls.py        the check of a URL when it is stored or configured (literals, localhost)
    client.py      the HTTP client that checks every resolved address where it connects

See docs/security.md, "Outbound requests".
"""
