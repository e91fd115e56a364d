"""GET /v1/me: who the token belongs to."""

from __future__ import annotations

from aiohttp import web

from services.gateway.keys import USER

routes = web.RouteTableDef()


@routes.get("/v1/me")
async def me(request: web.Request) -> web.Response:
    user = request[USER]
    return web.json_response({"id": str(user.id), "name": user.name})
