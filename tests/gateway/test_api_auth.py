"""GET /v1/me and bearer-token authentication (services/gateway/middleware.py)."""

from __future__ import annotations

import pytest

from shared.auth import issue_token
from tests.fixtures.api import Api, Caller, assert_error


async def test_me_names_the_tokens_user(api: Api) -> None:
    alice = await api.user("alice")
    reply = await api.request("GET", "/v1/me", alice)
    assert reply.status == 200
    assert reply.body == {"id": str(alice.id), "name": "alice"}


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic YWxpY2U6c2VjcmV0",
        "Bearer jv_not-a-token",
        "jv_bare-token-without-scheme",
    ],
)
async def test_a_missing_or_bad_token_is_401(api: Api, authorization: str | None) -> None:
    await api.user("alice")
    headers = {} if authorization is None else {"Authorization": authorization}
    reply = await api.request("GET", "/v1/me", headers=headers)
    assert_error(reply, 401, "unauthorized")


async def test_a_revoked_token_is_401_and_the_new_one_works(api: Api) -> None:
    alice = await api.user("alice")
    new_token = await issue_token(api.pool, "alice", revoke_others=True)
    assert_error(await api.request("GET", "/v1/me", alice), 401, "unauthorized")
    renewed = Caller(alice.id, alice.name, new_token)
    assert (await api.request("GET", "/v1/me", renewed)).status == 200


async def test_the_scheme_is_case_insensitive(api: Api) -> None:
    alice = await api.user("alice")
    reply = await api.request("GET", "/v1/me", headers={"Authorization": f"bearer {alice.token}"})
    assert reply.status == 200


@pytest.mark.parametrize("path", ["/v1/openapi.json", "/healthz", "/metrics"])
async def test_public_paths_need_no_token(api: Api, path: str) -> None:
    assert (await api.request("GET", path)).status == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/chats"),
        ("POST", "/v1/chats"),
        ("GET", "/v1/documents"),
        ("POST", "/v1/ws-tickets"),
        ("GET", "/v1/tasks/00000000-0000-0000-0000-000000000000"),
    ],
)
async def test_every_v1_route_needs_a_token(api: Api, method: str, path: str) -> None:
    assert_error(await api.request(method, path), 401, "unauthorized")
