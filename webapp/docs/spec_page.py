"""The OpenAPI document as a page: what templates/pages/docs/spec.html shows.

Rendered on the server from the same dict as the YAML, so the page and the
document cannot disagree, and nothing is loaded from anywhere else.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from webapp.web.errors import CATALOGUE

JsonSchema = dict[str, Any]

_INLINE = MarkdownIt("commonmark", {"html": False})
"""Descriptions use Markdown's `code` spans; rendered inline, raw HTML shown as text."""

_REF = re.compile(r"&#34;#/components/schemas/([A-Za-z0-9_]+)&#34;")


@dataclass(frozen=True)
class ParamView:
    name: str
    location: str
    required: bool
    kind: str
    description: Markup


@dataclass(frozen=True)
class ResponseView:
    status: str
    description: Markup
    media_types: tuple[str, ...]
    headers: tuple[str, ...]
    schema: Markup | None
    error_codes: tuple[int, ...]


@dataclass(frozen=True)
class OperationView:
    anchor: str
    method: str
    path: str
    summary: str
    description: Markup
    security: str
    parameters: tuple[ParamView, ...]
    body: Markup | None
    responses: tuple[ResponseView, ...]


def schema_html(schema: Any) -> Markup:
    """Pretty JSON, each reference a link to the schema's entry on the page."""
    text = str(escape(json.dumps(schema, indent=2, ensure_ascii=False)))
    linked = _REF.sub(
        lambda m: f'<a href="#schema-{m.group(1)}">&#34;#/components/schemas/{m.group(1)}&#34;</a>',
        text,
    )
    return Markup(linked)  # built from escaped text


def inline(text: str) -> Markup:
    return Markup(_INLINE.renderInline(text))  # markdown-it escapes the text


def error_titles() -> dict[int, str]:
    """What each error code says, for the title of its link."""
    return {code: kind.detail for code, kind in CATALOGUE.items()}


def describe(schema: JsonSchema) -> str:
    """A parameter's schema in a few words: 'integer, 1..1000, default 10'."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    kind = schema.get("type", "any")
    if kind == "array":
        kind = f"list of {describe(schema.get('items', {}))}, comma separated"
    parts = [str(kind)]
    if "format" in schema:
        parts[0] += f" ({schema['format']})"
    if "enum" in schema:
        parts.append("one of " + ", ".join(str(value) for value in schema["enum"]))
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None or high is not None:
        parts.append(f"{'' if low is None else low}..{'' if high is None else high}")
    if "maxLength" in schema:
        parts.append(f"at most {schema['maxLength']} characters")
    if "default" in schema:
        parts.append(f"default {schema['default']}")
    return ", ".join(parts)


def _parameters(operation: JsonSchema, shared: JsonSchema) -> tuple[ParamView, ...]:
    views = []
    for param in operation.get("parameters", []):
        if "$ref" in param:
            param = shared[str(param["$ref"]).rsplit("/", 1)[-1]]
        views.append(
            ParamView(
                name=param["name"],
                location=param["in"],
                required=bool(param.get("required")),
                kind=describe(param.get("schema", {})),
                description=inline(str(param.get("description", ""))),
            )
        )
    return tuple(views)


def _responses(operation: JsonSchema, shared: JsonSchema) -> tuple[ResponseView, ...]:
    views = []
    for status, given in operation.get("responses", {}).items():
        response = shared[given["$ref"].rsplit("/", 1)[-1]] if "$ref" in given else given
        content = response.get("content", {})
        json_schema = (content.get("application/json") or {}).get("schema")
        codes: tuple[int, ...] = ()
        shown: Markup | None = None
        if json_schema and "allOf" in json_schema:
            codes = tuple(json_schema["allOf"][1]["properties"]["error_code"]["enum"])
        elif json_schema is not None:
            shown = schema_html(json_schema)
        description = str(response.get("description", ""))
        if codes:
            description = "Error" if description.startswith("Error") else description
        views.append(
            ResponseView(
                status=status,
                description=inline(description),
                media_types=tuple(content),
                headers=tuple(response.get("headers", {})),
                schema=shown,
                error_codes=codes,
            )
        )
    return tuple(views)


def _security(operation: JsonSchema) -> str:
    schemes = [name for entry in operation.get("security", []) for name in entry]
    if not schemes:
        return "public"
    return " or ".join({"basic": "Basic", "session": "session cookie"}.get(s, s) for s in schemes)


def page_context(document: JsonSchema) -> dict[str, Any]:
    shared = document["components"].get("parameters", {})
    responses = document["components"].get("responses", {})
    sections: dict[str, list[OperationView]] = {tag["name"]: [] for tag in document["tags"]}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            body = (
                operation.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema")
            )
            view = OperationView(
                anchor=operation["operationId"],
                method=method.upper(),
                path=path,
                summary=operation.get("summary", ""),
                description=inline(operation.get("description", "")),
                security=_security(operation),
                parameters=_parameters(operation, shared),
                body=None if body is None else schema_html(body),
                responses=_responses(operation, responses),
            )
            sections[operation["tags"][0]].append(view)
    schemas = [
        (name, schema_html(schema)) for name, schema in document["components"]["schemas"].items()
    ]
    return {
        "info": document["info"],
        "openapi": document["openapi"],
        "sections": [(tag, views) for tag, views in sections.items() if views],
        "schemas": schemas,
        "operation_count": sum(len(views) for views in sections.values()),
        "error_titles": error_titles(),
    }
