"""Every JSON API v1 route, and the OpenAPI document built from the same declarations."""

from __future__ import annotations

import importlib

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from canyu.api import framework, openapi

#: One module per feature; importing it registers its endpoints.
API_MODULES = (
    "canyu.api.identity",
    "canyu.api.consultations",
    "canyu.api.meetings",
    "canyu.api.openmonth",
    "canyu.api.voting",
)


async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(openapi.document())


def routes() -> list[BaseRoute]:
    for name in API_MODULES:
        importlib.import_module(name)
    return [Route("/api/v1/openapi.json", openapi_json, name="api:openapi"), *framework.routes()]
