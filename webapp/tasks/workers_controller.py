"""The workers and the queue (an extension): `GET /{api}/workers` and the `/workers` page."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get

from webapp.tasks import queue
from webapp.web.negotiation import respond

AnyRequest = Request[Any, Any, Any]


class WorkerController(Controller):
    path = "/workers"

    @get("/")
    async def get_workers(self, request: AnyRequest) -> Response[Any]:
        settings = request.app.state.settings
        overview = await queue.overview(settings.worker_dead_after_seconds)
        return respond(
            request,
            overview.json(),
            page="pages/tasks/workers.html",
            partial="partials/tasks/_workers.html",
            context={"dead_after": settings.worker_dead_after_seconds},
        )
