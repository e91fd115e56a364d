"""GET /v1/openapi.json: the API's OpenAPI document (no token needed)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aiohttp import web

from services.gateway.openapi import build_openapi

routes = web.RouteTableDef()


@cache
def openapi_document() -> dict[str, Any]:
    return build_openapi()


@routes.get("/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())
