"""What the route table cannot tell about an operation, declared once per handler.

The OpenAPI generator (webapp/docs/openapi.py) takes paths, methods, path
parameters, authentication and the errors every route shares from the app's own
route table. The rest -- the summary, the query parameters the handler reads
with `Query`, the JSON schema it validates its body with, what it answers --
is an `Operation`, found for each handler either

- in the handler's own `opt` (`@get("/x", opt={"openapi": Operation(...)})`),
  declared next to the code, or
- in this registry, filled by `declare(handler, Operation(...))` from
  webapp/docs/operations.py, keyed by the handler's function.

A handler in the schema with neither is a missing declaration: the generator
refuses to build the document and a test names the handler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from litestar.handlers import HTTPRouteHandler

JsonSchema = dict[str, Any]

OPT_KEY = "openapi"
"""The key of a handler's `opt` that holds its `Operation`."""


@dataclass(frozen=True)
class Param:
    """A query (or header) parameter, as the handler checks it."""

    name: str
    schema: JsonSchema
    description: str = ""
    required: bool = False
    location: str = "query"
    allow_empty: bool = True
    """`name=` counts as not given (Query's rule: the pages' filter forms send their
    empty fields); published as OpenAPI's allowEmptyValue."""


@dataclass(frozen=True)
class Reply:
    """One success answer. `schema` None: no body (or not JSON, see `media_type`)."""

    status: int
    description: str
    schema: JsonSchema | None = None
    media_type: str = "application/json"
    also: tuple[tuple[str, JsonSchema], ...] = ()
    """Further (media type, schema) of the same answer, chosen by Accept."""
    headers: tuple[tuple[str, str], ...] = ()
    """(header name, description) pairs, e.g. ("Location", "the new task")."""


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    replies: tuple[Reply, ...]
    description: str = ""
    query: tuple[Param, ...] = ()
    body: JsonSchema | Callable[[], JsonSchema] | None = None
    """The JSON schema the handler validates its body with (the object itself, or
    the function that builds it), never a copy."""
    body_required: bool = True
    body_name: str = ""
    """The body's name under components/schemas (shared by the operations that take
    the same body); empty: written inline."""
    errors: tuple[str, ...] = ()
    """Error kinds (webapp/web/errors.py names) the handler answers besides those
    the generator infers (authentication, parameters, bodies, internal)."""
    page: bool = False
    """The handler renders a page when the request prefers text/html."""
    redirect: bool = False
    """A browser (a request that is not for JSON) is sent on with 303 on success."""
    form: bool = False
    """A page's form posts here too: besides `redirect`, the form comes back with its
    errors inline (422, HTML) when a browser's post is refused."""
    creates: str = ""
    """The id property of the 201 body (`task_id`): the document links the answer to
    every operation of the same mount whose path takes that id."""
    security: tuple[str, ...] | None = None
    """Security schemes that apply; None: inferred (the admin guard, or none)."""

    def body_schema(self) -> JsonSchema | None:
        return self.body() if callable(self.body) else self.body


@dataclass
class Registry:
    entries: dict[str, Operation] = field(default_factory=dict)

    def declare(self, handler: HTTPRouteHandler | str, operation: Operation) -> None:
        key = handler if isinstance(handler, str) else handler_key(handler)
        if key in self.entries:
            raise ValueError(f"{key} is declared twice")
        self.entries[key] = operation

    def find(self, handler: HTTPRouteHandler) -> Operation | None:
        declared = handler.opt.get(OPT_KEY)
        if isinstance(declared, Operation):
            return declared
        return self.entries.get(handler_key(handler))


def handler_key(handler: HTTPRouteHandler) -> str:
    """`module.Qualified.name` of the handler's function: the same for the copies
    Litestar makes of a controller mounted on several routers."""
    fn: Any = handler.fn
    fn = getattr(fn, "func", fn)  # sync_to_thread wraps it in an AsyncCallable
    fn = getattr(fn, "__func__", fn)  # a controller's handler is a bound method
    return f"{fn.__module__}.{fn.__qualname__}"


REGISTRY = Registry()


def declare(handler: HTTPRouteHandler | str, operation: Operation) -> None:
    REGISTRY.declare(handler, operation)
