"""GET /v1/openapi.json documents every route the gateway serves (services/gateway/openapi.py).

Whether each operation behaves as documented is tests/gateway/test_schemathesis.py's job.
"""

from __future__ import annotations

from aiohttp import hdrs, web

from tests.fixtures.api import Api

# Not in the document, on purpose: the WebSocket (an upgrade, not a request and response;
# README describes its protocol) and the Prometheus scrape (for monitoring, not API clients).
UNDOCUMENTED = {("/v1/ws", "GET"), ("/metrics", "GET")}
PUBLIC_OUTSIDE_V1 = {"/healthz", "/readyz"}


def served(app: web.Application) -> set[tuple[str, str]]:
    """(path template, method) of every API route; HEAD comes with GET by itself."""
    routes = set()
    for resource in app.router.resources():
        path = resource.canonical
        if not (path.startswith("/v1/") or path in PUBLIC_OUTSIDE_V1 | {"/metrics"}):
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
    assert routes >= UNDOCUMENTED  # still served, so still worth the exception
    assert documented == routes - UNDOCUMENTED


async def test_every_operation_says_whether_it_needs_a_token(api: Api) -> None:
    document = (await api.request("GET", "/v1/openapi.json")).body
    assert document["security"] == [{"bearer": []}]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            public = operation.get("security") == []
            assert public == (path in PUBLIC_OUTSIDE_V1 | {"/v1/openapi.json"}), (method, path)
            if not public:
                assert "401" in operation["responses"], (method, path)
