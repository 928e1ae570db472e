"""Login summary (A6) with the program rules: next expiry (R3), tier (R2), progress to the
next reward (R4), referral code and link (R5), accumulate-only (A9)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from loyalty_bridge import errors
from loyalty_bridge.models.domain import Balance, PlatformOrder, PlatformOrderLine, ProfileChanges, Reward
from loyalty_bridge.services.summary import SummaryService
from tests.unit.membership.conftest import World, make_world

REWARDS = [
    {"reward_id": "ship", "name": "Free shipping", "points": 1500, "kind": "fixed_discount", "value": "4.95"},
    {"reward_id": "mug", "name": "Coffee mug", "points": 3000, "kind": "product", "value": "MUG-1"},
]
PROGRAM = {
    "expiry_months": 12,
    "tiers": [{"name": "Silver", "min_spend": 0}, {"name": "Gold", "min_spend": 2000}],
    "rewards": REWARDS,
}


def program_world(**rules: Any) -> World:
    overrides: dict[str, Any] = {}
    if "referral_base_url" in rules:
        overrides["referral_base_url"] = rules.pop("referral_base_url")
    return make_world(earn_rules_json=json.dumps({**PROGRAM, **rules}), **overrides)


def joined(world: World, customer_id: str = "c-1", **fields: Any) -> str:
    world.sign_up(customer_id, **fields)
    world.run_worker()
    record = world.customers.get(customer_id)
    assert record is not None
    assert record.member_id is not None
    return record.member_id


def spend(world: World, member_id: str, amount: str, order_id: str = "o-1") -> None:
    line = PlatformOrderLine(product_code="A", title="A", quantity=1, unit_price=Decimal(amount), sku="A")
    world.platform.post_order(
        member_id,
        PlatformOrder(
            order_id=order_id, placed_at=world.clock(), currency="EUR", lines=[line], total=Decimal(amount)
        ),
    )


def summary_of(world: World, customer_id: str = "c-1") -> dict[str, Any]:
    service = SummaryService(
        world.customers, world.platform, world.settings, clock=world.clock, rewards=world.platform
    )
    return service.summary(customer_id).model_dump(mode="json")


def test_summary_shows_next_expiry_tier_next_reward_and_referral() -> None:
    world = program_world(referral_base_url="https://shop.example.com/join?ref={code}")
    member_id = joined(world)
    spend(world, member_id, "1250")  # 2025-01-15: 1250 points, spend 1250

    body = summary_of(world)

    code = world.platform.get_member(member_id).referral_code
    assert code
    assert body["points"] == {
        "balance": 1250,
        "pending": 0,
        "redeemable": 1250,
        "point_value": "0.01",
        "next_expiry": {"points": 1250, "on": "2026-01-15"},
    }
    assert body["tier"] == {"name": "Silver", "next": "Gold", "spend_to_next": "750.00"}
    assert body["next_reward"] == {
        "name": "Free shipping",
        "points_required": 1500,
        "points_needed": 250,
        "progress": 0.83,
    }
    assert body["referral"] == {"code": code, "link": f"https://shop.example.com/join?ref={code}"}
    assert body["accumulate_only"] is False


def test_expired_points_leave_the_summary_on_their_day() -> None:
    world = program_world()
    member_id = joined(world)
    spend(world, member_id, "100")
    world.clock.advance(days=365)  # 2026-01-15 12:00

    points = summary_of(world)["points"]

    assert (points["balance"], points["redeemable"]) == (0, 0)
    assert "next_expiry" not in points


def test_when_every_reward_is_within_reach_the_dearest_shows_as_reached() -> None:
    world = program_world()
    member_id = joined(world)
    spend(world, member_id, "3200")

    body = summary_of(world)

    assert body["next_reward"] == {
        "name": "Coffee mug",
        "points_required": 3000,
        "points_needed": 0,
        "progress": 1.0,
    }
    assert body["tier"] == {"name": "Gold"}


def test_referral_link_appends_the_code_to_the_query_and_is_left_out_without_a_base_url() -> None:
    world = program_world(referral_base_url="https://shop.example.com/join?src=app")
    joined(world)
    referral = summary_of(world)["referral"]
    assert referral["link"] == f"https://shop.example.com/join?src=app&ref={referral['code']}"

    plain = program_world()
    joined(plain)
    assert set(summary_of(plain)["referral"]) == {"code"}


def test_accumulate_only_shows_and_lifts_when_the_profile_is_complete() -> None:
    world = program_world(required_profile_fields=["birthday"])
    member_id = joined(world)  # signed up without a birthday
    spend(world, member_id, "500")

    body = summary_of(world)
    assert body["accumulate_only"] is True
    assert (body["points"]["balance"], body["points"]["redeemable"]) == (500, 0)
    assert body["next_reward"]["points_needed"] == 1000  # progress still shows: points accrue

    world.platform.update_profile(member_id, ProfileChanges(birthday=date(1990, 1, 1)), idempotency_key="u-1")

    body = summary_of(world)
    assert body["accumulate_only"] is False
    assert body["points"]["redeemable"] == 500


class BrokenCatalogue:
    def rewards(self) -> list[Reward]:
        raise errors.PlatformUnavailable("down")


class FixedBalances:
    def __init__(self, balance: Balance) -> None:
        self.balance = balance

    def get_balance(self, member_id: str) -> Balance:
        return self.balance.model_copy(update={"member_id": member_id})


def test_a_catalogue_that_cannot_be_read_leaves_only_next_reward_out() -> None:
    world = program_world()
    joined(world)
    service = SummaryService(world.customers, world.platform, world.settings, rewards=BrokenCatalogue())

    body = service.summary("c-1").model_dump(mode="json")

    assert body["status"] == "joined"
    assert "next_reward" not in body
    assert body["points"]["balance"] == 0


def test_summary_has_the_shape_of_the_api_example() -> None:
    world = program_world()
    joined(world)
    balances = FixedBalances(
        Balance(
            member_id="-",
            balance=1250,
            pending=40,
            next_expiry_points=200,
            next_expiry_on=date(2027, 3, 1),
            tier="Silver",
            next_tier="Gold",
            spend_to_next_tier=Decimal("120"),
        )
    )
    catalogue = [Reward.model_validate(REWARDS[0])]

    class Catalogue:
        def rewards(self) -> list[Reward]:
            return catalogue

    body = SummaryService(world.customers, balances, world.settings, rewards=Catalogue()).summary("c-1")
    shown = body.model_dump(mode="json")

    assert shown["points"]["next_expiry"] == {"points": 200, "on": "2027-03-01"}
    assert shown["tier"] == {"name": "Silver", "next": "Gold", "spend_to_next": "120.00"}
    assert shown["next_reward"] == {
        "name": "Free shipping",
        "points_required": 1500,
        "points_needed": 250,
        "progress": 0.83,
    }
    assert shown["accumulate_only"] is False
    assert "referral" not in shown  # no code known for this member


def test_customers_not_joined_see_none_of_the_program_fields() -> None:
    world = program_world()
    world.sign_up("c-1", join=False)

    body = summary_of(world)

    assert body == {
        "customer_id": "c-1",
        "status": "not_joined",
        "join_prompt": True,
        "reason": "not_requested",
        "accumulate_only": False,
    }


def test_given_the_versioned_program_the_summary_shows_its_point_value() -> None:
    from loyalty_bridge.program.earn_rules import ProgramRules
    from tests.fakes import FixedProgramSource

    world = program_world()
    joined(world)
    program = FixedProgramSource(ProgramRules(point_value=Decimal("0.05")), version=3)
    service = SummaryService(
        world.customers, world.platform, world.settings, clock=world.clock, program=program
    )

    points = service.summary("c-1").points

    assert points is not None
    assert points.point_value == Decimal("0.05")  # not settings' 0.01
    assert program.reads == 1
