"""The OpenAPI 3.1 document of the running app, generated from its route table.

Litestar's own generator is off (`openapi_config=None`): every handler returns
`Response[Any]`, so it could say nothing about bodies. This one walks
`app.routes` instead and, for every handler in the schema, writes

- the path and method, and the path parameters, from the route itself;
- security and the authentication errors from the guards the route resolves
  to (webapp.web.auth.admin_guard, `opt={"public": True}`);
- the rest from the handler's `Operation` (webapp/docs/registry.py): query
  parameters, the request body schema -- the same object the handler
  validates with -- and the answers;
- every error the route can give, each status with its LUNA error codes
  (webapp/web/errors.py), inferred from the above plus what the declaration adds.

Handlers marked `include_in_schema=False` (the pages' own form routes, static
files) are left out. A handler in the schema without a declaration is an error
(`MissingDeclarations`), so a new route cannot go undocumented.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute

from webapp import __version__
from webapp.accounts.sessions import COOKIE_NAME
from webapp.docs.registry import REGISTRY, Operation, handler_key
from webapp.docs.schemas import COMPONENTS, ref
from webapp.web.auth import admin_guard
from webapp.web.errors import BY_NAME, ErrorKind
from webapp.web.origin import SAFE_METHODS

JsonSchema = dict[str, Any]

OPENAPI_VERSION = "3.1.0"
DOCUMENTED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
"""HEAD and OPTIONS are the framework's, answered the same for every route."""

AUTH_ERRORS = ("NO_AUTH_HEADERS", "WRONG_CREDENTIALS", "SESSION_INVALID", "NOT_ADMIN")
BODY_ERRORS = (
    "NO_JSON",
    "JSON_VALIDATION",
    "BODY_TOO_LARGE",
    "BAD_FORM",
    # The limits of webapp/web/request_limits.py, checked while the body is read.
    "FORM_TOO_MANY_FIELDS",
    "FORM_FIELD_TOO_LARGE",
    "FORM_TOO_DEEP",
    "JSON_TOO_MANY_ITEMS",
    "JSON_TOO_DEEP",
    "BODY_INCOMPLETE",
)
EVERY_ROUTE_ERRORS = (
    "BAD_REQUEST_ID",
    "BAD_HTTP_REQUEST",
    "BAD_PATH",
    "REQUEST_TIMEOUT",
    "INTERNAL",
    "DATABASE_UNAVAILABLE",
)

HTML: JsonSchema = {"type": "string", "description": "an HTML page"}

INFO_DESCRIPTION = """\
The administration service of a face-recognition platform, API-compatible with
the LUNA PLATFORM 5 Admin service. This document is generated from the
service's route table; request bodies are the JSON schemas the handlers
validate with.

JSON routes live under the API prefix; the unprefixed paths tagged `pages` are
the same handlers mounted for the browser pages (they answer JSON the same way
unless the request prefers text/html). Bodies may also be posted as
application/x-www-form-urlencoded forms (dotted names build nested objects),
as the pages do.

An empty query parameter (`page=`) counts as not given; a repeated one
(`page=1&page=2`) is refused with 12012.

Every answer carries `Luna-Request-Id`. Every error is
`{"error_code", "desc", "detail", "link"}`; each operation lists the codes it can
answer, and `/docs/errors` explains them all.
"""


class MissingDeclarations(RuntimeError):
    """Handlers in the schema without an `Operation`, or path parameters unknown."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("undocumented: " + "; ".join(problems))


@dataclass(frozen=True)
class Documented:
    """One operation of the route table and what is known about it."""

    method: str
    path: str
    route: HTTPRoute
    handler: HTTPRouteHandler
    operation: Operation | None

    @property
    def guarded(self) -> bool:
        return admin_guard in self.handler.resolve_guards() and not self.handler.opt.get("public")


def documented(app: Litestar) -> Iterator[Documented]:
    """Every (method, path) of the route table that belongs in the document."""
    _load_declarations()
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            for method in sorted(set(handler.http_methods) & set(DOCUMENTED_METHODS)):
                yield Documented(method, route.path_format, route, handler, REGISTRY.find(handler))


def missing_declarations(app: Litestar) -> list[str]:
    from webapp.docs.operations import PATH_PARAMETERS

    problems = []
    for item in documented(app):
        if item.operation is None:
            problems.append(f"{item.method} {item.path} ({handler_key(item.handler)})")
        for name in item.route.path_parameters:
            if name not in PATH_PARAMETERS:
                problems.append(f"path parameter {name!r} of {item.method} {item.path}")
    return problems


def _is_api(path: str, api_prefix: str) -> bool:
    return path == api_prefix or path.startswith(api_prefix + "/")


def _load_declarations() -> None:
    # Late: operations.py imports the controllers, and webapp.app imports this
    # package's controller while it is being built.
    import webapp.docs.operations  # noqa: F401


def build(app: Litestar) -> JsonSchema:
    """The document, as a dict ready for YAML or JSON."""
    problems = missing_declarations(app)
    if problems:
        raise MissingDeclarations(problems)
    settings = app.state.settings
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, None] = {}
    components = _Components(schemas=copy.deepcopy(COMPONENTS))
    items = list(documented(app))
    # A controller mounted both under the API prefix and for the pages: the page
    # twins are tagged `pages` and say so; routes only the pages have keep their tag.
    prefix = settings.api_prefix
    under_api = {handler_key(item.handler) for item in items if _is_api(item.path, prefix)}
    for item in items:
        assert item.operation is not None
        twin = (
            item.guarded
            and not _is_api(item.path, prefix)
            and handler_key(item.handler) in under_api
        )
        operation = _operation(item, item.operation, components, pages=twin)
        tags.update(dict.fromkeys(operation["tags"]))
        paths.setdefault(item.path, {})[item.method.lower()] = operation
    _link_created_ids(items, paths, prefix)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "luna-admin",
            "version": __version__,
            "description": INFO_DESCRIPTION,
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": name} for name in tags],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components.schemas,
            "responses": dict(sorted(components.responses.items())),
            "securitySchemes": {
                "basic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "login (e-mail) and password of an admin account",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": COOKIE_NAME,
                    "description": "set by POST /{api}/login or the sign-in page; alone it "
                    "authenticates every route. A browser's change from another site is "
                    "refused (Sec-Fetch-Site, Origin: error 29200)",
                },
            },
            "headers": {"Luna-Request-Id": _request_id_header()},
            "parameters": {
                "LunaRequestId": {
                    "name": "Luna-Request-Id",
                    "in": "header",
                    "required": False,
                    "description": "the request's id, echoed in the answer and written on "
                    "every log line; generated when absent",
                    "schema": _request_id_schema(),
                },
                "ExcludeHeader": {
                    "name": "Exclude-Header",
                    "in": "header",
                    "required": False,
                    "description": "`WWW-Authorization`: a 401 comes without WWW-Authenticate "
                    "(so that a browser shows no sign-in dialog); other values change nothing",
                    "schema": {"type": "string"},
                },
            },
        },
    }


def _link_created_ids(items: list[Documented], paths: dict[str, Any], api_prefix: str) -> None:
    """OpenAPI links from each 201 that creates an id to the operations that take it
    (on the same mount): how a client, or schemathesis's stateful phase, goes from
    `POST /4/tasks/gc` to `GET /4/tasks/{task_id}`."""

    for item in items:
        assert item.operation is not None
        name = item.operation.creates
        if not name:
            continue
        links = {}
        for target in items:
            same_mount = _is_api(target.path, api_prefix) == _is_api(item.path, api_prefix)
            if name in target.route.path_parameters and same_mount:
                target_id = operation_id(target.method, target.path)
                links[target_id] = {
                    "operationId": target_id,
                    "parameters": {name: f"$response.body#/{name}"},
                }
        if links:
            paths[item.path][item.method.lower()]["responses"]["201"]["links"] = links


@dataclass
class _Components:
    """What operations share, each written once and referenced (`$ref`)."""

    schemas: dict[str, JsonSchema]
    responses: dict[str, JsonSchema] = field(default_factory=dict)

    def schema(self, name: str, schema: JsonSchema) -> JsonSchema:
        known = self.schemas.setdefault(name, copy.deepcopy(schema))
        if known != schema:
            raise ValueError(f"two different schemas are named {name}")
        return ref(name)

    def error(self, status: int, kinds: list[ErrorKind]) -> JsonSchema:
        """The error answer with these codes, named after them ("Error404-28001")."""
        codes = sorted(kind.code for kind in kinds)
        name = f"Error{status}-" + "-".join(str(code) for code in codes)
        if name not in self.responses:
            self.responses[name] = _error_response(status, kinds)
        return {"$ref": f"#/components/responses/{name}"}


def _request_id_schema() -> JsonSchema:
    from webapp.app import REQUEST_ID_RE  # late: webapp.app imports this package

    return {"type": "string", "pattern": REQUEST_ID_RE.pattern}


def _request_id_header() -> JsonSchema:
    return {
        "description": "the request's id: the one sent, or a new one",
        "required": True,
        "schema": _request_id_schema(),
    }


def operation_id(method: str, path: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") or "root"
    return f"{method.lower()}_{slug}"


def _operation(
    item: Documented, op: Operation, components: _Components, *, pages: bool
) -> dict[str, Any]:
    from webapp.docs.operations import PATH_PARAMETERS

    body = op.body_schema()
    parameters: list[dict[str, Any]] = []
    for name in item.route.path_parameters:
        schema, description = PATH_PARAMETERS[name]
        parameters.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": description,
                "schema": copy.deepcopy(schema),
            }
        )
    for param in op.query:
        entry: dict[str, Any] = {
            "name": param.name,
            "in": param.location,
            "required": param.required,
            "schema": copy.deepcopy(param.schema),
        }
        if param.description:
            entry["description"] = param.description
        if param.allow_empty and not param.required and param.location == "query":
            entry["allowEmptyValue"] = True
        if param.schema.get("type") == "array":
            entry.update(style="form", explode=False)
        parameters.append(entry)
    parameters.append({"$ref": "#/components/parameters/LunaRequestId"})
    if item.guarded:
        parameters.append({"$ref": "#/components/parameters/ExcludeHeader"})

    kinds = list(EVERY_ROUTE_ERRORS)
    if item.guarded:
        kinds += AUTH_ERRORS
        kinds.append("LOGIN_THROTTLED")
    if item.method not in SAFE_METHODS and admin_guard in item.handler.resolve_guards():
        kinds.append("CROSS_SITE_REFUSED")
    if item.route.path_parameters or op.query:
        kinds.append("BAD_QUERY_PARAM")
    if any(param.required for param in op.query):
        kinds.append("MISSING_QUERY_PARAM")
    if body is not None:
        kinds += BODY_ERRORS
        if body.get("required"):
            kinds.append("EMPTY_JSON")
    kinds += op.errors

    result: dict[str, Any] = {
        "operationId": operation_id(item.method, item.path),
        "summary": op.summary,
        "tags": ["pages"] if pages else [op.tag],
    }
    description = op.description
    if pages:
        description = (
            "The same handler as under the API prefix, mounted for the pages. " + description
        )
    if description:
        result["description"] = description.strip()
    result["parameters"] = parameters
    if body is not None:
        shown = components.schema(op.body_name, body) if op.body_name else copy.deepcopy(body)
        result["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": shown}},
        }
    result["responses"] = _responses(item, op, kinds, components)
    if item.guarded:
        result["security"] = [{"basic": []}, {"session": []}]
    else:
        result["security"] = [{name: []} for name in op.security or ()]
    return result


def _responses(
    item: Documented, op: Operation, kinds: list[str], components: _Components
) -> dict[str, Any]:
    request_id = {"Luna-Request-Id": {"$ref": "#/components/headers/Luna-Request-Id"}}
    responses: dict[str, Any] = {}
    for reply in op.replies:
        entry: dict[str, Any] = {"description": reply.description, "headers": dict(request_id)}
        content: dict[str, Any] = {}
        if reply.schema is not None:
            content[reply.media_type] = {"schema": copy.deepcopy(reply.schema)}
        for media_type, schema in reply.also:
            content[media_type] = {"schema": copy.deepcopy(schema)}
        if op.page and reply.status == 200:
            content["text/html"] = {"schema": HTML}
        if content:
            entry["content"] = content
        for name, description in reply.headers:
            entry["headers"][name] = {
                "description": description,
                "required": name != "Set-Cookie",
                "schema": {"type": "string"},
            }
        responses[str(reply.status)] = entry

    redirects = []
    if item.guarded:
        redirects.append("a browser without a session is sent to /login")
    if op.redirect or op.form:
        redirects.append("a browser's request is sent on to the page of the outcome")
    if redirects:
        responses["303"] = {
            "description": "; ".join(redirects).capitalize() + " (requests preferring text/html).",
            "headers": {
                **request_id,
                "Location": {"required": True, "schema": {"type": "string"}},
            },
        }
    if op.form:
        responses["422"] = {
            "description": "A browser's form post was refused: the form again, with the "
            "values typed and the reasons beside the fields.",
            "headers": dict(request_id),
            "content": {"text/html": {"schema": HTML}},
        }

    by_status: dict[int, list[ErrorKind]] = {}
    for name in dict.fromkeys(kinds):
        kind = BY_NAME[name]
        by_status.setdefault(kind.status, []).append(kind)
    for status, status_kinds in sorted(by_status.items()):
        responses[str(status)] = components.error(status, status_kinds)
    return dict(sorted(responses.items()))


def _error_response(status: int, kinds: list[ErrorKind]) -> dict[str, Any]:
    codes = sorted(kind.code for kind in kinds)
    lines = "; ".join(f"{kind.code} {kind.detail}" for kind in sorted(kinds, key=_code))
    headers: dict[str, Any] = {"Luna-Request-Id": {"$ref": "#/components/headers/Luna-Request-Id"}}
    if status == 401:
        headers["WWW-Authenticate"] = {
            "description": 'Basic realm="luna-admin" when no credentials were sent (unless '
            "Exclude-Header: WWW-Authorization)",
            "required": False,
            "schema": {"type": "string"},
        }
    if status in (429, 503):
        headers["Retry-After"] = {
            "description": "seconds to wait before trying again",
            "required": False,
            "schema": {"type": "string"},
        }
    content: dict[str, Any] = {
        "application/json": {
            "schema": {"allOf": [ref("Error"), {"properties": {"error_code": {"enum": codes}}}]}
        }
    }
    if status != 401:
        # A request preferring text/html gets the error as a page (a 401 as a 303).
        content["text/html"] = {"schema": HTML}
    return {"description": f"Error: {lines}", "headers": headers, "content": content}


def _code(kind: ErrorKind) -> int:
    return kind.code


def document(app: Litestar) -> JsonSchema:
    """The document of `app`, built once (the route table does not change)."""
    cached = getattr(app.state, "openapi_document", None)
    if cached is None:
        cached = build(app)
        app.state.openapi_document = cached
    return cached


class _Dumper(yaml.SafeDumper):
    """Multi-line text (descriptions) as literal blocks, as a person would write it."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def as_yaml(document: JsonSchema) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
