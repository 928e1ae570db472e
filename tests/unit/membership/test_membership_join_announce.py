"""P4: a join is announced to the marketing sync, so Mailchimp's loyalty flag flips at once."""

from __future__ import annotations

from loyalty_bridge import errors
from loyalty_bridge.models.domain import LoyaltyStatus
from loyalty_bridge.models.records import CustomerRecord
from loyalty_bridge.services.membership import Linker, RecordUpdater
from tests.unit.membership.conftest import World


def test_auto_join_announces_the_join_once(world: World) -> None:
    record = world.sign_up("c-announce")
    world.run_worker()

    assert world.status(record.customer_id) is LoyaltyStatus.JOINED
    assert world.announced == ["c-announce"]


def test_refused_join_is_not_announced(world: World) -> None:
    world.existing_member("taken@example.com")
    world.sign_up("c-refused", email="taken@example.com")
    world.run_worker()

    assert world.status("c-refused") is LoyaltyStatus.NOT_JOINED
    assert world.announced == []


def test_a_failing_announcement_does_not_undo_the_join(world: World) -> None:
    def broken(_: CustomerRecord) -> None:
        raise errors.Retryable("queue down")

    world.sign_up("c-quiet")
    member = world.existing_member("quiet@example.com")
    linker = Linker(RecordUpdater(world.customers), world.platform, on_joined=broken)

    saved = linker.link("c-quiet", member)

    assert saved.status is LoyaltyStatus.JOINED
    assert saved.member_id == member.member_id
