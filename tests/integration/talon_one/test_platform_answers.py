"""TalonOnePlatform reads Talon.One's answers strictly: an answer that lacks what was asked
for is a malformed answer (retried later), never taken as "no such member"."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loyalty_bridge import errors
from loyalty_bridge.adapters.talon_one_platform import TalonOnePlatform
from loyalty_bridge.adapters.talon_one_store import TalonOneStore
from loyalty_bridge.models.domain import Consents, MemberProfile
from loyalty_bridge.settings import Settings
from tests.contract.harness_talon_one import create_bridge_table
from tests.contract.moto_ledger import dynamodb_client, serialized_moto_endpoint
from tests.fake_rest_platform.faults import Fault
from tests.fake_talon_one import PROGRAM_ID, FakeTalonOne, TalonOneServer, serve
from tests.integration.talon_one.test_fake_and_transport import _api


@pytest.fixture
def server() -> Iterator[TalonOneServer]:
    running = serve(FakeTalonOne())
    yield running
    running.stop()


@pytest.fixture
def platform(server: TalonOneServer) -> TalonOnePlatform:
    ddb = dynamodb_client(serialized_moto_endpoint())
    store = TalonOneStore(ddb, create_bridge_table(ddb))
    return TalonOnePlatform(_api(server), store, Settings(), program_id=PROGRAM_ID)


@pytest.mark.parametrize("body", ['{"effects": "lots"}', "{}", '{"profile": null, "loyalty": null}'])
def test_an_inventory_without_the_loyalty_asked_for_is_malformed_not_a_missing_member(
    server: TalonOneServer, platform: TalonOnePlatform, body: str
) -> None:
    member = platform.create_member(
        MemberProfile(email="ann@example.com", first_name="Ann"), Consents(), idempotency_key="join-1"
    )
    server.app.inject(Fault(kind="malformed", body=body, times=100, operation="getCustomerInventory"))
    for read in (
        lambda: platform.get_balance(member.member_id),
        lambda: platform.get_member(member.member_id),
    ):
        with pytest.raises(errors.PlatformUnavailable) as caught:
            read()
        assert errors.is_retryable(caught.value)
    server.app.faults.clear()
    assert platform.get_balance(member.member_id).balance == 0


def test_a_profile_with_no_card_of_the_program_is_still_no_member(
    server: TalonOneServer, platform: TalonOnePlatform
) -> None:
    with server.app._lock:
        server.app.state.profiles["lonely"] = {"id": 1, "created": "2025-01-01T00:00:00Z", "attributes": {}}
    with pytest.raises(errors.MemberNotFound):
        platform.get_balance("lonely")
