"""Our errors, and the one error body every HTTP error uses:

    {"error": {"code": "not_found", "message": "...", "request_id": "...", "details": [...]?}}

Routes and services raise `AppError` subclasses; the gateway turns them (and Starlette's own
HTTP errors, validation errors and anything unexpected) into that body.
"""

from __future__ import annotations

from typing import Any

import orjson

from cryptodash.platform.logging import request_id_var

STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


class AppError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details
        self.headers = headers or {}


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class Invalid(AppError):
    """Bad input that passed schema validation but not the business rules."""

    status_code = 422
    code = "validation_error"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"


def code_for(status: int) -> str:
    return STATUS_CODES.get(status, "error" if status >= 400 else "ok")


def error_body(status: int, message: str, *, code: str | None = None, details: Any = None) -> bytes:
    error: dict[str, Any] = {
        "code": code or code_for(status),
        "message": message,
        "request_id": request_id_var.get(),
    }
    if details is not None:
        error["details"] = details
    return orjson.dumps({"error": error}, default=str)
