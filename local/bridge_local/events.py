"""Event and response shapes, as AWS builds them (pure functions: tested against samples).

- API Gateway HTTP API payload format 2.0 (requests, Lambda authorizer requests, responses)
- SQS -> Lambda event source mapping records
- EventBridge scheduled events
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from bridge_local.template import ACCOUNT_ID, API_ID, REGION

# Content types API Gateway passes as text; anything else arrives base64-encoded.
_TEXT_TYPES = re.compile(
    r"^(text/.*|application/(json|.*\+json|javascript|xml|.*\+xml|x-yaml|yaml|graphql))$", re.IGNORECASE
)


@dataclass
class HttpRequest:
    """What the gateway received, before any interpretation."""

    method: str
    target: str  # raw request target: path plus ?query, exactly as sent
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"
    received_at: float = field(default_factory=time.time)

    @property
    def raw_path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def raw_query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ",".join(values) if values else None


def request_id() -> str:
    """API Gateway style request id, e.g. 'JKJaXmPLvHcESHA='."""
    return base64.b64encode(secrets.token_bytes(10)).decode()


def trace_id(now: float) -> str:
    return f"Root=1-{int(now):08x}-{secrets.token_hex(12)}"


def _headers_v2(request: HttpRequest, port: int) -> tuple[dict[str, str], list[str]]:
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    headers.setdefault("x-forwarded-for", request.source_ip)
    headers.setdefault("x-forwarded-port", str(port))
    headers.setdefault("x-forwarded-proto", "http")
    headers.setdefault("x-amzn-trace-id", trace_id(request.received_at))
    return headers, cookies


def _query_v2(raw_query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        params[key] = f"{params[key]},{value}" if key in params else value
    return params


def _body_v2(request: HttpRequest) -> tuple[str | None, bool]:
    if not request.body:
        return None, False
    content_type = (request.header("content-type") or "").split(";")[0].strip()
    if _TEXT_TYPES.match(content_type):
        try:
            return request.body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(request.body).decode(), True


def request_context_v2(request: HttpRequest, route_key: str, port: int, req_id: str) -> dict[str, Any]:
    host = request.header("host") or f"127.0.0.1:{port}"
    received = datetime.fromtimestamp(request.received_at, UTC)
    return {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": host,
        "domainPrefix": host.split(".")[0],
        "http": {
            "method": request.method,
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": request.header("user-agent") or "",
        },
        "requestId": req_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": received.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(request.received_at * 1000),
    }


def http_api_event(
    request: HttpRequest,
    *,
    route_key: str,
    path_parameters: dict[str, str],
    port: int,
    req_id: str,
    authorizer_context: dict[str, Any] | None = None,
    authorized: bool = False,
) -> dict[str, Any]:
    """Lambda proxy integration event, payload format 2.0. Optional keys are omitted when
    empty, as API Gateway does."""
    headers, cookies = _headers_v2(request, port)
    body, is_base64 = _body_v2(request)
    context = request_context_v2(request, route_key, port, req_id)
    if authorized:
        context["authorizer"] = {"lambda": authorizer_context}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    query = _query_v2(request.raw_query)
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = context
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body is not None:
        event["body"] = body
    event["isBase64Encoded"] = is_base64
    return event


def authorizer_event(
    request: HttpRequest,
    *,
    route_key: str,
    method: str,
    path_parameters: dict[str, str],
    port: int,
    req_id: str,
    identity_source: list[str],
) -> dict[str, Any]:
    """HTTP API Lambda authorizer request, payload format 2.0 (no body: authorizers never
    see it, which is why the functions verify the body hash themselves)."""
    headers, cookies = _headers_v2(request, port)
    event: dict[str, Any] = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{API_ID}/$default/{method}{request.raw_path}",
        "identitySource": identity_source,
        "routeKey": route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    query = _query_v2(request.raw_query)
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = request_context_v2(request, route_key, port, req_id)
    if path_parameters:
        event["pathParameters"] = path_parameters
    return event


# ---------------------------------------------------------------- routing


@dataclass(frozen=True)
class RoutePattern:
    method: str
    path: str
    regex: re.Pattern[str]
    params: tuple[str, ...]
    greedy: bool

    @property
    def specificity(self) -> tuple[int, int, int, int]:
        # Exact paths beat parameters, parameters beat greedy ones, a method beats ANY.
        literal_segments = sum(1 for seg in self.path.split("/") if seg and not seg.startswith("{"))
        return (int(self.greedy), -literal_segments, len(self.params), int(self.method == "ANY"))


def compile_route(method: str, path: str) -> RoutePattern:
    params: list[str] = []
    greedy = False
    pattern = ""
    for segment in path.strip("/").split("/") if path != "/" else []:
        pattern += "/"
        match = re.fullmatch(r"\{([A-Za-z0-9_.-]+)(\+?)\}", segment)
        if match:
            params.append(match.group(1))
            if match.group(2):
                greedy = True
                pattern += f"(?P<p{len(params) - 1}>.+)"
            else:
                pattern += f"(?P<p{len(params) - 1}>[^/]+)"
        else:
            pattern += re.escape(segment)
    return RoutePattern(method, path, re.compile(f"^{pattern or '/'}$"), tuple(params), greedy)


def match_route(
    patterns: list[RoutePattern], method: str, raw_path: str
) -> tuple[RoutePattern, dict[str, str]] | None:
    candidates: list[tuple[RoutePattern, dict[str, str]]] = []
    for pattern in patterns:
        if pattern.method not in (method, "ANY"):
            continue
        found = pattern.regex.match(raw_path)
        if found:
            values = {name: unquote(found.group(f"p{i}")) for i, name in enumerate(pattern.params)}
            candidates.append((pattern, values))
    if not candidates:
        return None
    return min(candidates, key=lambda item: item[0].specificity)


# ---------------------------------------------------------------- responses


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class BadLambdaResponse(ValueError):
    pass


def gateway_message(status: int, message: str) -> HttpResponse:
    body = json.dumps({"message": message}).encode()
    return HttpResponse(status, [("content-type", "application/json")], body)


def http_api_response(result: Any) -> HttpResponse:
    """Payload 2.0 response rules: a dict with statusCode is used as is; any other valid
    JSON is returned as a 200 application/json body."""
    if not (isinstance(result, dict) and "statusCode" in result):
        body = result.encode() if isinstance(result, str) else json.dumps(result).encode()
        return HttpResponse(200, [("content-type", "application/json")], body)
    status = result["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise BadLambdaResponse(f"invalid statusCode {status!r}")
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        headers.append((str(name), str(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(v)) for v in values)
    for cookie in result.get("cookies") or ():
        headers.append(("set-cookie", str(cookie)))
    raw_body = result.get("body")
    if raw_body is None:
        body = b""
    elif result.get("isBase64Encoded"):
        try:
            body = base64.b64decode(str(raw_body), validate=True)
        except ValueError as exc:
            raise BadLambdaResponse("body is not valid base64") from exc
    else:
        body = str(raw_body).encode()
    return HttpResponse(status, headers, body)


def authorizer_decision(result: Any, *, simple: bool, route_arn: str) -> tuple[bool, dict[str, Any] | None]:
    """(authorized, context) from a 2.0 authorizer response; raises on a malformed one (500)."""
    if not isinstance(result, dict):
        raise BadLambdaResponse("authorizer returned no object")
    context = result.get("context")
    if context is not None and not isinstance(context, dict):
        raise BadLambdaResponse("authorizer context must be an object")
    if simple:
        allowed = result.get("isAuthorized")
        if not isinstance(allowed, bool):
            raise BadLambdaResponse("simple response needs a boolean isAuthorized")
        return allowed, context
    document = result.get("policyDocument")
    if not isinstance(document, dict):
        raise BadLambdaResponse("IAM policy response needs a policyDocument")
    allowed = False
    for statement in document.get("Statement") or ():
        resources = statement.get("Resource")
        resources = resources if isinstance(resources, list) else [resources]
        if any(_arn_matches(str(r), route_arn) for r in resources):
            if statement.get("Effect") == "Deny":
                return False, context
            allowed = allowed or statement.get("Effect") == "Allow"
    return allowed, context


def _arn_matches(pattern: str, arn: str) -> bool:
    regex = "^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$"
    return re.match(regex, arn) is not None


# ---------------------------------------------------------------- SQS and schedules


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def sqs_record(message: dict[str, Any], queue_arn: str, region: str = REGION) -> dict[str, Any]:
    """One record of an SQS -> Lambda event, from a ReceiveMessage result."""
    attributes = dict(message.get("Attributes") or {})
    message_attributes: dict[str, Any] = {}
    for name, attr in (message.get("MessageAttributes") or {}).items():
        binary = attr.get("BinaryValue")
        message_attributes[name] = {
            "stringValue": attr.get("StringValue"),
            "binaryValue": base64.b64encode(binary).decode() if isinstance(binary, bytes) else binary,
            "stringListValues": list(attr.get("StringListValues") or []),
            "binaryListValues": list(attr.get("BinaryListValues") or []),
            "dataType": attr.get("DataType"),
        }
        if message_attributes[name]["stringValue"] is None:
            del message_attributes[name]["stringValue"]
        if message_attributes[name]["binaryValue"] is None:
            del message_attributes[name]["binaryValue"]
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody") or _md5(message.get("Body", "")),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def batch_failures(result: Any, message_ids: list[str], *, report_failures: bool) -> set[str]:
    """Message ids to retry. Without ReportBatchItemFailures any return value means success;
    with it, a malformed response fails the whole batch (as Lambda does)."""
    if not report_failures or result is None:
        return set()
    if not isinstance(result, dict):
        return set(message_ids)
    failures = result.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return set(message_ids)
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in message_ids:
            return set(message_ids)
        failed.add(identifier)
    return failed


def scheduled_event(rule_name: str, region: str = REGION) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{rule_name}"],
        "detail": {},
    }


_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")


def schedule_interval(expression: str) -> float | None:
    """Seconds between runs for rate(...); None for cron(...) (run every minute locally)."""
    match = _RATE.match(expression.strip())
    if not match:
        return None
    unit = match.group(2).rstrip("s")
    return int(match.group(1)) * {"minute": 60, "hour": 3600, "day": 86400}[unit]
