"""Request bodies: JSON or a posted form, validated against a JSON schema.

Forms posted by the pages reach the same handlers as JSON bodies; form values
are strings, so they are converted to the types the schema asks for first.
Fields whose names start with `_` (a typed confirmation) are page plumbing and
never reach validation. Any other body is read as JSON: another Content-Type,
or a body that does not parse, is 400 12002 "Request does not contain json".

Patterns are matched as JSON Schema means them (ECMA 262): `$` is the end of the
string. Python's `$` also matches before a final newline, so the validator
translates it (`anchored`), once, for every schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from typing import Any
from urllib.parse import parse_qsl

from jsonschema import Draft7Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError, best_match
from litestar import Request
from litestar.exceptions import HTTPException

from webapp.web.errors import LunaError
from webapp.web.params import UUID_RE, parse_time
from webapp.web.request_limits import FORM_MAX_FIELDS, FORM_MAX_NESTING, load_json

FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}


FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time", raises=LunaError)
def _is_zoned_time(value: object) -> bool:
    """ISO 8601 with a zone, as the query parameters take it."""
    if isinstance(value, str):
        parse_time(value, "")
    return True


@FORMATS.checks("uuid")
def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or bool(UUID_RE.fullmatch(value))


@cache
def anchored(pattern: str) -> re.Pattern[str]:
    """`pattern` compiled with every `$` outside a character class (and not
    escaped) as `\\Z`: the end of the string, never "before a final newline"."""
    out: list[str] = []
    class_start = -1  # index in `pattern` of the `[` of the open class, or -1
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if class_start >= 0:
            # `]` first in a class (`[]` or `[^]`) is a literal, not its end.
            first = class_start + (2 if pattern.startswith("[^", class_start) else 1)
            if char == "]" and index > first:
                class_start = -1
        elif char == "[":
            class_start = index
        elif char == "$":
            char = r"\Z"
        out.append(char)
        index += 1
    return re.compile("".join(out))


def _pattern(
    validator: Draft7Validator, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not anchored(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


AnchoredValidator = validators.extend(Draft7Validator, {"pattern": _pattern})
"""Draft 7 with `pattern` matched as JSON Schema means it (see `anchored`)."""


@cache
def _validator(schema_json: str) -> Draft7Validator:
    schema = json.loads(schema_json)
    Draft7Validator.check_schema(schema)
    return AnchoredValidator(schema, format_checker=FORMATS)


def validator(schema: dict[str, Any]) -> Draft7Validator:
    return _validator(json.dumps(schema, sort_keys=True))


def _error_path(error: ValidationError) -> str:
    parts = [str(part) for part in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        if missing:
            parts.append(missing[0])
    return ".".join(parts)


def validate(data: Any, schema: dict[str, Any]) -> None:
    """Raise 12022 with the path and reason of the most relevant violation."""
    errors = list(validator(schema).iter_errors(data))
    if not errors:
        return
    error = best_match(errors)
    assert error is not None
    raise LunaError("JSON_VALIDATION", path=_error_path(error), message=error.message)


def _subschema(schema: dict[str, Any], name: str) -> dict[str, Any]:
    """The schema of property `name`, merged with what allOf / if-then branches add
    (a GC target's filters are described in its branch)."""
    merged = dict(schema.get("properties", {}).get(name) or {})
    for branch in schema.get("allOf", []):
        extra = _subschema(branch.get("then", {}), name)
        if extra:
            properties = {**merged.get("properties", {}), **extra.get("properties", {})}
            merged = {**extra, **merged, "properties": properties}
    return merged


def _coerce_value(value: str, schema: dict[str, Any], required: bool = False) -> Any:
    """A form string as the type the schema wants; `_OMIT` for an empty optional field."""
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    enum = schema.get("enum", [])
    if value == "":
        if "null" in kinds or None in enum:
            return None
        # An empty optional field that may not be empty was left blank: not given.
        blank_allowed = required or not schema.get("minLength")
        if "string" in kinds and "format" not in schema and not enum and blank_allowed:
            return ""
        return _OMIT
    if ("integer" in kinds or any(isinstance(e, int) for e in enum)) and value.lstrip(
        "-"
    ).isdigit():
        return int(value)
    if "boolean" in kinds and value.lower() in {"true", "false", "1", "0", "on"}:
        return value.lower() in {"true", "1", "on"}
    return value


_OMIT = object()


def _coerce_form(form: dict[str, str], schema: dict[str, Any]) -> dict[str, Any]:
    """Form fields to the body a JSON client would send.

    Dotted names build nested objects (`content.filters.account_id`), so a page
    form can post any body; each value takes the type its schema asks for.
    """
    result: dict[str, Any] = {}
    for name, value in form.items():
        parts = name.split(".")
        if len(parts) > FORM_MAX_NESTING:
            raise LunaError("FORM_TOO_DEEP", name=name[:80], limit=FORM_MAX_NESTING)
        target, sub = result, schema
        for part in parts[:-1]:
            sub = _subschema(sub, part)
            nested = target.setdefault(part, {})
            if not isinstance(nested, dict):
                raise LunaError("JSON_VALIDATION", path=name, message="conflicting form fields")
            target = nested
        required = parts[-1] in sub.get("required", [])
        coerced = _coerce_value(value, _subschema(sub, parts[-1]), required)
        if coerced is not _OMIT:
            target[parts[-1]] = coerced
    return result


async def read_body(request: Request[Any, Any, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The validated body of a JSON or form request, as a dict."""
    data = await read_raw_body(request, schema)
    check_body(data, schema)
    return data


def check_body(data: Any, schema: dict[str, Any]) -> None:
    """What `read_body` checks once the body is parsed (for a body that came another
    way, such as JSON typed into a page's textarea)."""
    if data == {} and schema.get("required"):
        raise LunaError("EMPTY_JSON")
    validate(data, schema)
    _refuse_nul(data, "")


def _refuse_nul(value: Any, path: str) -> None:
    """PostgreSQL text cannot hold U+0000; refuse it here rather than fail in the database."""
    if isinstance(value, str) and "\x00" in value:
        raise LunaError("JSON_VALIDATION", path=path, message="NUL characters are not allowed")
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_nul(item, f"{path}.{index}" if path else str(index))


async def read_raw_body(request: Request[Any, Any, Any], schema: dict[str, Any]) -> Any:
    """The body as parsed JSON, or a form as the body a JSON client would send.

    The limits of webapp/web/request_limits.py hold while it is read; JSON is
    parsed by `load_json`, within its own limits."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type in FORM_TYPES:
        fields = {key: value for key, value in await form_pairs(request) if not key.startswith("_")}
        return _coerce_form(fields, schema)
    raw = await request.body()
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        raise LunaError("NO_JSON")
    if not raw.strip():
        raise LunaError("NO_JSON")
    try:
        return load_json(raw)
    except (ValueError, UnicodeDecodeError):
        raise LunaError("NO_JSON") from None


async def form_pairs(request: Request[Any, Any, Any]) -> list[tuple[str, str]]:
    """The fields of a posted form (urlencoded or multipart) in order, parsed once per
    request; page plumbing (`_confirm`, `_back`) included. No fields for a body
    that is not a form."""
    cached: list[tuple[str, str]] | None = request.scope.get("luna.form")  # type: ignore[assignment]
    if cached is not None:
        return cached
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in FORM_TYPES:
        return []
    try:
        if content_type == "multipart/form-data":
            form = await request.form()
            pairs = [(key, value) for key, value in form.multi_items() if isinstance(value, str)]
        else:
            text = (await request.body()).decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=FORM_MAX_FIELDS)
    except LunaError:
        raise  # a limit, found while reading
    except (HTTPException, UnicodeDecodeError, LookupError, ValueError):
        # Undecodable bytes, an unknown charset, a malformed multipart body.
        raise LunaError("BAD_FORM") from None
    request.scope["luna.form"] = pairs  # type: ignore[typeddict-unknown-key]
    return pairs


async def form_field(request: Request[Any, Any, Any], name: str) -> str | None:
    """One raw field of a posted form (for page plumbing such as `_confirm`)."""
    for key, value in await form_pairs(request):
        if key == name:
            return value
    return None
