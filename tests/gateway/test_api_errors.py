"""Requests the API refuses, and how: always the JSON shape {"error": {code, message, details}}
(services/gateway/middleware.py, parsing.py)."""

from __future__ import annotations

import io
import json
import uuid

import pytest

from services.gateway.app import MAX_BODY_BYTES
from tests.fixtures.api import Api, Caller, assert_error
from tests.gateway.raw_http import raw_request


async def chat_path(api: Api, who: Caller, suffix: str = "") -> str:
    chat = await api.create_chat(who)
    return f"/v1/chats/{chat['id']}{suffix}"


@pytest.mark.parametrize("raw", [b"{", b"{'title': 'x'}", b"\xff\xfe", b"nan!", b'{"title": "x"'])
async def test_malformed_json_is_400(api: Api, raw: bytes) -> None:
    alice = await api.user("alice")
    headers = {"Content-Type": "application/json"}
    reply = await api.request("POST", "/v1/chats", alice, data=raw, headers=headers)
    assert_error(reply, 400, "bad_request")
    assert await api.pool.fetchval("SELECT count(*) FROM chats") == 0


@pytest.mark.parametrize("raw", [b"[]", b'"title"', b"42", b"null"])
async def test_json_that_is_not_an_object_is_422(api: Api, raw: bytes) -> None:
    alice = await api.user("alice")
    reply = await api.request("POST", "/v1/chats", alice, data=raw)
    error = assert_error(reply, 422, "validation_failed")
    assert error["details"] == [{"field": "body", "message": "not an object"}]


@pytest.mark.parametrize(
    ("method", "suffix", "body", "field"),
    [
        ("POST", "", {"title": 5}, "title"),
        ("POST", "", {"title": None}, "title"),
        ("POST", "", {"title": "x" * 201}, "title"),
        ("PATCH", "/{chat}", {"title": {"text": "x"}}, "title"),
        ("POST", "/{chat}/messages", {"content": True}, "content"),
        ("POST", "/{chat}/messages", {"content": "hi", "role": "system"}, "role"),
    ],
)
async def test_a_field_of_the_wrong_type_is_422_naming_it(
    api: Api, method: str, suffix: str, body: object, field: str
) -> None:
    alice = await api.user("alice")
    chat = await api.create_chat(alice)
    path = "/v1/chats" + suffix.format(chat=chat["id"])
    error = assert_error(
        await api.request(method, path, alice, json=body), 422, "validation_failed"
    )
    assert [d["field"] for d in error["details"]] == [field]
    assert field in error["message"]


async def test_a_body_over_one_mebibyte_is_413(api: Api) -> None:
    alice = await api.user("alice")
    path = await chat_path(api, alice, "/messages")
    padding = MAX_BODY_BYTES + 1 - len(json.dumps({"content": ""}).encode())
    oversized = json.dumps({"content": "x" * padding}).encode()
    assert len(oversized) == MAX_BODY_BYTES + 1
    reply = await api.request("POST", path, alice, data=io.BytesIO(oversized))
    assert_error(reply, 413, "payload_too_large")
    assert await api.pool.fetchval("SELECT count(*) FROM tasks") == 0

    # One byte less is read, and judged on its fields instead.
    at_limit = json.dumps({"content": "x" * (padding - 1)}).encode()
    reply = await api.request("POST", path, alice, data=io.BytesIO(at_limit))
    error = assert_error(reply, 422, "validation_failed")
    assert error["details"][0]["field"] == "content"


async def test_an_upload_over_one_mebibyte_is_413(api: Api) -> None:
    alice = await api.user("alice")
    boundary = "b0undary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"'
    big = f"{head}\r\n\r\n".encode() + b"x" * MAX_BODY_BYTES + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    reply = await api.request("POST", "/v1/documents", alice, data=io.BytesIO(big), headers=headers)
    assert_error(reply, 413, "payload_too_large")
    assert await api.pool.fetchval("SELECT count(*) FROM documents") == 0


@pytest.mark.parametrize("resource_id", [str(uuid.uuid4()), "nope", "12345", "%20"])
@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("GET", "/v1/chats/{}"),
        ("PATCH", "/v1/chats/{}"),
        ("DELETE", "/v1/chats/{}"),
        ("GET", "/v1/chats/{}/messages"),
        ("POST", "/v1/chats/{}/messages"),
        ("GET", "/v1/chats/{}/tasks"),
        ("GET", "/v1/tasks/{}"),
        ("GET", "/v1/tasks/{}/events"),
        ("GET", "/v1/tasks/{}/stream"),
        ("POST", "/v1/tasks/{}/cancel"),
        ("GET", "/v1/documents/{}"),
        ("DELETE", "/v1/documents/{}"),
    ],
)
async def test_an_unknown_or_malformed_id_is_404(
    api: Api, method: str, template: str, resource_id: str
) -> None:
    alice = await api.user("alice")
    body = {"title": "x"} if method == "PATCH" else {"content": "hi"} if method == "POST" else None
    reply = await api.request(method, template.format(resource_id), alice, json=body)
    assert_error(reply, 404, "not_found")


@pytest.mark.parametrize("path", ["/v1/nope", "/v1/chats/x/y/z", "/nope", "/v2/chats"])
async def test_an_unknown_route_is_404_json(api: Api, path: str) -> None:
    alice = await api.user("alice")
    assert_error(await api.request("GET", path, alice), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/chats", {"GET", "POST"}),
        ("DELETE", "/v1/me", {"GET"}),
        ("PUT", "/v1/chats/{chat}", {"GET", "PATCH", "DELETE"}),
        ("GET", "/v1/tasks/{task}/cancel", {"POST"}),
        ("POST", "/healthz", {"GET"}),
    ],
)
async def test_a_wrong_method_is_405_json(
    api: Api, method: str, path: str, allowed: set[str]
) -> None:
    alice = await api.user("alice")
    chat = await api.create_chat(alice)
    task = await api.post_message(alice, chat["id"])
    path = path.format(chat=chat["id"], task=task["task_id"])
    reply = await api.request(method, path, alice)
    assert_error(reply, 405, "method_not_allowed")
    assert set(reply.headers["Allow"].split(",")) - {"HEAD"} == allowed


@pytest.mark.parametrize("raw", [b"[" * 100_000, b'{"title": ' + b'{"a": ' * 50_000])
async def test_json_nested_too_deeply_is_400(api: Api, raw: bytes) -> None:
    alice = await api.user("alice")
    headers = {"Content-Type": "application/json"}
    reply = await api.request("POST", "/v1/chats", alice, data=raw, headers=headers)
    assert_error(reply, 400, "bad_request")
    assert await api.pool.fetchval("SELECT count(*) FROM chats") == 0


# aiohttp reads header bytes that are not UTF-8 as surrogate escapes, which no encoder takes.
NOT_UTF8 = b"\xff\xfe"
WEBSOCKET_HANDSHAKE = [
    ("Upgrade", b"websocket"),
    ("Connection", b"Upgrade"),
    ("Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
    ("Sec-WebSocket-Version", b"13"),
]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/me"), ("POST", "/v1/chats"), ("POST", "/v1/ws-tickets"), ("GET", "/v1/ws")],
)
async def test_an_authorization_header_that_is_not_utf8_is_401(
    api: Api, method: str, path: str
) -> None:
    await api.user("alice")
    headers = [("Authorization", b"Bearer jv_" + NOT_UTF8)]
    if path == "/v1/ws":
        headers += WEBSOCKET_HANDSHAKE
    assert_error(await raw_request(api, method, path, headers), 401, "unauthorized")


@pytest.mark.parametrize("name", [name for name, _ in WEBSOCKET_HANDSHAKE])
async def test_a_websocket_handshake_header_that_is_not_ascii_is_400(api: Api, name: str) -> None:
    alice = await api.user("alice")
    headers = [(n, v) for n, v in WEBSOCKET_HANDSHAKE if n != name]
    headers += [("Authorization", f"Bearer {alice.token}".encode()), (name, b"x" + NOT_UTF8)]
    error = assert_error(await raw_request(api, "GET", "/v1/ws", headers), 400, "bad_request")
    assert name in error["message"]


async def test_an_idempotency_key_that_is_not_utf8_is_400(api: Api) -> None:
    alice = await api.user("alice")
    path = await chat_path(api, alice, "/messages")
    headers = [
        ("Authorization", f"Bearer {alice.token}".encode()),
        ("Content-Type", b"application/json"),
        ("Idempotency-Key", b"key-" + NOT_UTF8),
    ]
    reply = await raw_request(api, "POST", path, headers, b'{"content": "hi"}')
    assert_error(reply, 400, "bad_request")
    assert await api.pool.fetchval("SELECT count(*) FROM tasks") == 0


async def test_other_headers_that_are_not_utf8_are_refused_cleanly(api: Api) -> None:
    alice = await api.user("alice")
    chat = await api.create_chat(alice)
    task = await api.post_message(alice, chat["id"])
    auth = ("Authorization", f"Bearer {alice.token}".encode())
    stream = f"/v1/tasks/{task['task_id']}/stream"
    reply = await raw_request(api, "GET", stream, [auth, ("Last-Event-ID", NOT_UTF8)])
    assert_error(reply, 422, "validation_failed")
    origin = ("Origin", b"http://" + NOT_UTF8)
    assert_error(await raw_request(api, "GET", "/v1/ws", [auth, origin]), 403, "forbidden")
    # Headers the gateway does not read are simply ignored.
    reply = await raw_request(api, "GET", "/v1/me", [auth, ("X-Anything", NOT_UTF8)])
    assert reply.status == 200, reply.text
