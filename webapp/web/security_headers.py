"""The headers every answer carries, added in one place (LunaLitestar's send).

- Every answer: `X-Content-Type-Options: nosniff`.
- Pages (HTML, and SVG, which can hold scripts): a Content-Security-Policy that
  allows only the service's own origin and no framing, `X-Frame-Options: DENY`
  for browsers that predate `frame-ancestors`, `Referrer-Policy: same-origin`.
  The pages have no inline script, style or handler, and htmx is told not to
  inject its indicator style (templates/base.html), so nothing needs
  'unsafe-inline'.
- Answers to an authenticated request, and answers that set a cookie:
  `Cache-Control: no-store`, so no shared or browser cache keeps them.

Besides the answers of the application, the HTTP server's own error answers
(webapp/web/http_protocol.py) carry ALWAYS too.
"""

from __future__ import annotations

from collections.abc import Iterable

Headers = list[tuple[bytes, bytes]]

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)

ALWAYS: Headers = [(b"x-content-type-options", b"nosniff")]
PAGE: Headers = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]
NO_STORE = (b"cache-control", b"no-store")

_DOCUMENT_TYPES = (b"text/html", b"image/svg+xml")


def secured(headers: Iterable[tuple[bytes, bytes]], authenticated: bool) -> Headers:
    """The headers of an answer with the security headers added (replaced where
    the answer set its own cache policy for an authenticated request)."""
    result: Headers = []
    page, no_store = False, authenticated
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-type" and value.lower().startswith(_DOCUMENT_TYPES):
            page = True
        elif lowered == b"set-cookie":
            no_store = True
        result.append((name, value))
    if no_store:
        result = [(name, value) for name, value in result if name.lower() != b"cache-control"]
        result.append(NO_STORE)
    result.extend(ALWAYS)
    if page:
        result.extend(PAGE)
    return result
