"""Referral codes on Talon.One (R5): each member advocates one referral of the referral
campaign, and a customer who joins with a code is sent as that referral's friend in their
order's session until Talon.One accepts or rejects it (adapters/talon_one_referrals.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from loyalty_bridge.adapters.talon_one_platform import TalonOnePlatform
from loyalty_bridge.adapters.talon_one_store import TalonOneStore
from loyalty_bridge.models.domain import Consents, MemberProfile, PlatformOrder, PlatformOrderLine
from loyalty_bridge.settings import Settings
from tests.contract.harness_talon_one import create_bridge_table
from tests.contract.moto_ledger import dynamodb_client, serialized_moto_endpoint
from tests.fake_talon_one import PROGRAM_ID, REFERRAL_CAMPAIGN_ID, FakeTalonOne, TalonOneServer, serve
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
    return TalonOnePlatform(
        _api(server), store, Settings(), program_id=PROGRAM_ID, referral_campaign_id=REFERRAL_CAMPAIGN_ID
    )


def _order(order_id: str) -> PlatformOrder:
    line = PlatformOrderLine(product_code="A", title="A", sku="A", quantity=1, unit_price=Decimal(10))
    return PlatformOrder(
        order_id=order_id,
        placed_at=datetime(2025, 1, 15, tzinfo=UTC),
        currency="GBP",
        lines=[line],
        total=Decimal(10),
    )


def test_a_friend_who_joined_with_a_code_is_that_referral_s_friend_on_talon_one(
    server: TalonOneServer, platform: TalonOnePlatform
) -> None:
    ann = platform.create_member(MemberProfile(email="ann@example.com"), Consents(), idempotency_key="j-ann")
    again = platform.create_member(
        MemberProfile(email="ann@example.com"), Consents(), idempotency_key="j-ann"
    )
    referrals = server.app.state.referrals_of(ann.member_id)
    assert [r["code"] for r in referrals] == [ann.referral_code] == [again.referral_code]  # one, kept
    assert referrals[0]["campaignId"] == REFERRAL_CAMPAIGN_ID
    assert platform.get_balance(ann.member_id).referral_code == ann.referral_code
    assert ann.referral_code is not None

    bob = platform.create_member(
        MemberProfile(email="bob@example.com"),
        Consents(),
        idempotency_key="j-bob",
        referral_code=ann.referral_code,
    )
    assert server.app.state.referrals_of(ann.member_id)[0]["usageCounter"] == 0  # joining alone
    platform.post_order(bob.member_id, _order("o-1"))
    platform.post_order(bob.member_id, _order("o-2"))  # accepted once: not sent again

    used = server.app.state.referrals_of(ann.member_id)[0]
    assert (used["usageCounter"], used["referredCustomers"]) == (1, [bob.member_id])
    assert platform.get_balance(bob.member_id).balance == 20
    assert server.app.violations == []


def test_an_unknown_code_is_rejected_by_talon_one_and_the_order_still_credits(
    server: TalonOneServer, platform: TalonOnePlatform
) -> None:
    carl = platform.create_member(
        MemberProfile(email="carl@example.com"),
        Consents(),
        idempotency_key="j-carl",
        referral_code="NOPE-NOPE",
    )
    assert platform.post_order(carl.member_id, _order("o-1")).points_earned == 10
    assert platform.post_order(carl.member_id, _order("o-2")).points_earned == 10
    assert server.app.violations == []
