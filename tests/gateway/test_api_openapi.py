"""GET /v1/openapi.json documents every route the gateway serves (services/gateway/openapi.py).

Whether each operation behaves as documented is tests/gateway/test_schemathesis.py's job.
"""

from __future__ import annotations

from aiohttp import hdrs, web

from tests.fixtures.api import Api, assert_error

PUBLIC_OUTSIDE_V1 = {"/healthz", "/readyz", "/metrics"}


def served(app: web.Application) -> set[tuple[str, str]]:
    """(path template, method) of every API route; HEAD comes with GET by itself."""
    routes = set()
    for resource in app.router.resources():
        path = resource.canonical
        if not (path.startswith("/v1/") or path in PUBLIC_OUTSIDE_V1):
            continue  # the web page and its files
        routes |= {(path, route.method) for route in resource if route.method != hdrs.METH_HEAD}
    return routes


async def test_the_document_lists_every_route(api: Api) -> None:
    reply = await api.request("GET", "/v1/openapi.json")
    assert reply.status == 200
    document = reply.body
    assert document["openapi"].startswith("3.1")
    documented = {
        (path, method.upper())
        for path, operations in document["paths"].items()
        for method in operations
    }
    routes = served(api.client.app)
    # The WebSocket and the Prometheus scrape too, though not ordinary JSON operations.
    assert {("/v1/ws", "GET"), ("/metrics", "GET")} <= routes
    assert documented == routes


async def test_every_operation_says_whether_it_needs_a_token(api: Api) -> None:
    document = (await api.request("GET", "/v1/openapi.json")).body
    assert document["security"] == [{"bearer": []}]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            public = operation.get("security") == []
            assert public == (path in PUBLIC_OUTSIDE_V1 | {"/v1/openapi.json"}), (method, path)
            if not public:
                assert "401" in operation["responses"], (method, path)


async def test_every_429_declares_retry_after_and_every_guarded_operation_503(api: Api) -> None:
    document = (await api.request("GET", "/v1/openapi.json")).body
    checked = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if "429" in responses:
                header = responses["429"]["headers"]["Retry-After"]
                assert header["schema"]["type"] == "integer", (method, path)
                checked += 1
            if operation.get("security") != []:
                assert "503" in responses, (method, path)
    assert checked > 10


async def test_the_websocket_handshake_is_documented(api: Api) -> None:
    document = (await api.request("GET", "/v1/openapi.json")).body
    operation = document["paths"]["/v1/ws"]["get"]
    assert {"101", "401", "403"} <= set(operation["responses"])
    # A token, or a ticket from POST /v1/ws-tickets (browsers cannot set the header).
    assert operation["security"] == [{"bearer": []}, {"ticket": []}]
    ticket = document["components"]["securitySchemes"]["ticket"]
    assert ticket == {"type": "apiKey", "in": "query", "name": "ticket"}
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert {"Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version"} <= headers
    metrics = document["paths"]["/metrics"]["get"]
    assert metrics["security"] == []
    assert "text/plain" in metrics["responses"]["200"]["content"]


async def test_a_request_to_the_websocket_that_is_no_handshake_is_400(api: Api) -> None:
    alice = await api.user("alice")
    assert_error(await api.request("GET", "/v1/ws", alice), 400, "bad_request")
