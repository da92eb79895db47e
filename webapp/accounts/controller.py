"""Accounts: `/{api}/accounts` for API clients and `/accounts` for the pages.

The same controller is mounted under both prefixes; each handler answers JSON,
a page or an HTMX partial from the same data (webapp/web/negotiation.py).
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.params import FromPath
from litestar.response import Template

from webapp.accounts import service
from webapp.accounts.authentication import Authenticator
from webapp.platform import service as platform
from webapp.web.body import form_field, read_body, read_raw_body, validate
from webapp.web.errors import LunaError
from webapp.web.negotiation import Mode, redirect, render, respond, response_mode
from webapp.web.params import Page, Query, parse_uuid

AnyRequest = Request[Any, Any, Any]


def _authenticator(request: AnyRequest) -> Authenticator:
    return request.app.state.authenticator


def _api(request: AnyRequest) -> str:
    return request.app.state.settings.api_prefix


async def accounts_page_data(request: AnyRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    query = Query(request)
    page = query.page()
    gte, lt = query.time_range("create_time")
    accounts, count = await service.list_accounts(page, gte, lt)
    data = {"accounts": accounts, "account_count": count}
    context = {
        "page": page,
        "filters": {
            "create_time__gte": query.text("create_time__gte"),
            "create_time__lt": query.text("create_time__lt"),
        },
        "account_types": service.ACCOUNT_TYPES,
        "form": {},
        "errors": {},
    }
    return data, context


async def accounts_page(request: AnyRequest) -> Response[Any]:
    """Route 15 and the accounts table (also the home page, route 1)."""
    data, context = await accounts_page_data(request)
    return respond(
        request,
        data,
        page="pages/accounts/index.html",
        partial="partials/accounts/_table.html",
        context=context,
    )


async def _create(request: AnyRequest, account_id: uuid.UUID | None) -> Response[Any]:
    try:
        body = await read_body(request, service.ACCOUNT_SCHEMA)
        fields = service.normalise_new_account(body)
        new_id = await service.create_account(account_id=account_id, **fields)
    except LunaError as error:
        if response_mode(request) is Mode.JSON:
            raise
        return await _form_with_error(request, error)
    location = f"{_api(request)}/accounts/{new_id}"
    if response_mode(request) is not Mode.JSON:
        return redirect(request, f"/accounts/{new_id}", f"Account {fields['login']} created")
    return Response(
        content={"account_id": str(new_id)}, status_code=201, headers={"Location": location}
    )


async def _form_with_error(request: AnyRequest, error: LunaError) -> Response[Any]:
    """The create form again, with the values typed and the reason inline (422)."""
    try:
        form = await read_raw_body(request, service.ACCOUNT_SCHEMA)
    except LunaError:
        form = {}
    field = str(error.params.get("path") or "")
    if error.kind.name == "LOGIN_TAKEN":
        field = "login"
    message = (
        service.FRIENDLY_FIELD_HINTS.get(field) if error.kind.name == "JSON_VALIDATION" else None
    )
    message = message or str(error.params.get("message", error.detail))
    form.pop("password", None)
    form_context = {"form": form, "errors": {field or "_": message}}
    if response_mode(request) is Mode.PAGE:
        # A plain form post (no JavaScript): the whole accounts page, form in error.
        data, context = await accounts_page_data(request)
        return render(
            request, "pages/accounts/index.html", {**context, "data": data, **form_context}, 422
        )
    return render(
        request,
        "partials/accounts/_create_form.html",
        {**form_context, "account_types": service.ACCOUNT_TYPES},
        422,
    )


def _removed(request: AnyRequest, removal: service.Removal) -> Response[Any]:
    """To the page of the task that removes the account's rows: where the progress shows."""
    return redirect(
        request,
        f"/tasks/{removal.task_id}",
        f"Account {removal.login} removed. Its data is being deleted in the background: "
        f"this task shows how far it is.",
    )


class AccountController(Controller):
    path = "/accounts"

    @get("/")
    async def list_accounts(self, request: AnyRequest) -> Response[Any]:
        return await accounts_page(request)

    @post("/", status_code=201)
    async def create_account(self, request: AnyRequest) -> Response[Any]:
        return await _create(request, None)

    @post("/validate", status_code=200, include_in_schema=False)
    async def validate_field(self, request: AnyRequest) -> Template:
        """Live feedback for one field of the create form (HTMX)."""
        field = Query(request).text("field", max_length=32)
        form = await read_raw_body(request, service.ACCOUNT_SCHEMA)
        message = ""
        value = form.get(field)
        properties = service.ACCOUNT_SCHEMA["properties"]
        if field in properties and value not in (None, ""):
            try:
                validate(value, properties[field])
            except LunaError:
                message = service.FRIENDLY_FIELD_HINTS.get(field, "This value is not valid")
            if not message and field in ("login", "email") and await service.login_exists(value):
                message = f"Account with login '{value}' already exists"
        return Template(
            template_name="partials/accounts/_field_error.html",
            context={"field": field, "message": message},
        )

    @get("/{account_id:str}")
    async def get_account(self, request: AnyRequest, account_id: FromPath[str]) -> Response[Any]:
        uid = parse_uuid(account_id, "account_id")
        account = await service.get_account(uid)
        context: dict[str, Any] = {}
        if response_mode(request) is Mode.PAGE:
            # The page shows the newest lists too; the JSON answer is exactly the reference's.
            lists, list_count = await platform.list_lists(Page(page=1, page_size=10), uid)
            context = {"lists": lists, "list_count": list_count}
        return respond(request, account, page="pages/accounts/detail.html", context=context)

    @put("/{account_id:str}", status_code=201)
    async def create_account_with_id(
        self, request: AnyRequest, account_id: FromPath[str]
    ) -> Response[Any]:
        return await _create(request, parse_uuid(account_id, "account_id"))

    @delete("/{account_id:str}", status_code=204)
    async def remove_account(
        self, request: AnyRequest, account_id: FromPath[str]
    ) -> Response[None]:
        removal = await service.delete_account(
            parse_uuid(account_id, "account_id"),
            request.app.state.settings,
            _authenticator(request).cache,
        )
        if response_mode(request) is not Mode.JSON:
            return _removed(request, removal)
        return Response(content=None, status_code=204)

    @post("/{account_id:str}/delete", include_in_schema=False)
    async def remove_account_form(
        self, request: AnyRequest, account_id: FromPath[str]
    ) -> Response[Any]:
        """The page's delete form: the operator must type the login to confirm."""
        uid = parse_uuid(account_id, "account_id")
        account = await service.get_account(uid)
        login = account["info"]["login"]
        if (await form_field(request, "_confirm") or "").strip() != login:
            raise LunaError("CONFIRMATION_MISMATCH", expected=login)
        removal = await service.delete_account(
            uid, request.app.state.settings, _authenticator(request).cache
        )
        return _removed(request, removal)

    @get("/{account_id:str}/lists")
    async def account_lists(self, request: AnyRequest, account_id: FromPath[str]) -> Response[Any]:
        uid = parse_uuid(account_id, "account_id")
        account = await service.get_account(uid)
        page = Query(request).page()
        lists, count = await platform.list_lists(page, uid)
        return respond(
            request,
            {"lists": lists, "list_count": count},
            page="pages/accounts/lists.html",
            partial="partials/accounts/_lists_table.html",
            context={"account": account, "page": page},
        )
