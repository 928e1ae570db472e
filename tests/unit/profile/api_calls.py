"""Invoke the profile-side API handlers (profile_api, admin_api, mailchimp_webhook) with
API Gateway HTTP API v2 events, over the fake-backed services of the profile World."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from loyalty_bridge.signing import StaticSigningKeys
from tests.fake_core import InMemoryIdempotencyStore
from tests.lambda_harness import FakeLambdaContext, load_function, signed_http_event

STOREFRONT_KEY, ADMIN_KEY, SECRET = "storefront-1", "admin-1", "not-a-real-secret"
_request_keys = itertools.count()


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


def handler_with(name: str, monkeypatch: pytest.MonkeyPatch, **services: object) -> ModuleType:
    """functions/<name>/app.py with in-memory keys and idempotency, and ``services`` given."""
    module = load_function(name)
    keys = StaticSigningKeys({STOREFRONT_KEY: (SECRET, "storefront"), ADMIN_KEY: (SECRET, "admin")})
    monkeypatch.setattr(module.app, "signing_keys", keys)
    monkeypatch.setattr(module.app, "idempotency_store", InMemoryIdempotencyStore())
    monkeypatch.setattr(module, "services", module.Services(**services))
    return module


def invoke(module: ModuleType, event: dict[str, Any]) -> Answer:
    result = module.lambda_handler(event, FakeLambdaContext())
    return Answer(
        int(result["statusCode"]), json.loads(result.get("body") or "null"), result.get("headers") or {}
    )


def signed_call(
    module: ModuleType,
    method: str,
    path: str,
    body: Any = None,
    *,
    key_id: str = STOREFRONT_KEY,
    query: str = "",
) -> Answer:
    """A storefront (or admin) request as the bridge's clients sign it; writes get a fresh
    Idempotency-Key."""
    key = f"k-{next(_request_keys)}" if method in ("POST", "PUT", "PATCH") else None
    event = signed_http_event(
        method, path, key_id=key_id, secret=SECRET, body=body, query=query, idempotency_key=key
    )
    return invoke(module, event)
