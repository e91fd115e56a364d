"""The knowledge base over HTTP: add (JSON text, or a multipart file upload), list, get, delete.

A user sees their own documents and the shared ones (added with `jarvis docs add`); only their
own can be deleted here.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated, Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.gateway.keys import DB, USER
from services.gateway.pagination import decode_cursor, encode_cursor
from services.gateway.parsing import (
    NOT_BLANK_SCHEMA,
    check_text,
    path_id,
    query_int,
    read_json,
    validation_details,
)
from services.gateway.views import iso
from shared.documents import HTML_SUFFIXES, html_to_text
from shared.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge, ValidationFailed

routes = web.RouteTableDef()
MAX_BODY_CHARS = 200_000
_COLUMNS = "id, user_id, title, source, body, created_at"


class NewDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=500, json_schema_extra=NOT_BLANK_SCHEMA)
    body: str = Field(min_length=1, max_length=MAX_BODY_CHARS, json_schema_extra=NOT_BLANK_SCHEMA)
    # The rule is on the string, not on the field: it would refuse null too.
    source: (
        Annotated[str, Field(min_length=1, max_length=2000, json_schema_extra=NOT_BLANK_SCHEMA)]
        | None
    ) = None

    @field_validator("title", "body", "source")
    @classmethod
    def _clean(cls, value: str | None) -> str | None:
        return None if value is None else check_text(value).strip()


def document_view(row: Any, *, with_body: bool) -> dict[str, Any]:
    view = {
        "id": str(row["id"]),
        "title": row["title"],
        "source": row["source"],
        "shared": row["user_id"] is None,
        "chars": len(row["body"]),
        "created_at": iso(row["created_at"]),
    }
    if with_body:
        view["body"] = row["body"]
    return view


async def _from_upload(request: web.Request) -> NewDocument:
    # aiohttp holds each part to client_max_size; the whole body is held to it here, as a JSON
    # body is when read.
    if (request.content_length or 0) > request.client_max_size:
        raise PayloadTooLarge(f"the body is over {request.client_max_size} bytes")
    reader = await request.multipart()
    upload: tuple[str, bytes] | None = None
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name != "file" or upload is not None:
            # As the OpenAPI document says: one part, `file`, and nothing else.
            name = part.name if isinstance(part, BodyPartReader) else None
            raise ValidationFailed(
                "a multipart upload has one part, named 'file'",
                details=[{"field": name or "body", "message": "unexpected part"}],
            )
        upload = (part.filename or "upload.txt", await part.read(decode=True))
    if upload is None:
        raise BadRequest("a multipart upload needs a part named 'file'")
    name, raw = upload
    # Text is what the knowledge base holds; bytes that are not UTF-8 are replaced.
    text = raw.decode("utf-8", errors="replace").replace("\x00", "")
    title = PurePath(name).stem
    if PurePath(name).suffix.lower() in HTML_SUFFIXES:
        html_title, text = html_to_text(text)
        title = html_title or title
    try:
        return NewDocument(title=title.strip()[:500] or "upload", body=text, source=name)
    except ValidationError as error:
        raise ValidationFailed(
            "the file cannot be stored", details=validation_details(error)
        ) from None


@routes.post("/v1/documents")
async def add_document(request: web.Request) -> web.Response:
    if request.content_type.startswith("multipart/"):
        try:
            doc = await _from_upload(request)
        # aiohttp raises RuntimeError for a part it cannot decode (an unknown
        # Content-Transfer-Encoding, a `_charset_` part too long to be a charset's name).
        except (HttpProcessingError, ValueError, RuntimeError) as error:
            raise BadRequest(f"malformed multipart body: {error}") from None
    else:
        doc = await read_json(request, NewDocument)
    user_id = request[USER].id
    pool = request.app[DB]
    if doc.source is not None:
        # The same source again replaces the document instead of duplicating it.
        row = await pool.fetchrow(
            f"""
            INSERT INTO documents (user_id, title, body, source) VALUES ($1, $2, $3, $4)
            ON CONFLICT (coalesce(user_id, '00000000-0000-0000-0000-000000000000'::uuid), source)
                WHERE source IS NOT NULL
            DO UPDATE SET title = EXCLUDED.title, body = EXCLUDED.body
            RETURNING {_COLUMNS}
            """,
            user_id,
            doc.title,
            doc.body,
            doc.source,
        )
    else:
        row = await pool.fetchrow(
            "INSERT INTO documents (user_id, title, body) VALUES ($1, $2, $3)"
            f" RETURNING {_COLUMNS}",
            user_id,
            doc.title,
            doc.body,
        )
    return web.json_response(document_view(row, with_body=False), status=201)


@routes.get("/v1/documents")
async def list_documents(request: web.Request) -> web.Response:
    """Newest first: the user's own and the shared documents."""
    limit = query_int(request, "limit", 50, 1, 200)
    cursor = decode_cursor(request)
    rows = await request.app[DB].fetch(
        f"""
        SELECT {_COLUMNS} FROM documents
        WHERE (user_id = $1 OR user_id IS NULL)
          AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
        ORDER BY created_at DESC, id DESC LIMIT $4
        """,
        request[USER].id,
        cursor[0] if cursor else None,
        cursor[1] if cursor else None,
        limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if more else None
    return web.json_response(
        {
            "documents": [document_view(r, with_body=False) for r in rows],
            "next_cursor": next_cursor,
        }
    )


async def _visible(request: web.Request) -> Any:
    doc_id = path_id(request, "document_id", "document")
    row = await request.app[DB].fetchrow(
        f"SELECT {_COLUMNS} FROM documents WHERE id = $1 AND (user_id = $2 OR user_id IS NULL)",
        doc_id,
        request[USER].id,
    )
    if row is None:
        raise NotFound(f"no document {doc_id}")
    return row


@routes.get("/v1/documents/{document_id}")
async def get_document(request: web.Request) -> web.Response:
    return web.json_response(document_view(await _visible(request), with_body=True))


@routes.delete("/v1/documents/{document_id}")
async def delete_document(request: web.Request) -> web.Response:
    row = await _visible(request)
    if row["user_id"] is None:
        raise Forbidden("shared documents are managed with `jarvis docs`")
    await request.app[DB].execute("DELETE FROM documents WHERE id = $1", row["id"])
    return web.Response(status=204)
