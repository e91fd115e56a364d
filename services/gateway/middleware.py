"""Every error as one JSON shape, and bearer-token authentication for /v1."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import web
from redis.exceptions import RedisError

from services.gateway.keys import DB, TOKEN_ID, USER
from shared.auth import check_token
from shared.errors import JarvisError, RateLimited, ServiceUnavailable, Unauthorized
from shared.logging import get_logger

log = get_logger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Paths under /v1 that need no token.
# The WebSocket authenticates itself on the handshake (a bearer token or a ticket).
PUBLIC_PATHS = frozenset({"/v1/openapi.json", "/v1/ws"})

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    503: "unavailable",
}

# What asyncpg raises when PostgreSQL goes away, refuses connections, or is starting up.
_POSTGRES_DOWN = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)


def as_unavailable(error: BaseException) -> ServiceUnavailable | None:
    """An outage of PostgreSQL or Redis, as the 503 it is; None for any other error.
    A dependency that does not answer is not a bug in the gateway: clients should retry."""
    if isinstance(error, RedisError):
        return ServiceUnavailable("Redis is unavailable; try again shortly")
    if isinstance(error, _POSTGRES_DOWN):
        return ServiceUnavailable("PostgreSQL is unavailable; try again shortly")
    if isinstance(error, OSError):  # a refused or dropped connection to either of them
        return ServiceUnavailable("a service the gateway needs is unreachable; try again shortly")
    return None


def error_response(status: int, code: str, message: str, details: object = None) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message, "details": details}}, status=status
    )


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except JarvisError as error:
        response = web.json_response(error.to_json(), status=error.status)
        if isinstance(error, RateLimited):
            response.headers["Retry-After"] = str(error.retry_after)
        return response
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = _HTTP_CODES.get(error.status, "error")
        response = error_response(error.status, code, error.reason or code)
        if error.status == 405 and "Allow" in error.headers:
            response.headers["Allow"] = error.headers["Allow"]
        return response
    except Exception as error:
        if (unavailable := as_unavailable(error)) is not None:
            reason = f"{type(error).__name__}: {error}"
            log.warning("dependency unavailable", path=request.path, error=reason)
            return web.json_response(unavailable.to_json(), status=unavailable.status)
        log.exception("unhandled error", method=request.method, path=request.path)
        return error_response(500, "internal", "internal error")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/v1/") or request.path in PUBLIC_PATHS:
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    credential = await check_token(request.app[DB], token.strip())
    if credential is None:
        raise Unauthorized("invalid or revoked token")
    request[USER] = credential.user
    request[TOKEN_ID] = credential.token_id
    return await handler(request)
