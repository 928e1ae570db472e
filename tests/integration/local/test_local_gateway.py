"""The local gateway builds API Gateway HTTP API (payload 2.0) events, runs the Lambda
authorizer and translates responses the way API Gateway does.

Shapes are checked against events/sam_http_api_proxy.json, generated once with
``sam local generate-event apigateway http-api-proxy``.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration.local.conftest import SampleStack

EVENTS = Path(__file__).resolve().parents[3] / "events"

# Keys of the SAM sample that this API has no source for: mutual TLS and stage variables.
NOT_APPLICABLE = {"stageVariables"}
NOT_APPLICABLE_CONTEXT = {"authentication"}


def _sam_sample() -> dict[str, Any]:
    sample: dict[str, Any] = json.loads((EVENTS / "sam_http_api_proxy.json").read_text())
    return sample


def _echo(sample: SampleStack, method: str, target: str, **kwargs: Any) -> dict[str, Any]:
    response = sample.http.request(method, target, **kwargs)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def test_event_has_every_key_of_the_sam_sample_with_the_same_types(sample_stack: SampleStack) -> None:
    expected = _sam_sample()
    event = _echo(
        sample_stack,
        "POST",
        "/open/thing-1?parameter1=value1&parameter1=value2&parameter2=value",
        headers={"Header1": "value1", "Cookie": "cookie1=a; cookie2=b", "content-type": "application/json"},
        content=b'{"test":"body"}',
    )["event"]

    assert set(expected) - NOT_APPLICABLE == set(event)
    for key, value in event.items():
        assert type(value) is type(expected[key]), key
    context, sam_context = event["requestContext"], expected["requestContext"]
    assert set(sam_context) - NOT_APPLICABLE_CONTEXT - {"authorizer"} == set(context)
    assert set(sam_context["http"]) == set(context["http"])
    for key, value in context.items():
        assert type(value) is type(sam_context[key]), key
    assert re.fullmatch(r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000", context["time"])


def test_event_values_follow_payload_2_0(sample_stack: SampleStack) -> None:
    document = _echo(
        sample_stack,
        "PUT",
        "/open/caf%C3%A9?b=2&a=1&a=3&empty=",
        headers=[
            ("X-Dup", "one"),
            ("x-dup", "two"),
            ("Cookie", "c1=v1; c2=v2"),
            ("User-Agent", "pytest"),
            ("content-type", "application/json"),
        ],
        content=b'{"x": 1}',
    )
    event = document["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "ANY /open/{item}"
    assert event["rawPath"] == "/open/caf%C3%A9"
    assert event["rawQueryString"] == "b=2&a=1&a=3&empty="
    assert event["queryStringParameters"] == {"a": "1,3", "b": "2", "empty": ""}
    assert event["pathParameters"] == {"item": "café"}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-dup"] == "one,two"
    assert all(name == name.lower() for name in event["headers"])
    assert event["headers"]["x-forwarded-proto"] == "http"
    assert event["body"] == '{"x": 1}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["http"] == {
        "method": "PUT",
        "path": "/open/caf%C3%A9",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "pytest",
    }
    assert context["stage"] == "$default"
    assert context["routeKey"] == event["routeKey"]
    assert context["accountId"] == "123456789012"
    assert "authorizer" not in context  # Authorizer: NONE
    assert document["context"]["function_name"].endswith("EchoFunction")
    assert document["context"]["memory_limit_in_mb"] == 256
    assert 0 < document["context"]["remaining_ms"] <= 5000


def test_optional_keys_are_left_out_when_empty(sample_stack: SampleStack) -> None:
    event = _echo(sample_stack, "GET", "/open/x")["event"]
    for key in ("queryStringParameters", "cookies", "body"):
        assert key not in event
    assert event["rawQueryString"] == ""


def test_binary_bodies_arrive_base64_encoded(sample_stack: SampleStack) -> None:
    payload = bytes(range(256))
    event = _echo(
        sample_stack,
        "POST",
        "/open/bin",
        content=payload,
        headers={"content-type": "application/octet-stream"},
    )["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_an_exact_route_wins_over_a_parameter_route(sample_stack: SampleStack) -> None:
    event = _echo(sample_stack, "GET", "/open/exact")["event"]
    assert event["routeKey"] == "GET /open/exact"
    assert "pathParameters" not in event


def test_unknown_routes_and_methods_get_the_gateway_404(sample_stack: SampleStack) -> None:
    for method, path in (("GET", "/nowhere"), ("GET", "/guarded/x"), ("POST", "/open/x/deeper")):
        response = sample_stack.http.request(method, path)
        assert response.status_code == 404
        assert response.json() == {"message": "Not Found"}


def test_function_environment_comes_from_the_template(sample_stack: SampleStack) -> None:
    env = _echo(sample_stack, "GET", "/open/env")["env"]
    status = sample_stack.stack.status()
    assert env["SAMPLE_TABLE"] == status["tables"]["SampleTable"]
    assert env["WORK_QUEUE_URL"] == status["queues"]["WorkQueue"]["url"]
    assert env["WORK_QUEUE_ARN"] == status["queues"]["WorkQueue"]["arn"]
    assert env["SAMPLE_SECRET_ARN"] == status["secrets"]["SampleSecret"]
    assert env["JOINED"] == "us-east-1-sample"
    assert env["AWS_ENDPOINT_URL"] == sample_stack.stack.moto_url


# ---------------------------------------------------------------- authorizer


def test_authorizer_allows_and_its_context_reaches_the_function(sample_stack: SampleStack) -> None:
    event = _echo(
        sample_stack,
        "POST",
        "/guarded/g-1?q=1",
        headers={"x-allow": "yes", "x-who": "ann"},
        content=b"secret body",
    )["event"]
    assert event["requestContext"]["authorizer"] == {"lambda": {"who": "ann", "level": 3}}
    seen = [e for e in sample_stack.records("authorizer") if e["rawPath"] == "/guarded/g-1"][-1]
    assert seen["version"] == "2.0"
    assert seen["type"] == "REQUEST"
    assert seen["routeKey"] == "POST /guarded/{item}"
    assert seen["routeArn"].endswith("/$default/POST/guarded/g-1")
    assert seen["pathParameters"] == {"item": "g-1"}
    assert seen["queryStringParameters"] == {"q": "1"}
    assert "body" not in seen  # authorizers never see the body
    # Same keys as the sample the authorizer's own tests use (events/authorizer_request.json).
    project_sample = json.loads((EVENTS / "authorizer_request.json").read_text())
    optional = {"cookies", "queryStringParameters", "pathParameters", "stageVariables"}
    assert set(project_sample) - optional <= set(seen)
    assert set(project_sample["requestContext"]) <= set(seen["requestContext"])


def test_authorizer_denial_is_api_gateways_403(sample_stack: SampleStack) -> None:
    response = sample_stack.http.post("/guarded/g-2", headers={"x-allow": "no"}, content=b"{}")
    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}


def test_a_malformed_authorizer_answer_is_a_500(sample_stack: SampleStack) -> None:
    response = sample_stack.http.post("/guarded/g-3", headers={"x-allow": "garbage"}, content=b"{}")
    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}


def test_missing_identity_source_is_a_401_without_calling_the_authorizer(sample_stack: SampleStack) -> None:
    before = len(sample_stack.records("authorizer"))
    response = sample_stack.http.get("/header-gated")
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert len(sample_stack.records("authorizer")) == before
    allowed = sample_stack.http.get("/header-gated", headers={"x-gate": "open"})
    assert allowed.status_code == 200
    assert sample_stack.records("authorizer")[-1]["identitySource"] == ["open"]


# ---------------------------------------------------------------- responses


@pytest.mark.parametrize(
    ("kind", "status", "content_type", "body"),
    [
        ("string", 200, "application/json", b"plain words"),
        ("dict", 200, "application/json", b'{"answer": 42}'),
        ("binary", 200, "application/octet-stream", b"\x00\x01bin"),
        ("bad", 500, "application/json", b'{"message": "Internal Server Error"}'),
        ("crash", 500, "application/json", b'{"message": "Internal Server Error"}'),
    ],
)
def test_function_results_are_translated_like_api_gateway(
    sample_stack: SampleStack, kind: str, status: int, content_type: str, body: bytes
) -> None:
    response = sample_stack.http.get(f"/raw?kind={kind}")
    assert response.status_code == status
    assert response.headers["content-type"] == content_type
    assert response.content == body
    assert response.headers["apigw-requestid"]


def test_cookies_become_set_cookie_headers(sample_stack: SampleStack) -> None:
    response = sample_stack.http.get("/raw?kind=cookies")
    assert response.status_code == 201
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2"]
    assert response.headers["x-one"] == "1"


# ---------------------------------------------------------------- capture


def test_mail_and_sms_are_captured_to_files(sample_stack: SampleStack) -> None:
    from tests.conftest import Mailbox, SmsOutbox

    tag = uuid.uuid4().hex[:8]
    to, phone = f"cap-{tag}@example.com", f"+4470000{int(tag, 16) % 100000:05d}"
    response = sample_stack.http.post(
        "/send",
        json={"to": to, "subject": f"hello {tag}", "text": f"code {tag}", "phone": phone},
    )
    assert response.status_code == 200, response.text
    mailbox, outbox = Mailbox(sample_stack.stack.mail_dir), SmsOutbox(sample_stack.stack.sms_dir)

    simple = mailbox.wait_for(to=to, subject=f"hello {tag}")
    assert simple["from"] == "sample-sender@example.com"
    assert Mailbox.text(simple).strip() == f"code {tag}"
    raw = mailbox.wait_for(to=to, subject=f"raw hello {tag}")
    assert Mailbox.text(raw).strip() == f"code {tag}"
    text = outbox.wait_for(to=phone)
    assert text["message"] == f"code {tag}"
    assert f"mail captured: {sample_stack.stack.mail_dir}" in sample_stack.stack.log_path.read_text()


def test_a_chunked_request_body_arrives_whole(sample_stack: SampleStack) -> None:
    event = _echo(
        sample_stack,
        "POST",
        "/open/chunked",
        content=iter([b'{"part": ', b'"one", ', b'"more": 2}']),
        headers={"content-type": "application/json"},
    )["event"]
    assert event["body"] == '{"part": "one", "more": 2}'
