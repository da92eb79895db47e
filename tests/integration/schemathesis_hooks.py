"""Schemathesis hooks for the fuzz run (tests/integration/test_openapi_fuzz.py),
loaded by the schemathesis CLI through SCHEMATHESIS_HOOKS.

The run signs in as the default admin with Basic credentials on every request,
so two operations could lock it out of the server it is testing:

- `PATCH /{api}/login` changes the password of the account that sends it. A
  body the route would accept gets the password the run signs in with, so the
  route runs for real (hash, sessions ended, cookie issued) and the password
  stays the same. Bodies the route refuses are sent as generated.
- `DELETE /{api}/accounts/{id}` (and its page twin) of the default admin would
  succeed as soon as the run has created another admin account. The id of the
  default admin (LUNA_FUZZ_PROTECTED_ACCOUNT) is swapped for an id nobody has.

Callbacks stay on this machine: the server delivers the notifications of the
tasks the run creates, so an http callback the server would store (a name, or
an address outside the network: docs/security.md) has its scheme, host and
port replaced by the local stub's (LUNA_FUZZ_CALLBACK_BASE). Callbacks the
server refuses when stored (an address inside the network, in any spelling)
are sent as generated, so the refusal is fuzzed too.

Nothing else is changed: every other request goes out as generated, but for
one kind of generated query that is dropped: a parameter whose value is null or
an empty list or object. On the wire that is `name=`, which the document allows
(allowEmptyValue: an empty parameter counts as not given), so schemathesis
would report a "negative" request that is valid as sent.

One workaround for the tool itself: CPython 3.11 miscounts recursion when two
threads run `ast.parse` at once ("SystemError: AST constructor recursion depth
mismatch"), which Hypothesis does the first time it describes a strategy, and
schemathesis's workers are threads. `ast.parse` is made to take one lock.
"""

from __future__ import annotations

import ast
import os
import re
import sys
import threading
from typing import Any

import schemathesis
from jsonschema import Draft7Validator

from webapp.accounts.service import PASSWORD_SCHEMA
from webapp.outbound.addresses import AddressRefused, AllowedNetworks
from webapp.outbound.urls import check_url

PASSWORD = os.environ.get("LUNA_FUZZ_PASSWORD", "root")
PROTECTED_ACCOUNT = os.environ.get("LUNA_FUZZ_PROTECTED_ACCOUNT", "")
NOBODY = "00000000-0000-4000-8000-000000000000"
CALLBACK_BASE = os.environ.get("LUNA_FUZZ_CALLBACK_BASE", "")
_PASSWORD_BODY = Draft7Validator(PASSWORD_SCHEMA)

if sys.version_info < (3, 12):
    _parse = ast.parse
    _parse_lock = threading.Lock()

    def _locked_parse(*args: Any, **kwargs: Any) -> Any:
        with _parse_lock:
            return _parse(*args, **kwargs)

    ast.parse = _locked_parse


@schemathesis.hook
def filter_query(context: Any, query: dict[str, Any] | None) -> bool:
    return not any(value is None or value in ({}, []) for value in (query or {}).values())


def _keep_callbacks_local(value: Any) -> None:
    """Point every http callback the server would store and call at the local stub."""
    if isinstance(value, list):
        for item in value:
            _keep_callbacks_local(item)
        return
    if not isinstance(value, dict):
        return
    url = value.get("url")
    if value.get("type") == "http" and isinstance(url, str):
        try:
            check_url(url, AllowedNetworks())
        except (ValueError, AddressRefused):
            pass  # refused when stored: never called
        else:
            after_host = re.match(r"^[A-Za-z]+://[^/?#]*(.*)$", url, re.S)
            if after_host is not None:
                value["url"] = CALLBACK_BASE + after_host.group(1)
    for item in value.values():
        _keep_callbacks_local(item)


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if CALLBACK_BASE:
        _keep_callbacks_local(case.body)
    method = case.method.upper()
    path = case.operation.path
    if method == "PATCH" and path.endswith("/login") and _PASSWORD_BODY.is_valid(case.body):
        case.body = {"password": PASSWORD}
    if (
        method == "DELETE"
        and path.endswith("/accounts/{account_id}")
        and PROTECTED_ACCOUNT
        and str((case.path_parameters or {}).get("account_id", "")).lower() == PROTECTED_ACCOUNT
    ):
        case.path_parameters = {**case.path_parameters, "account_id": NOBODY}
