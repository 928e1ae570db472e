"""profile_api (P1, P3) driven by real-shaped HTTP API v2 events over fake-backed services: what
the storefront sees (202 with the sync state and record version, 422 naming the fields, 404)
and that the web change is saved and queued for the worker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from loyalty_bridge import wiring
from loyalty_bridge.models.domain import Consents
from loyalty_bridge.models.messages import Envelope
from tests.lambda_harness import load_event
from tests.unit.profile.api_calls import handler_with, signed_call
from tests.unit.profile.conftest import World


@pytest.fixture
def api(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    wiring.reset()
    yield handler_with("profile_api", monkeypatch, profile_updates=world.updates)
    wiring.reset()


def sample_body(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(load_event(name)["body"])
    return body


def test_a_profile_patch_is_saved_and_answered_202_queued(api: ModuleType, world: World) -> None:
    created = world.customer("c-1001")

    answer = signed_call(api, "PATCH", "/v1/customers/c-1001", sample_body("profile_api_update_profile.json"))

    saved = world.customers.get("c-1001")
    assert saved is not None
    assert saved.version == created.version + 1
    assert (answer.status, answer.body) == (202, {"sync": "queued", "version": saved.version})
    assert (saved.first_name, saved.email, saved.mobile) == ("Anna", "anna.lee@example.org", "+447700900124")
    assert saved.address is not None
    assert saved.address.city == "York"
    [message] = world.queue.drain()
    change = Envelope.model_validate_json(message.body)
    assert (change.kind, change.customer_id, change.version) == ("profile.update", "c-1001", saved.version)


def test_consents_are_answered_202_and_a_repeat_is_unchanged(api: ModuleType, world: World) -> None:
    created = world.customer("c-1001")
    path = "/v1/customers/c-1001/consents"
    body = sample_body("profile_api_set_consents.json")

    first = signed_call(api, "PUT", path, body)
    again = signed_call(api, "PUT", path, body)

    version = created.version + 1
    assert (first.status, first.body) == (202, {"sync": "queued", "version": version})
    assert (again.status, again.body) == (202, {"sync": "unchanged", "version": version})
    saved = world.customers.get("c-1001")
    assert saved is not None
    assert saved.consents == Consents(email=False, sms=True)
    assert len(world.queue.drain()) == 1


@pytest.mark.parametrize(
    ("method", "suffix", "body", "field"),
    [
        ("PATCH", "", {"email": "not-an-email"}, "email"),
        ("PATCH", "", {"nickname": "x"}, "nickname"),
        ("PUT", "/consents", {"email": "yes", "sms": False}, "email"),
    ],
)
def test_a_bad_body_is_422_naming_the_field_and_changes_nothing(
    api: ModuleType, world: World, method: str, suffix: str, body: dict[str, Any], field: str
) -> None:
    before = world.customer("c-1001")

    answer = signed_call(api, method, f"/v1/customers/c-1001{suffix}", body)

    assert answer.status == 422
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.body["code"] == "validation_failed"
    assert field in {error["field"] for error in answer.body["errors"]}
    assert world.customers.get("c-1001") == before
    assert world.queue.drain() == []


def test_an_unknown_customer_is_404(api: ModuleType) -> None:
    answer = signed_call(api, "PATCH", "/v1/customers/nobody", {"first_name": "Ann"})

    assert (answer.status, answer.body["code"]) == (404, "customer_not_found")
