"""The knowledge base over HTTP (services/gateway/routes/documents.py)."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest

from tests.fixtures.api import Api, Caller, Reply, assert_error

DOCUMENT_FIELDS = {"id", "title", "source", "shared", "chars", "created_at"}


async def upload(api: Api, who: Caller, *parts: tuple[str, bytes, str | None]) -> Reply:
    """POST /v1/documents as multipart/form-data: (part name, content, file name) each."""
    form = aiohttp.FormData(default_to_multipart=True)
    for name, content, filename in parts:
        # A part without a file name is a plain form field.
        form.add_field(name, content if filename else content.decode(), filename=filename)
    return await api.request("POST", "/v1/documents", who, data=form)


async def add_shared_document(api: Api, title: str = "Handbook") -> uuid.UUID:
    """A document of everyone's, as `jarvis docs add` makes it."""
    return await api.pool.fetchval(
        "INSERT INTO documents (user_id, title, body, source)"
        " VALUES (NULL, $1, 'Shared text', '/srv/handbook.md') RETURNING id",
        title,
    )


async def test_add_a_document_as_json_and_read_it(api: Api) -> None:
    alice = await api.user("alice")
    reply = await api.request(
        "POST",
        "/v1/documents",
        alice,
        json={"title": " Packing list ", "body": "Passport\nCharger\n", "source": "notes/pack"},
    )
    assert reply.status == 201
    added = reply.body
    assert set(added) == DOCUMENT_FIELDS
    assert added["title"] == "Packing list"
    assert added["source"] == "notes/pack"
    assert added["shared"] is False
    assert added["chars"] == len("Passport\nCharger")

    got = await api.request("GET", f"/v1/documents/{added['id']}", alice)
    assert got.status == 200
    assert got.body == added | {"body": "Passport\nCharger"}


async def test_the_same_source_again_replaces_the_document(api: Api) -> None:
    alice = await api.user("alice")
    first = await api.add_document(alice, "v1", "first text", source="notes/a")
    second = await api.add_document(alice, "v2", "second text", source="notes/a")
    assert second["id"] == first["id"]
    listed = (await api.request("GET", "/v1/documents", alice)).body["documents"]
    assert [(d["id"], d["title"]) for d in listed] == [(first["id"], "v2")]
    # Without a source, every add is a new document.
    await api.add_document(alice, "loose", "text")
    await api.add_document(alice, "loose", "text")
    assert len((await api.request("GET", "/v1/documents", alice)).body["documents"]) == 3


async def test_upload_markdown(api: Api) -> None:
    alice = await api.user("alice")
    text = "# Trip\n\n- Lisbon\n- Porto\n"
    reply = await upload(api, alice, ("file", text.encode(), "trip-notes.md"))
    assert reply.status == 201, reply.text
    assert reply.body["title"] == "trip-notes"
    assert reply.body["source"] == "trip-notes.md"
    got = await api.request("GET", f"/v1/documents/{reply.body['id']}", alice)
    assert got.body["body"] == text.strip()


async def test_upload_html_becomes_text(api: Api) -> None:
    alice = await api.user("alice")
    html = (
        "<html><head><title>Opening hours</title><style>p {color: red}</style></head>"
        "<body><h1>Museum</h1><p>Open <b>9</b> to 5.</p><script>alert(1)</script></body></html>"
    )
    reply = await upload(api, alice, ("file", html.encode(), "hours.html"))
    assert reply.status == 201, reply.text
    assert reply.body["title"] == "Opening hours"
    body = (await api.request("GET", f"/v1/documents/{reply.body['id']}", alice)).body["body"]
    assert "Museum" in body and "Open 9 to 5." in body
    assert "<" not in body and "alert" not in body and "color" not in body


async def test_upload_replaces_bytes_that_are_not_utf8(api: Api) -> None:
    alice = await api.user("alice")
    reply = await upload(api, alice, ("file", b"caf\xe9 au lait", "menu.txt"))
    assert reply.status == 201, reply.text
    body = (await api.request("GET", f"/v1/documents/{reply.body['id']}", alice)).body["body"]
    assert body == "caf\ufffd au lait"


@pytest.mark.parametrize(
    ("parts", "status", "field"),
    [
        # The schema's one property is `file`; any other part is refused.
        ([("file", b"text", "a.txt"), ("title", b"mine", None)], 422, "title"),
        ([("title", b"mine", None), ("file", b"text", "a.txt")], 422, "title"),
        ([("file", b"text", "a.txt"), ("file", b"more", "b.txt")], 422, "file"),
        ([("file", b"", "empty.txt")], 422, "body"),
        ([("file", b" \n\t\x00 ", "blank.txt")], 422, "body"),
        ([("file", b"<html><script>x()</script></html>", "blank.html")], 422, "body"),
        ([("document", b"text", "a.txt")], 422, "document"),
    ],
)
async def test_a_bad_upload_is_refused(
    api: Api, parts: list[tuple[str, bytes, str | None]], status: int, field: str
) -> None:
    alice = await api.user("alice")
    error = assert_error(await upload(api, alice, *parts), status, "validation_failed")
    assert [d["field"] for d in error["details"]] == [field]
    assert await api.pool.fetchval("SELECT count(*) FROM documents") == 0


async def test_an_upload_without_parts_is_400(api: Api) -> None:
    alice = await api.user("alice")
    reply = await api.request(
        "POST",
        "/v1/documents",
        alice,
        data=b"--b--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert_error(reply, 400, "bad_request")


FILE_PART = b'Content-Disposition: form-data; name="file"; filename="a.txt"'


@pytest.mark.parametrize(
    "parts",
    [
        # A transfer encoding aiohttp does not know: it raises RuntimeError reading the part.
        # (A part's Content-Encoding is ignored, as RFC 7578 says form data has none.)
        [FILE_PART + b"\r\nContent-Transfer-Encoding: x-foo\r\n\r\ntext"],
        # A form's default charset (RFC 7578 4.6) longer than any charset's name.
        [
            b'Content-Disposition: form-data; name="_charset_"\r\n\r\n' + b"x" * 40,
            FILE_PART + b"\r\n\r\ntext",
        ],
        [
            b'Content-Disposition: form-data; name="_charset_"\r\n\r\n\xff\xfe',
            FILE_PART + b"\r\n\r\ntext",
        ],
    ],
)
async def test_a_malformed_multipart_body_is_400(api: Api, parts: list[bytes]) -> None:
    alice = await api.user("alice")
    body = b"".join(b"--b0undary\r\n" + part + b"\r\n" for part in parts) + b"--b0undary--\r\n"
    reply = await api.request(
        "POST",
        "/v1/documents",
        alice,
        data=body,
        headers={"Content-Type": "multipart/form-data; boundary=b0undary"},
    )
    assert_error(reply, 400, "bad_request")
    assert await api.pool.fetchval("SELECT count(*) FROM documents") == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"body": "text"}, "title"),
        ({"title": "t"}, "body"),
        ({"title": " ", "body": "text"}, "title"),
        ({"title": "t", "body": "\u2003\n"}, "body"),
        ({"title": "t", "body": "a\x00"}, "body"),
        ({"title": "t", "body": "text", "source": ""}, "source"),
        ({"title": "t", "body": "x" * 200_001}, "body"),
        ({"title": ["t"], "body": "text"}, "title"),
        ({"title": "t", "body": "text", "owner": "bob"}, "owner"),
    ],
)
async def test_a_bad_json_document_is_422_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    alice = await api.user("alice")
    reply = await api.request("POST", "/v1/documents", alice, json=body)
    error = assert_error(reply, 422, "validation_failed")
    assert [d["field"] for d in error["details"]] == [field]


async def test_list_own_and_shared_documents_page_by_page(api: Api) -> None:
    alice = await api.user("alice")
    bob = await api.user("bob")
    shared_id = await add_shared_document(api)
    own = [(await api.add_document(alice, f"doc {n}"))["id"] for n in range(4)]
    await api.add_document(bob, "bob's")

    pages = await api.pages(alice, "/v1/documents", "documents", limit=2)
    assert [len(page) for page in pages] == [2, 2, 1]
    listed = {d["id"]: d for page in pages for d in page}
    assert set(listed) == {*own, str(shared_id)}
    assert listed[str(shared_id)]["shared"] is True
    assert listed[str(shared_id)]["source"] == "/srv/handbook.md"
    assert all(set(d) == DOCUMENT_FIELDS for d in listed.values())


async def test_a_shared_document_can_be_read_but_not_deleted(api: Api) -> None:
    alice = await api.user("alice")
    shared_id = await add_shared_document(api)
    got = await api.request("GET", f"/v1/documents/{shared_id}", alice)
    assert got.status == 200
    assert got.body["shared"] is True
    assert got.body["body"] == "Shared text"

    reply = await api.request("DELETE", f"/v1/documents/{shared_id}", alice)
    assert_error(reply, 403, "forbidden")
    assert await api.pool.fetchval("SELECT count(*) FROM documents WHERE id = $1", shared_id) == 1


async def test_delete_own_document(api: Api) -> None:
    alice = await api.user("alice")
    doc = await api.add_document(alice)
    kept = await api.add_document(alice, "kept")
    path = f"/v1/documents/{doc['id']}"
    reply = await api.request("DELETE", path, alice)
    assert reply.status == 204
    assert reply.text == ""
    assert_error(await api.request("GET", path, alice), 404, "not_found")
    assert_error(await api.request("DELETE", path, alice), 404, "not_found")
    listed = (await api.request("GET", "/v1/documents", alice)).body["documents"]
    assert [d["id"] for d in listed] == [kept["id"]]


@pytest.mark.parametrize("document_id", [str(uuid.uuid4()), "handbook"])
async def test_an_unknown_document_is_404(api: Api, document_id: str) -> None:
    alice = await api.user("alice")
    for method in ("GET", "DELETE"):
        reply = await api.request(method, f"/v1/documents/{document_id}", alice)
        assert_error(reply, 404, "not_found")
