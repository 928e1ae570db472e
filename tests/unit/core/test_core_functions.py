"""The thin core functions: health and the HTTP API authorizer, driven by real-shaped events."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from loyalty_bridge import __version__, signing
from loyalty_bridge.adapters.sms import FileCaptureSms
from loyalty_bridge.signing import StaticSigningKeys
from tests.lambda_harness import FakeLambdaContext, authorizer_event, load_event, load_function

KEYS = StaticSigningKeys({"storefront-1": ("not-a-real-secret", "storefront"), "ops-1": ("x", "admin")})


def test_health_answers_ok_with_version_and_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAGE", "test")
    health = load_function("health")
    result = health.lambda_handler(load_event("health.json"), FakeLambdaContext())
    assert result["statusCode"] == 200
    assert json.loads(result["body"]) == {"status": "ok", "version": __version__, "stage": "test"}


def test_health_other_paths_are_404_problems() -> None:
    health = load_function("health")
    event = load_event("health.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/v1/healthz"
    result = health.lambda_handler(event, FakeLambdaContext())
    assert result["statusCode"] == 404
    assert result["headers"]["Content-Type"] == "application/problem+json"


def test_authorizer_sample_event_is_allowed_with_context() -> None:
    authorizer = load_function("authorizer")
    answer = authorizer.authorize(load_event("authorizer_request.json"), KEYS, window_seconds=300)
    # The sample's timestamp is in the past: allowed, flagged, left to the function's 401.
    assert answer == {
        "isAuthorized": True,
        "context": {"key_id": "storefront-1", "scope": "storefront", "timestamp_ok": False},
    }


def test_authorizer_denies_a_storefront_key_on_admin_routes() -> None:
    authorizer = load_function("authorizer")
    answer = authorizer.authorize(load_event("authorizer_admin_request.json"), KEYS, window_seconds=300)
    assert answer["isAuthorized"] is False


def test_authorizer_allows_admin_keys_on_admin_routes_and_checks_the_window() -> None:
    authorizer = load_function("authorizer")
    headers = signing.signed_headers("ops-1", "x", "GET", "/v1/admin/errors", b"", now=time.time())
    event = authorizer_event("GET", "/v1/admin/errors", headers=headers)
    answer = authorizer.authorize(event, KEYS, window_seconds=300)
    assert answer == {
        "isAuthorized": True,
        "context": {"key_id": "ops-1", "scope": "admin", "timestamp_ok": True},
    }


def test_authorizer_uses_the_route_key_not_the_staged_raw_path() -> None:
    authorizer = load_function("authorizer")
    event = authorizer_event("GET", "/v1/admin/errors", headers={"x-bridge-key-id": "storefront-1"})
    event["rawPath"] = "/prod/v1/admin/errors"
    assert authorizer.authorize(event, KEYS, window_seconds=300)["isAuthorized"] is False


def test_authorizer_allows_unknown_keys_so_the_function_can_answer_401() -> None:
    authorizer = load_function("authorizer")
    event = authorizer_event("POST", "/v1/customers", headers={})
    answer = authorizer.authorize(event, KEYS, window_seconds=300)
    assert answer == {
        "isAuthorized": True,
        "context": {"key_id": "", "scope": "unknown", "timestamp_ok": False},
    }


def test_file_capture_sms_writes_one_json_file_per_message(tmp_path: Path) -> None:
    sms = FileCaptureSms(tmp_path / "sms")
    first = sms.send(to="+15555550100", text="Your code is 1234")
    second = sms.send(to="+15555550101", text="Your code is 5678")
    files = sorted((tmp_path / "sms").glob("*.json"))
    assert len(files) == 2
    messages = {json.loads(f.read_text())["message_id"]: json.loads(f.read_text()) for f in files}
    assert messages[first]["to"] == "+15555550100"
    assert messages[first]["text"] == "Your code is 1234"
    assert messages[second]["to"] == "+15555550101"
