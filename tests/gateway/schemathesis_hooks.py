"""Schemathesis hooks for tests/gateway/test_schemathesis.py, loaded by `st run` from its config.

Every check runs; this drops only "schema-valid request rejected" failures that are the API's
intended answer to a request a JSON Schema cannot tell apart from a valid one, each matched on
the exact request and response.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData

from services.gateway.app import MAX_BODY_BYTES

MESSAGES = "/v1/chats/{chat_id}/messages"
DOCUMENTS = "/v1/documents"


def _error_code(response: Any) -> str | None:
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def _body_size(response: Any) -> int:
    body = response.request.body
    if body is None:
        return 0
    return len(body.encode() if isinstance(body, str) else body)


def is_idempotency_key_reuse(case: Any, response: Any) -> bool:
    """The same Idempotency-Key with another body: 422, as the API promises (not a replay)."""
    return (
        case.method.upper() == "POST"
        and case.operation.path == MESSAGES
        and "Idempotency-Key" in response.request.headers
        and response.status_code == 422
        and _error_code(response) == "idempotency_key_reused"
    )


def is_body_too_large(response: Any) -> bool:
    """A schema-valid body may still be over the gateway's byte limit (maxLength counts
    characters, the limit bytes): 413."""
    return (
        response.status_code == 413
        and _error_code(response) == "payload_too_large"
        and _body_size(response) > MAX_BODY_BYTES
    )


def is_blank_upload(case: Any, response: Any) -> bool:
    """A file whose bytes hold no text (only whitespace or NUL): 422, as the `file` property's
    description says; `minLength` is all a schema can say about the bytes of a binary part."""
    if not (
        case.method.upper() == "POST"
        and case.operation.path == DOCUMENTS
        and case.media_type == "multipart/form-data"
        and isinstance(case.body, dict)
        and response.status_code == 422
        and _error_code(response) == "validation_failed"
    ):
        return False
    data = getattr(case.body.get("file"), "data", case.body.get("file"))
    if isinstance(data, str):
        data = data.encode()
    return (
        isinstance(data, bytes) and not data.decode("utf-8", "replace").replace("\x00", "").strip()
    )


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """True keeps the failure."""
    if not isinstance(failure, RejectedPositiveData):
        return True
    return not (
        is_idempotency_key_reuse(case, response)
        or is_body_too_large(response)
        or is_blank_upload(case, response)
    )
