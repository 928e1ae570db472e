"""GET /v1/health: unsigned liveness. Calls no AWS service, so it answers even when they fail.

Its cold start is the logger only: no resolver, no signing code, no pydantic (issue 19).
API Gateway routes only ``GET /v1/health`` here; anything else is answered as the other
functions answer an unknown route. ``app`` (the route as a Powertools resolver) is built
only when asked for, by tools/openapi.py, so the contract still describes this route.
"""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_bridge import __version__
from loyalty_bridge.observability import logger
from loyalty_bridge.problems import PROBLEM_JSON, problem_document

ROUTE = ("GET", "/v1/health")


def health() -> dict[str, str]:
    # STAGE is the template's; read directly, as settings.py would (its model costs pydantic).
    return {"status": "ok", "version": __version__, "stage": os.environ.get("STAGE", "local")}


def _answer(status: int, content_type: str, document: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_type},
        "body": json.dumps(document, separators=(",", ":")),
        "isBase64Encoded": False,
    }


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    http = (event.get("requestContext") or {}).get("http") or {}
    if (str(http.get("method", "")).upper(), event.get("rawPath")) == ROUTE:
        return _answer(200, "application/json", health())
    request_id = str((event.get("requestContext") or {}).get("requestId") or "")
    return _answer(
        404,
        PROBLEM_JSON,
        problem_document(
            404, "route_not_found", "Not found", "There is no such endpoint.", request_id=request_id
        ),
    )


def __getattr__(name: str) -> Any:
    """``app``: the route as a Powertools resolver, for tools/openapi.py only."""
    if name != "app":
        raise AttributeError(name)
    from loyalty_bridge.http_api import make_resolver

    resolver = make_resolver(signed=False, idempotent_writes=False)
    resolver.get(ROUTE[1])(health)
    return resolver
