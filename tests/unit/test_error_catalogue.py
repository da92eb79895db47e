"""The error table follows LUNA's published catalogue where it names the situation
(docs.visionlabs.ai/info/luna/troubleshooting/errors-description/code-<n>, whose
"Error Message" is `desc. detail`), and keeps its own codes for the rest."""

from __future__ import annotations

import pytest

from webapp.web.errors import CATALOGUE, LunaError

PUBLISHED = [
    # (name, arguments, code, status, the catalogue's desc, its detail filled in)
    ("NO_JSON", {}, 12002, 400, "Bad/incomplete input data", "Request does not contain json"),
    ("EMPTY_JSON", {}, 12005, 400, "Bad/incomplete input data", "Request contain empty json"),
    ("ROUTE_NOT_FOUND", {}, 12013, 404, "Resource not found", "Page not found"),
    (
        "MISSING_QUERY_PARAM",
        {"name": "q"},
        12014,
        400,
        "Bad/incomplete input data",
        "Required parameters q not found",
    ),
    ("METHOD_NOT_ALLOWED", {}, 12021, 405, "Method not allowed", "Method not allowed"),
    (
        "JSON_VALIDATION",
        {"path": "login", "message": "too long"},
        12022,
        400,
        "Bad/incomplete input data",
        "Failed to validate input json. Path: 'login' message: 'too long'",
    ),
    (
        "UNSUPPORTED_MEDIA_TYPE",
        {},
        12024,
        415,
        "Bad/incomplete input data",
        "Unsupported media type",
    ),
    ("NOT_ADMIN", {}, 12033, 403, "Forbidden", "Access to this resource on the server is denied"),
    (
        "LIST_NOT_FOUND",
        {"list_id": "x"},
        22003,
        404,
        "Object not found",
        "List with id 'x' not found",
    ),
    (
        "TASK_RESULT_NOT_FOUND",
        {"task_id": 7},
        28017,
        404,
        "Object not found",
        "Result of the task '7' not found",
    ),
    (
        "TASK_RESULT_NOT_READY",
        {"task_id": 7, "status": 1},
        28020,
        404,
        "Object not found",
        "Impossible get a result of task 7 with status 1",
    ),
    (
        "TASK_ERROR_NOT_FOUND",
        {"error_id": 3},
        28003,
        404,
        "Object not found",
        "Task error with id '3' not found",
    ),
    (
        "SCHEDULE_NOT_FOUND",
        {"schedule_id": 9},
        28040,
        404,
        "Object not found",
        "Schedule with id 9 not found",
    ),
    (
        "LOGIN_TAKEN",
        {"login": "a@b.cd"},
        41001,
        409,
        "Unique constraint error",
        "Account with login 'a@b.cd' already exists",
    ),
    (
        "WRONG_CREDENTIALS",
        {},
        41006,
        401,
        "Account credentials wrong",
        "Account login or password are incorrect",
    ),
]


@pytest.mark.parametrize(("name", "args", "code", "status", "desc", "detail"), PUBLISHED)
def test_a_situation_luna_names_gets_its_published_code_and_text(
    name, args, code, status, desc, detail
):
    error = LunaError(name, **args)
    assert (error.status, error.body()) == (
        status,
        {"error_code": code, "desc": desc, "detail": detail, "link": f"/docs/errors#error-{code}"},
    )


def test_own_codes_are_29xxx_and_luna_codes_say_where_they_are_published():
    for code, kind in CATALOGUE.items():
        if 29000 <= code < 30000:
            assert kind.source == "", kind.name
        else:
            assert kind.source.startswith("LUNA: "), kind.name
        assert kind.explanation, kind.name


def test_the_token_scheme_is_gone():
    assert "CSRF_FAILED" not in {kind.name for kind in CATALOGUE.values()}
    assert 29004 not in CATALOGUE
