"""HTTP API REQUEST authorizer (payload 2.0, simple responses).

Why it lets most requests through: HTTP API authorizers never receive the request body,
so they cannot check the HMAC (it covers the body hash). The full signature check runs
in every API function (``loyalty_bridge.http_api``), which can also answer a failure
with a 401 problem+json; API Gateway's own deny replies are plain ``{"message": ...}``
and cannot be customised on an HTTP API. So this authorizer resolves the key id to its
scope, checks the timestamp window, and denies only one case it is sure of: an admin
route (``/v1/admin/...``) called with a known non-admin key. Everything else is allowed
with context ``{key_id, scope, timestamp_ok}`` for logs and the function.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_bridge import signing, wiring
from loyalty_bridge.observability import logger


def _route_path(event: dict[str, Any]) -> str:
    # routeKey ("POST /v1/admin/errors/{id}/replay") does not carry the stage prefix that
    # rawPath has on named stages; "$default" routes fall back to rawPath.
    route_key = str(event.get("routeKey") or "")
    if " " in route_key:
        return route_key.split(" ", 1)[1]
    return str(event.get("rawPath") or "/")


def _header(headers: dict[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((value for key, value in headers.items() if key.lower() == lowered), None)


def authorize(event: dict[str, Any], keys: signing.KeyStore, *, window_seconds: int) -> dict[str, Any]:
    """The simple-response answer for one authorizer event (keys injected for tests)."""
    headers = event.get("headers") or {}
    decision = signing.decide_access(
        path=_route_path(event),
        key_id=_header(headers, signing.KEY_ID_HEADER),
        timestamp=_header(headers, signing.TIMESTAMP_HEADER),
        keys=keys,
        window_seconds=window_seconds,
    )
    if not decision.allowed:
        logger.info("admin route denied", extra={"key_id": decision.key_id, "scope": decision.scope})
    return {
        "isAuthorized": decision.allowed,
        "context": {
            "key_id": decision.key_id,
            "scope": decision.scope,
            "timestamp_ok": decision.timestamp_ok,
        },
    }


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return authorize(event, wiring.signing_keys(), window_seconds=wiring.settings().signing_window_seconds)
