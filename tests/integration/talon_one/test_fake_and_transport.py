"""The fake Talon.One checks exchanges against the official schemas; the adapter's transport
speaks Talon.One's auth and retries what Talon.One asks to retry."""

from __future__ import annotations

import random
from collections.abc import Iterator

import httpx
import pytest

from loyalty_bridge import errors
from loyalty_bridge.adapters.rest_transport import build_http_client
from loyalty_bridge.adapters.talon_one_transport import TalonOneApiKey, TalonOneHttp
from loyalty_bridge.adapters.talon_one_wire import IntegrationState
from loyalty_bridge.settings import Settings
from tests.fake_rest_platform.faults import Fault
from tests.fake_talon_one import DEFAULT_API_KEY, FakeTalonOne, TalonOneServer, serve
from tests.fakes import RecordingMetrics

AUTH = {"Authorization": f"ApiKey-v1 {DEFAULT_API_KEY}"}


@pytest.fixture
def server() -> Iterator[TalonOneServer]:
    running = serve(FakeTalonOne())
    yield running
    running.stop()


def _api(server: TalonOneServer, key: str = DEFAULT_API_KEY) -> TalonOneHttp:
    settings = Settings()
    return TalonOneHttp(
        build_http_client(settings),
        server.url,
        lambda: key,
        settings,
        sleep=lambda _s: None,
        rng=random.Random(0),
        metrics=RecordingMetrics(),
    )


def test_the_fake_refuses_a_request_the_official_schema_refuses(server: TalonOneServer) -> None:
    url = f"{server.url}/v2/customer_sessions/s-1?dry=true"
    good = {"customerSession": {"state": "open", "cartItems": [{"sku": "A", "quantity": 1, "price": 5}]}}
    bad = {"customerSession": {"state": "open", "cartItems": [{"sku": "A", "quantity": 0, "price": 5}]}}

    assert httpx.put(url, json=good, headers=AUTH).status_code == 200
    assert server.app.violations == []
    refused = httpx.put(url, json=bad, headers=AUTH)

    assert refused.status_code == 400
    assert "message" in refused.json()
    assert any("quantity" in problem and "minimum of 1" in problem for problem in server.app.violations)


def test_the_fake_refuses_an_unknown_query_parameter_and_a_wrong_enum(server: TalonOneServer) -> None:
    url = f"{server.url}/v2/customer_sessions/s-1"
    assert httpx.put(url + "?dryRun=true", json={"customerSession": {}}, headers=AUTH).status_code == 400
    wrong_state = {"customerSession": {"state": "paid"}}
    assert httpx.put(url, json=wrong_state, headers=AUTH).status_code == 400
    assert len(server.app.violations) == 2


def test_the_api_key_goes_as_apikey_v1_and_a_wrong_one_is_unauthorized(server: TalonOneServer) -> None:
    body = {"attributes": {"Email": "ann@example.com"}}
    _api(server).call(
        "updateCustomerProfileV2", "PUT", "/v2/customer_profiles/m-1", IntegrationState, body=body
    )
    assert server.app.state.profiles["m-1"]["attributes"] == {"Email": "ann@example.com"}
    assert (
        httpx.get(
            f"{server.url}/v1/customer_profiles/m-1/inventory",
            headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"},
        ).status_code
        == 401
    )

    with pytest.raises(errors.PlatformUnavailable) as failed:
        _api(server, key="wrong").call(
            "updateCustomerProfileV2", "PUT", "/v2/customer_profiles/m-2", IntegrationState, body=body
        )
    assert failed.value.context["status"] == 401


def test_a_409_for_parallel_requests_is_retried(server: TalonOneServer) -> None:
    server.app.inject(Fault(kind="status", status=409, operation="updateCustomerProfileV2"))
    body = {"attributes": {"Email": "ann@example.com"}}

    _api(server).call(
        "updateCustomerProfileV2", "PUT", "/v2/customer_profiles/m-1", IntegrationState, body=body
    )

    assert [call.status for call in server.app.calls("updateCustomerProfileV2")] == [409, 200]


def test_a_return_replayed_with_its_idempotency_key_is_applied_once(server: TalonOneServer) -> None:
    app = server.app
    app.state.add_card("C-0001", profile="m-1")
    app.state.profiles["m-1"] = {"id": 1, "created": "2026-01-01T00:00:00Z", "attributes": {}}
    close = {
        "customerSession": {
            "profileId": "m-1",
            "state": "closed",
            "loyaltyCards": ["C-0001"],
            "cartItems": [{"sku": "A", "quantity": 2, "price": 10}],
        }
    }
    api = _api(server)
    api.call("updateCustomerSessionV2", "PUT", "/v2/customer_sessions/order-1", IntegrationState, body=close)
    returned = {"return": {"returnedCartItems": [{"position": 0, "sku": "A", "quantity": 1}]}}

    first = api.call(
        "returnCartItems",
        "POST",
        "/v2/customer_sessions/order-1/returns",
        IntegrationState,
        body=returned,
        idempotency_key="reversal:1:r",
    )
    again = api.call(
        "returnCartItems",
        "POST",
        "/v2/customer_sessions/order-1/returns",
        IntegrationState,
        body=returned,
        idempotency_key="reversal:1:r",
    )

    assert first == again
    assert first.total("rollbackAddedLoyaltyPoints") == 10
    assert app.state.cards["C-0001"].active_points == 10
    assert app.violations == []


def test_the_api_key_is_read_from_its_secret() -> None:
    class Secrets:
        def __init__(self) -> None:
            self.forgotten: list[str | None] = []

        def read_json_secret(self, arn_or_name: str) -> dict[str, object]:
            return {"api_key": " k-1 "}

        def forget(self, arn_or_name: str | None = None) -> None:
            self.forgotten.append(arn_or_name)

    secrets = Secrets()
    key = TalonOneApiKey(secrets, "arn:talon")
    assert key() == "k-1"
    key.invalidate()
    assert secrets.forgotten == ["arn:talon"]
    with pytest.raises(errors.Permanent):
        TalonOneApiKey(secrets, "")()
