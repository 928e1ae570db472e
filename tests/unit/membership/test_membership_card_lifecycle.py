"""The card lifecycle (A10) for admins: services/card_lifecycle.py over the in-memory
platform and customer store, and the admin_api routes (admin scope only)."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest

from loyalty_bridge import errors, wiring
from loyalty_bridge.models.domain import CardState, Consents, LoyaltyStatus, MemberProfile
from loyalty_bridge.models.records import CustomerRecord
from loyalty_bridge.program import card_numbers
from loyalty_bridge.services.balances import BalanceRecorder
from loyalty_bridge.services.card_lifecycle import CardLifecycle
from loyalty_bridge.services.summary import SnapshotBalances, SummaryService
from loyalty_bridge.settings import Settings
from tests.fakes import InMemoryBalanceSnapshots, InMemoryCustomers, InMemoryPlatform, RecordingMetrics
from tests.unit.profile.api_calls import ADMIN_KEY, STOREFRONT_KEY, handler_with, signed_call


class World:
    def __init__(self) -> None:
        self.platform = InMemoryPlatform()
        self.customers = InMemoryCustomers()
        self.snapshots = InMemoryBalanceSnapshots()
        self.metrics = RecordingMetrics()
        self.cards = CardLifecycle(
            self.platform,
            self.customers,
            Settings(),
            metrics=self.metrics,
            balances=BalanceRecorder(self.platform, self.snapshots),
        )
        self.summary = SummaryService(
            self.customers, SnapshotBalances(self.snapshots, self.platform), Settings()
        )

    def joined(self, customer_id: str = "c-1", points: int = 0) -> str:
        """A web customer linked to a member with ``points``; answers the card number."""
        member = self.platform.create_member(
            MemberProfile(email=f"{customer_id}@example.com"), Consents(), idempotency_key=customer_id
        )
        self.customers.create(
            CustomerRecord(
                customer_id=customer_id,
                email=f"{customer_id}@example.com",
                status=LoyaltyStatus.JOINED,
                member_id=member.member_id,
                card_number=member.card.number,
                card_kind=member.card.kind.value,
            )
        )
        self.customers.link_member(customer_id, member.member_id, member.card.number)
        if points:
            account = self.platform.accounts[member.member_id]
            account.available = points
            account.aged.credit(self.platform.clock(), points)
        self.snapshots.put(self.platform.get_balance(member.member_id))
        return member.card.number

    def stock(self) -> str:
        number = card_numbers.new_virtual_number(prefix="61", length=16)
        self.platform.import_cards("b-1", [number])
        return number


@pytest.fixture
def world() -> World:
    return World()


def test_a_block_shows_in_the_login_summary_and_counts(world: World) -> None:
    card = world.joined(points=120)
    answer = world.cards.block(card, "lost", idempotency_key="k-1")
    assert (answer.customer_id, answer.card.state, answer.points.balance) == ("c-1", CardState.BLOCKED, 120)
    seen = world.summary.summary("c-1")
    assert seen.card is not None
    assert (seen.card.number, seen.card.state) == (card, CardState.BLOCKED)
    assert world.metrics.total("CardsBlocked") == 1


def test_a_replace_moves_the_customers_card_claim_record_and_snapshot(world: World) -> None:
    old = world.joined(points=80)
    world.cards.block(old, "stolen", idempotency_key="k-1")
    new = world.stock()
    world.snapshots.balances.clear()  # the snapshot is read again after the replace

    answer = world.cards.replace(old, new, idempotency_key="k-2")

    assert (answer.card.number, answer.card.state, answer.replaced_card) == (new, None, old)
    assert answer.points.balance == 80
    assert world.customers.linked_customer(card_number=new) == "c-1"
    assert world.customers.linked_customer(card_number=old) is None
    assert world.customers.linked_customer(member_id=answer.member_id) == "c-1"
    record = world.customers.get("c-1")
    assert record is not None
    assert (record.card_number, record.card_kind, record.card_state) == (new, "physical", None)
    assert world.snapshots.get(answer.member_id) is not None
    seen = world.summary.summary("c-1")
    assert seen.card is not None
    assert (seen.card.number, seen.card.state) == (new, None)
    assert world.metrics.total("CardsReplaced") == 1


def test_a_repeated_replace_finishes_what_stopped_half_way(world: World) -> None:
    old = world.joined()
    new = world.stock()
    world.platform.replace_card(old, new, idempotency_key="first-try")  # the bridge's side never ran
    answer = world.cards.replace(old, new, idempotency_key="k-2")
    assert answer.card.number == new
    assert world.customers.linked_customer(card_number=new) == "c-1"
    record = world.customers.get("c-1")
    assert record is not None
    assert record.card_number == new


def test_a_bad_new_number_is_refused_before_the_platform_is_asked(world: World) -> None:
    old = world.joined()
    new = world.stock()
    with pytest.raises(errors.InvalidInput) as refused:
        world.cards.replace(old, new[:-1] + str((int(new[-1]) + 1) % 10), idempotency_key="k-1")
    assert refused.value.code == "invalid_card_number"
    assert not [name for name, _ in world.platform.calls if name == "replace_card"]


def test_a_card_nobody_has_linked_is_blocked_and_replaced_too(world: World) -> None:
    member = world.platform.create_member(
        MemberProfile(email="store@example.com"), Consents(), idempotency_key="in-store"
    )
    new = world.stock()
    blocked = world.cards.block(member.card.number, "lost", idempotency_key="k-1")
    assert blocked.customer_id is None
    replaced = world.cards.replace(member.card.number, new, idempotency_key="k-2")
    assert (replaced.customer_id, replaced.card.number) == (None, new)


# ---------------------------------------------------------------- admin_api routes


@pytest.fixture
def admin(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    wiring.reset()
    yield handler_with("admin_api", monkeypatch, card_lifecycle=world.cards)
    wiring.reset()


def test_the_routes_block_and_replace(admin: ModuleType, world: World) -> None:
    old = world.joined(points=50)
    new = world.stock()

    blocked = signed_call(admin, "POST", f"/v1/admin/cards/{old}/block", {"reason": "lost"}, key_id=ADMIN_KEY)
    assert (blocked.status, blocked.body["card"]["state"]) == (200, "blocked")
    replaced = signed_call(
        admin, "POST", f"/v1/admin/cards/{old}/replace", {"new_card_number": new}, key_id=ADMIN_KEY
    )
    assert replaced.status == 200
    assert replaced.body["card"] == {"number": new, "kind": "physical"}
    assert (replaced.body["replaced_card"], replaced.body["points"]["balance"]) == (old, 50)
    other = signed_call(
        admin, "POST", f"/v1/admin/cards/{old}/replace", {"new_card_number": world.stock()}, key_id=ADMIN_KEY
    )
    assert (other.status, other.body["code"]) == (409, "card_already_replaced")


def test_the_routes_refuse_storefront_keys_and_bad_bodies(admin: ModuleType, world: World) -> None:
    card = world.joined()
    for path, body in (
        (f"/v1/admin/cards/{card}/block", {"reason": "lost"}),
        (f"/v1/admin/cards/{card}/replace", {"new_card_number": card}),
    ):
        assert signed_call(admin, "POST", path, body, key_id=STOREFRONT_KEY).status == 403
    empty = signed_call(admin, "POST", f"/v1/admin/cards/{card}/block", {"reason": " "}, key_id=ADMIN_KEY)
    assert empty.status == 422
    unknown = signed_call(
        admin, "POST", f"/v1/admin/cards/{world.stock()}/block", {"reason": "lost"}, key_id=ADMIN_KEY
    )
    assert (unknown.status, unknown.body["code"]) == (404, "card_not_found")
    assert (
        world.platform.get_member(world.customers.records["c-1"].member_id or "").card.state
        is CardState.ACTIVE
    )
