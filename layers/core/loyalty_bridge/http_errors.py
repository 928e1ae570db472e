"""Domain error -> RFC 9457 problem+json response, in one place.

Every API function registers these handlers (via http_api.make_resolver), so a status
code is chosen by error type, never by matching text, and no stack trace ever leaves.
"""

from __future__ import annotations

import json
from typing import Any, Unpack

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from loyalty_bridge import errors
from loyalty_bridge.observability import logger
from loyalty_bridge.problems import PROBLEM_JSON, ProblemFields, problem_document

__all__ = [
    "PROBLEM_JSON",
    "from_bridge_error",
    "from_unexpected",
    "from_validation_error",
    "problem",
    "status_for",
]

# (status, title) per error type; the most specific class wins (checked in MRO order).
_STATUS: list[tuple[type[errors.BridgeError], int, str]] = [
    (errors.UnknownStore, 422, "Unknown store"),
    (errors.UnknownStaff, 422, "Unknown staff member"),
    (errors.InvalidInput, 422, "Validation failed"),
    (errors.Unauthorized, 401, "Unauthorized"),
    (errors.Forbidden, 403, "Forbidden"),
    (errors.NotFound, 404, "Not found"),
    (errors.TooManyRequests, 429, "Too many requests"),
    (errors.InsufficientPoints, 409, "Not enough points"),
    (errors.CurrencyNotSupported, 422, "Currency not supported"),
    (errors.ProgramKindLocked, 409, "Program kind locked"),
    (errors.CardBlocked, 409, "Card blocked"),
    (errors.CardNotReplaceable, 409, "Card not replaceable"),
    (errors.Conflict, 409, "Conflict"),
    (errors.Refused, 422, "Refused"),
    (errors.Retryable, 503, "Temporarily unavailable"),
    (errors.Permanent, 500, "Internal error"),
]


def status_for(exc: errors.BridgeError) -> tuple[int, str]:
    for klass in type(exc).__mro__:
        for error_type, status, title in _STATUS:
            if klass is error_type:
                return status, title
    return 500, "Internal error"


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **fields: Unpack[ProblemFields],
) -> Response[str]:
    """A problem+json response (``fields``: ``request_id``, ``extra`` members)."""
    body = problem_document(status, code, title, detail, **fields)
    return Response(
        status_code=status,
        content_type=PROBLEM_JSON,
        body=json.dumps(body, separators=(",", ":")),
        headers=headers or {},
    )


def from_bridge_error(exc: errors.BridgeError, request_id: str) -> Response[str]:
    status, title = status_for(exc)
    extra: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if isinstance(exc, errors.InvalidInput) and exc.errors:
        extra["errors"] = exc.errors
    if isinstance(exc, errors.TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, errors.Retryable):
        headers["Retry-After"] = "5"
    # 5xx details stay in the logs: the customer sees a generic sentence.
    detail = exc.detail if status < 500 else "The request could not be completed. Please try again."
    return problem(status, exc.code, title, detail, request_id=request_id, extra=extra, headers=headers)


# Validators of rules across fields that no JSON Schema can state raise a
# PydanticCustomError of one of these types: the problem's code is that type, so that
# ``validation_failed`` always means "the fields do not match openapi.yaml".
RULE_CODES = frozenset({"invalid_program"})


def from_validation_error(exc: RequestValidationError, request_id: str) -> Response[str]:
    fields = []
    types = set()
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body",)]
        fields.append({"field": ".".join(loc) or "body", "message": str(err.get("msg", "invalid"))})
        types.add(str(err.get("type", "")))
    code = types.pop() if len(types) == 1 and types <= RULE_CODES else "validation_failed"
    return problem(
        422,
        code,
        "Validation failed",
        "The request has invalid or missing fields.",
        request_id=request_id,
        extra={"errors": fields},
    )


def from_unexpected(exc: Exception, request_id: str) -> Response[str]:
    logger.exception("unhandled error", extra={"error_type": type(exc).__name__})
    return problem(
        500,
        "internal_error",
        "Internal error",
        "The request could not be completed. Please try again.",
        request_id=request_id,
    )
