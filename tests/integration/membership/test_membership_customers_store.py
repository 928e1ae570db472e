"""DynamoCustomers against moto: create once, optimistic versions, A5 claims in one transaction."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from loyalty_bridge.adapters.customers import DynamoCustomers
from loyalty_bridge.adapters.profile_sync_state import DynamoSyncState
from loyalty_bridge.errors import Conflict
from loyalty_bridge.models.domain import Address, Consents, LoyaltyStatus
from loyalty_bridge.models.records import CustomerRecord

pytestmark = pytest.mark.integration


@pytest.fixture
def store(dynamodb: Any, bridge_table: str) -> DynamoCustomers:
    return DynamoCustomers(dynamodb, bridge_table)


def _record(customer_id: str = "c-1") -> CustomerRecord:
    return CustomerRecord(
        customer_id=customer_id,
        email="ann@example.com",
        first_name="Ann",
        birthday=date(1990, 5, 17),
        address=Address(line1="1 High St", city="York", country="GB"),
        consents=Consents(email=True),
    )


def test_create_then_get_round_trips_every_field(store: DynamoCustomers) -> None:
    record = _record()
    assert store.create(record) is True
    assert store.get("c-1") == record
    assert store.get("nobody") is None


def test_create_twice_keeps_the_first(store: DynamoCustomers) -> None:
    assert store.create(_record()) is True
    assert store.create(_record().model_copy(update={"first_name": "Bob"})) is False
    stored = store.get("c-1")
    assert stored is not None
    assert stored.first_name == "Ann"


def test_save_bumps_version_and_refuses_stale_writes(store: DynamoCustomers) -> None:
    store.create(_record())
    current = store.get("c-1")
    assert current is not None
    saved = store.save(current.model_copy(update={"status": LoyaltyStatus.JOINED}), expected_version=0)
    assert saved.version == 1
    stored = store.get("c-1")
    assert stored is not None
    assert stored.status is LoyaltyStatus.JOINED
    assert stored.version == 1
    with pytest.raises(Conflict):
        store.save(current.model_copy(update={"status": LoyaltyStatus.NOT_JOINED}), expected_version=0)


def test_link_member_is_one_to_one_both_ways(store: DynamoCustomers) -> None:
    store.link_member("c-1", "m-1", "7000001")
    store.link_member("c-1", "m-1", "7000001")  # the same link again changes nothing
    with pytest.raises(Conflict):
        store.link_member("c-2", "m-1", "7000001")  # member held by c-1
    with pytest.raises(Conflict):
        store.link_member("c-2", "m-2", "7000001")  # card held by c-1
    with pytest.raises(Conflict):
        store.link_member("c-1", "m-3", "7000003")  # c-1 already has a loyalty account
    # nothing of the refused attempts was written
    assert store.linked_customer(member_id="m-2") is None
    assert store.linked_customer(card_number="7000003") is None
    assert store.linked_customer(member_id="m-1") == "c-1"
    assert store.linked_customer(card_number="7000001") == "c-1"


def test_link_and_save_writes_the_claims_and_the_joined_record_at_once(store: DynamoCustomers) -> None:
    store.create(_record("c-1"))
    store.create(_record("c-2").model_copy(update={"email": "bo@example.com"}))
    store.link_member("c-2", "m-2", "7000002")
    current = store.get("c-1")
    assert current is not None
    joined = current.model_copy(update={"status": LoyaltyStatus.JOINED, "member_id": "m-1"})

    with pytest.raises(Conflict) as held:  # m-2 is c-2's (A5): nothing written
        store.link_and_save("m-2", "7000009", joined, expected_version=0)
    assert held.value.code == "already_linked"
    with pytest.raises(Conflict) as stale:  # expecting a version that is not stored (another writer)
        store.link_and_save("m-1", "7000001", joined, expected_version=7)
    assert stale.value.code == "version_conflict"
    assert store.linked_customer(member_id="m-1") is None  # the stale save wrote no claim
    assert (store.get("c-1") or _record()).version == 0

    saved = store.link_and_save("m-1", "7000001", joined, expected_version=0)
    assert saved.version == 1
    assert store.get("c-1") == saved
    assert store.linked_customer(member_id="m-1") == "c-1"
    assert store.linked_customer(card_number="7000001") == "c-1"


def test_link_and_save_writes_what_it_may_go_without_with_the_join(
    store: DynamoCustomers, dynamodb: Any, bridge_table: str
) -> None:
    state = DynamoSyncState(dynamodb, bridge_table)
    for customer_id in ("c-1", "c-2", "c-3"):
        store.create(_record(customer_id).model_copy(update={"email": f"{customer_id}@example.com"}))

    def joined(customer_id: str, member_id: str) -> CustomerRecord:
        current = store.get(customer_id)
        assert current is not None
        return current.model_copy(update={"status": LoyaltyStatus.JOINED, "member_id": member_id})

    also = state.applied_items("c-1", "platform", 1, ["email", "first_name"])
    store.link_and_save("m-1", "7000001", joined("c-1", "m-1"), expected_version=0, also=also)
    assert store.linked_customer(member_id="m-1") == "c-1"
    assert state.load("c-1", "platform").versions == {"email": 1, "first_name": 1}

    # the sync state already has a newer version: its condition fails, the join is written without it
    state.mark_applied("c-2", "platform", 5, ["email"])
    also = state.applied_items("c-2", "platform", 1, ["email", "first_name"])
    saved = store.link_and_save("m-2", "7000002", joined("c-2", "m-2"), expected_version=0, also=also)
    assert store.get("c-2") == saved
    assert store.linked_customer(card_number="7000002") == "c-2"
    assert state.load("c-2", "platform").versions == {"email": 5}

    # a stale record is still a version conflict, and neither the join nor the state is written
    also = state.applied_items("c-3", "platform", 8, ["email"])
    with pytest.raises(Conflict) as stale:
        store.link_and_save("m-3", "7000003", joined("c-3", "m-3"), expected_version=7, also=also)
    assert stale.value.code == "version_conflict"
    assert store.linked_customer(member_id="m-3") is None
    assert state.load("c-3", "platform").versions == {}
    with pytest.raises(Conflict) as held:  # m-1 is c-1's: already linked, nothing written
        store.link_and_save("m-1", "7000009", joined("c-3", "m-1"), expected_version=0, also=also)
    assert held.value.code == "already_linked"
    assert state.load("c-3", "platform").versions == {}


def test_the_email_index_follows_signup_and_every_email_change(store: DynamoCustomers) -> None:
    store.create(_record("c-1"))
    store.create(_record("c-2").model_copy(update={"email": " ANN@example.com "}))
    assert store.customers_with_email("Ann@Example.com ") == ["c-1", "c-2"]  # a shared email: both

    first = store.get("c-1")
    assert first is not None
    moved = store.save(first.model_copy(update={"email": "ann.new@example.com"}), expected_version=0)
    assert moved.version == 1
    assert store.customers_with_email("ann@example.com") == ["c-2"]
    assert store.customers_with_email("ANN.NEW@example.com") == ["c-1"]
    # A save that keeps the email leaves the index as it is; a stale one changes nothing.
    store.save(moved.model_copy(update={"first_name": "Annie"}), expected_version=1)
    with pytest.raises(Conflict):
        store.save(moved.model_copy(update={"email": "third@example.com"}), expected_version=1)
    assert store.customers_with_email("third@example.com") == []
    assert store.customers_with_email("ann.new@example.com") == ["c-1"]
    assert store.customers_with_email("nobody@example.com") == []


def test_a_record_saved_before_the_index_existed_is_indexed_on_its_next_save(
    store: DynamoCustomers, dynamodb: Any, bridge_table: str
) -> None:
    legacy = _record("c-old")
    item = {k: v for k, v in store._record_item(legacy).items() if k != "email_key"}
    dynamodb.put_item(TableName=bridge_table, Item=item)
    assert store.customers_with_email(legacy.email) == []

    store.save(legacy.model_copy(update={"first_name": "Ann"}), expected_version=0)

    assert store.customers_with_email(legacy.email) == ["c-old"]


def test_relink_moves_every_claim_at_once_and_repeats_as_a_no_op(store: DynamoCustomers) -> None:
    store.link_member("c-1", "m-1", "7000001")
    store.link_member("c-9", "m-9", "7000009")
    with pytest.raises(Conflict):  # the new account belongs to another web account
        store.relink_member(
            "c-1", from_member_id="m-1", from_card="7000001", to_member_id="m-9", to_card="7000009"
        )
    assert store.linked_customer(member_id="m-1") == "c-1"

    for _ in range(2):
        store.relink_member(
            "c-1", from_member_id="m-1", from_card="7000001", to_member_id="m-2", to_card="7000002"
        )
    assert store.linked_customer(member_id="m-2") == "c-1"
    assert store.linked_customer(card_number="7000002") == "c-1"
    assert store.linked_customer(member_id="m-1") is None
    assert store.linked_customer(card_number="7000001") is None
    with pytest.raises(Conflict):  # c-1 now holds m-2: it cannot take a third account by link
        store.link_member("c-1", "m-3", "7000003")


def test_relink_to_the_same_member_moves_only_the_card_claim(store: DynamoCustomers) -> None:
    """A10: a replaced card; the member claim stays the customer's, the card claim moves."""
    store.link_member("c-1", "m-1", "7000001")
    store.link_member("c-9", "m-9", "7000009")
    for _ in range(2):  # a repeat is a no-op
        store.relink_member(
            "c-1", from_member_id="m-1", from_card="7000001", to_member_id="m-1", to_card="7000002"
        )
    assert store.linked_customer(member_id="m-1") == "c-1"
    assert store.linked_customer(card_number="7000002") == "c-1"
    assert store.linked_customer(card_number="7000001") is None
    with pytest.raises(Conflict):  # another web account's card is never taken
        store.relink_member(
            "c-1", from_member_id="m-1", from_card="7000002", to_member_id="m-1", to_card="7000009"
        )
    assert store.linked_customer(card_number="7000009") == "c-9"
