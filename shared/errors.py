"""One root error with a code and an HTTP status; the gateway renders every one the same way:
{"error": {"code": ..., "message": ..., "details": ...}}."""

from __future__ import annotations

from typing import Any


class JarvisError(Exception):
    code = "error"
    status = 500

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(JarvisError):
    code = "bad_request"
    status = 400


class ValidationFailed(JarvisError):
    code = "validation_failed"
    status = 422


class IdempotencyMismatch(ValidationFailed):
    code = "idempotency_key_reused"


class Unauthorized(JarvisError):
    code = "unauthorized"
    status = 401


class Forbidden(JarvisError):
    code = "forbidden"
    status = 403


class NotFound(JarvisError):
    code = "not_found"
    status = 404


class Conflict(JarvisError):
    code = "conflict"
    status = 409


class PayloadTooLarge(JarvisError):
    code = "payload_too_large"
    status = 413


class ServiceUnavailable(JarvisError):
    """PostgreSQL or Redis does not answer: the request may succeed if tried again."""

    code = "unavailable"
    status = 503


class RateLimited(JarvisError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after
