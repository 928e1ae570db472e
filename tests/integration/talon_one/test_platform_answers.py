"""TalonOnePlatform reads Talon.One's answers strictly: an answer that lacks what was asked
for is a malformed answer (retried later), never taken as "no such member"."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from loyalty_bridge import errors
from loyalty_bridge.adapters.talon_one_platform import TalonOnePlatform
from loyalty_bridge.adapters.talon_one_store import TalonOneStore
from loyalty_bridge.models.domain import (
    ActivityKind,
    Consents,
    MemberProfile,
    PlatformOrder,
    PlatformOrderLine,
)
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


def test_the_history_reads_every_page_of_transactions_and_shows_manual_changes_as_the_stores(
    server: TalonOneServer, platform: TalonOnePlatform
) -> None:
    platform.PAGE_SIZE = 2  # Talon.One pages of two transactions: the history reads them all
    member = platform.create_member(
        MemberProfile(email="ann@example.com", first_name="Ann"), Consents(), idempotency_key="join-1"
    )
    when = datetime(2025, 1, 15, tzinfo=UTC)
    line = PlatformOrderLine(product_code="A", title="A", sku="A", quantity=1, unit_price=Decimal(10))
    for i in range(3):
        platform.post_order(
            member.member_id,
            PlatformOrder(
                order_id=f"o-{i}",
                placed_at=when,
                currency="GBP",
                lines=[line],
                total=Decimal(10),
            ),
        )
    server.app.manual_points(member.card.number, -4)
    page = platform.activity(member.member_id, limit=10)
    shown = [(e.kind, e.points, e.balance_after, e.order_id) for e in page.entries]
    assert shown == [
        (ActivityKind.ADJUSTED, -4, 26, None),
        (ActivityKind.EARNED, 10, 30, "o-2"),
        (ActivityKind.EARNED, 10, 20, "o-1"),
        (ActivityKind.EARNED, 10, 10, "o-0"),
    ]
    assert page.entries[0].description == "4 points deducted by the store"
    assert len(server.app.calls("getLoyaltyCardTransactions")) >= 3 + 2  # 3 orders, then 2 pages
    assert server.app.violations == []
