"""The RFC 9457 problem document every error answer carries (API.md "Errors"), as plain
data: ``http_errors`` wraps it in a Powertools response; the health check, which has no
resolver (issue 19: nothing heavy on its cold path), answers it as it is."""

from __future__ import annotations

from typing import Any, TypedDict, Unpack

PROBLEM_JSON = "application/problem+json"


class ProblemFields(TypedDict, total=False):
    request_id: str
    extra: dict[str, Any] | None


def problem_document(
    status: int, code: str, title: str, detail: str, **fields: Unpack[ProblemFields]
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"https://loyalty-bridge.dev/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": fields.get("request_id", ""),
    }
    body.update(fields.get("extra") or {})
    return body
