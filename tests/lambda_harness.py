"""Build real-shaped Lambda events and contexts for handler tests, and load function modules.

Events follow API Gateway HTTP API payload 2.0 (``sam local generate-event apigateway
http-api-proxy``) and the REQUEST authorizer 2.0 event. ``signed_http_event`` signs the
request exactly as a storefront would (loyalty_bridge.signing).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from loyalty_bridge import signing

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"


@dataclass
class FakeLambdaContext:
    """The attributes Powertools reads from a LambdaContext."""

    function_name: str = "loyalty-bridge-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:loyalty-bridge-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remaining_ms: int = 10_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def load_event(name: str) -> dict[str, Any]:
    """A sample event from events/ (a fresh copy each time)."""
    data: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return data


def load_function(name: str) -> ModuleType:
    """Import ``functions/<name>/app.py`` under the module name ``functions_<name>_app``.

    Every function's module is called app.py, so they cannot all be imported as ``app``.
    """
    module_name = f"functions_{name}_app"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "functions" / name / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _body_text(body: Any) -> str | None:
    if body is None:
        return None
    if isinstance(body, (bytes, str)):
        return body.decode("utf-8") if isinstance(body, bytes) else body
    return json.dumps(body, separators=(",", ":"))


def http_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    query: str = "",
    base64_body: bool = False,
    request_id: str | None = None,
    route_key: str = "$default",
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An HTTP API payload 2.0 event. ``body`` may be bytes, str or a JSON-able object."""
    text = _body_text(body)
    all_headers = {
        "accept": "application/json",
        "content-length": str(len((text or "").encode("utf-8"))),
        "host": "abcdef123.execute-api.us-east-1.amazonaws.com",
        "user-agent": "storefront-test/1.0",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    if text is not None:
        all_headers["content-type"] = "application/json"
    # API Gateway lower-cases header names in payload 2.0.
    all_headers.update({key.lower(): value for key, value in (headers or {}).items()})
    query_params: dict[str, str] = {}
    for pair in filter(None, query.split("&")):
        key, _, value = pair.partition("=")
        query_params[key] = f"{query_params[key]},{value}" if key in query_params else value
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef123",
            "domainName": "abcdef123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abcdef123",
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "storefront-test/1.0",
            },
            "requestId": request_id or f"req-{uuid.uuid4().hex[:12]}",
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": base64_body,
    }
    if query_params:
        event["queryStringParameters"] = query_params
    if path_parameters:
        event["pathParameters"] = path_parameters
    if text is not None:
        event["body"] = base64.b64encode(text.encode("utf-8")).decode("ascii") if base64_body else text
    return event


def signed_http_event(
    method: str,
    path: str,
    *,
    key_id: str,
    secret: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    query: str = "",
    idempotency_key: str | None = None,
    timestamp: float | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Like http_event, with the X-Bridge-* signature headers (and Idempotency-Key if given)."""
    text = _body_text(body)
    signed = signing.signed_headers(
        key_id, secret, method, signing.signing_path(path, query), text or b"", now=timestamp
    )
    all_headers = {**signed, **(headers or {})}
    if idempotency_key is not None:
        all_headers["Idempotency-Key"] = idempotency_key
    return http_event(method, path, body=text, headers=all_headers, query=query, **kwargs)


def authorizer_event(
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    route_key: str | None = None,
    query: str = "",
) -> dict[str, Any]:
    """An HTTP API REQUEST authorizer event, payload 2.0 (no body: authorizers never get one)."""
    request = http_event(
        method, path, headers=headers, query=query, route_key=route_key or f"{method} {path}"
    )
    request.pop("isBase64Encoded", None)
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": f"arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default/{method.upper()}{path}",
        "identitySource": [],
        **{key: value for key, value in request.items() if key != "version"},
    }
