"""The sync worker's one read (adapters/profile_sync_state.py): the customer's record and
every target's sync state from one Query of the customer's partition, the same as the
record read (adapters/customers.py) and the state Query it replaces.

Issue 19: a profile change's push reads the record, every target's sync state and the
ledger's member in one BatchGetItem (``load_record_and_targets_with``), and the ledger's
update uses that read for its first attempt (adapters/ledger/members.py): a stale read, an
earlier answer of the key or a member not found ahead each go back to the ledger's own
read, and nothing newer is overwritten."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from loyalty_bridge import wiring
from loyalty_bridge.errors import MemberNotFound
from loyalty_bridge.models.domain import Consents, MemberProfile, ProfileChanges
from loyalty_bridge.models.messages import PROFILE_UPDATE, Envelope, ProfileChange, SyncedFields
from loyalty_bridge.models.records import CustomerRecord
from loyalty_bridge.services.sync_queue import message_id_for
from tests.integration.profile.test_profile_on_aws import joined_customer

if TYPE_CHECKING:
    from bridge_local.resources import Provisioned

pytestmark = pytest.mark.integration

TARGETS = ["platform", "mailchimp", "sms"]


@pytest.fixture
def stack(aws: Provisioned) -> Iterator[Provisioned]:
    wiring.reset()
    yield aws
    wiring.reset()


def test_the_record_and_every_state_in_one_read(stack: Provisioned) -> None:
    customer_id = f"c-{uuid.uuid4().hex[:10]}"
    record = CustomerRecord(
        customer_id=customer_id, email=f"{customer_id}@example.com", first_name="Ann", last_name="Lee"
    )
    assert wiring.customers().create(record)
    state = wiring.sync_state()
    state.mark_applied(customer_id, "platform", 1, ["first_name", "consents"])
    state.mark_applied(customer_id, "mailchimp", 1, ["email"], facts={"email": record.email})

    read, states = state.load_record_and_targets(customer_id, TARGETS)

    assert read == wiring.customers().get(customer_id)
    assert states == state.load_targets(customer_id, TARGETS)
    assert states["platform"].versions == {"first_name": 1, "consents": 1}
    assert states["mailchimp"].facts == {"email": record.email}
    assert states["sms"].versions == {}


def test_an_unknown_customer_reads_as_none_with_empty_states(stack: Provisioned) -> None:
    read, states = wiring.sync_state().load_record_and_targets("c-nobody", TARGETS)
    assert read is None
    assert all(not s.versions and not s.facts for s in states.values())
    assert set(states) == set(TARGETS)


def tag() -> str:
    return uuid.uuid4().hex[:10]


def counting(client: Any) -> Counter[str]:
    """The DynamoDB calls ``client`` makes from now on, by operation."""
    calls: Counter[str] = Counter()
    client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.update([model.name]))
    return calls


def read_ahead(customer_id: str, member_id: str) -> list[Any]:
    ledger = wiring.platform()
    also = ledger.profile_reads(member_id)  # type: ignore[attr-defined]
    return wiring.sync_state().load_record_and_targets_with(customer_id, TARGETS, also)[2]


def test_the_record_the_states_and_the_member_in_one_read(stack: Provisioned) -> None:
    record = joined_customer()
    state = wiring.sync_state()
    state.mark_applied(record.customer_id, "platform", 1, ["first_name", "consents"])
    state.mark_applied(record.customer_id, "mailchimp", 1, ["email"], facts={"email": record.email})
    also = wiring.platform().profile_reads(record.member_id or "")  # type: ignore[attr-defined]
    calls = counting(state._client)

    read, states, ahead = state.load_record_and_targets_with(record.customer_id, TARGETS, also)

    assert calls == Counter({"BatchGetItem": 1})
    assert (read, states) == state.load_record_and_targets(record.customer_id, TARGETS)
    assert states["mailchimp"].facts == {"email": record.email}
    assert len(ahead) == 2  # the member's profile and account, in the order asked
    assert ahead[0] is not None
    assert ahead[0]["member_id"] == {"S": record.member_id}
    assert ahead[1] is not None
    assert ahead[1]["sk"] == {"S": "ACCOUNT"}

    nobody = wiring.platform().profile_reads("m-nobody")  # type: ignore[attr-defined]
    read, states, ahead = state.load_record_and_targets_with("c-nobody", TARGETS, nobody)
    assert read is None
    assert ahead == [None, None]
    assert all(not s.versions for s in states.values())


def test_the_ledger_update_uses_the_read_ahead_and_reads_nothing(stack: Provisioned) -> None:
    record = joined_customer()
    member_id = record.member_id or ""
    ledger = wiring.platform()
    ahead = read_ahead(record.customer_id, member_id)
    calls = counting(ledger._db)  # type: ignore[attr-defined]

    member, _ = ledger.update_profile_recorded(  # type: ignore[attr-defined]
        member_id, ProfileChanges(first_name="Bo"), idempotency_key=tag(), record=[], read=ahead
    )

    assert calls == Counter({"TransactWriteItems": 1})
    assert member.profile.first_name == "Bo"
    assert ledger.get_member(member_id).profile.first_name == "Bo"


def test_a_stale_read_ahead_is_read_again_and_keeps_the_newer_change(stack: Provisioned) -> None:
    record = joined_customer()
    member_id = record.member_id or ""
    ledger = wiring.platform()
    ahead = read_ahead(record.customer_id, member_id)
    ledger.update_profile(member_id, ProfileChanges(last_name="Newer"), idempotency_key=tag())
    calls = counting(ledger._db)  # type: ignore[attr-defined]

    member, _ = ledger.update_profile_recorded(  # type: ignore[attr-defined]
        member_id, ProfileChanges(first_name="Bo"), idempotency_key=tag(), record=[], read=ahead
    )

    assert calls["TransactWriteItems"] == 2, calls
    assert calls["BatchGetItem"] == 1, calls
    assert (member.profile.first_name, member.profile.last_name) == ("Bo", "Newer")
    stored = ledger.get_member(member_id).profile
    assert (stored.first_name, stored.last_name) == ("Bo", "Newer")


def test_an_earlier_answer_of_the_key_is_given_again_with_a_read_ahead(stack: Provisioned) -> None:
    record = joined_customer()
    member_id = record.member_id or ""
    ledger, key = wiring.platform(), tag()
    first, _ = ledger.update_profile_recorded(  # type: ignore[attr-defined]
        member_id, ProfileChanges(first_name="Bo"), idempotency_key=key, record=[]
    )
    ledger.update_profile(member_id, ProfileChanges(first_name="Cy"), idempotency_key=tag())
    ahead = read_ahead(record.customer_id, member_id)
    state = wiring.sync_state()
    items = state.applied_items(record.customer_id, "platform", 9, ["first_name"])

    again, written = ledger.update_profile_recorded(  # type: ignore[attr-defined]
        member_id, ProfileChanges(first_name="Bo"), idempotency_key=key, record=items, read=ahead
    )

    assert again == first
    assert not written
    assert ledger.get_member(member_id).profile.first_name == "Cy"  # not applied twice
    assert state.load(record.customer_id, "platform").versions == {}


def test_a_member_not_found_ahead_is_looked_for_afresh(stack: Provisioned) -> None:
    ledger = wiring.platform()
    member = ledger.create_member(
        MemberProfile(email=f"{tag()}@example.com"), Consents(), idempotency_key=tag()
    )
    calls = counting(ledger._db)  # type: ignore[attr-defined]

    updated, _ = ledger.update_profile_recorded(  # type: ignore[attr-defined]
        member.member_id, ProfileChanges(first_name="Bo"), idempotency_key=tag(), record=[], read=[None, None]
    )
    assert updated.profile.first_name == "Bo"
    assert calls["BatchGetItem"] == 1, calls
    with pytest.raises(MemberNotFound):
        ledger.update_profile_recorded(  # type: ignore[attr-defined]
            "m-nobody", ProfileChanges(first_name="Bo"), idempotency_key=tag(), record=[], read=[None, None]
        )


def change(record: Any, member_id: str | None, **after: Any) -> Envelope:
    version = record.version + 1
    saved = record.model_copy(update={**after, "version": version})
    assert wiring.customers().save(saved, expected_version=record.version)
    payload = ProfileChange(after=SyncedFields(**after), **({"member_id": member_id} if member_id else {}))
    return Envelope(
        kind=PROFILE_UPDATE,
        message_id=message_id_for(record.customer_id, version),
        customer_id=record.customer_id,
        version=version,
        payload=payload.model_dump(mode="json", exclude_unset=True),
    )


@pytest.mark.parametrize("hint", ["theirs", "another", "none"])
def test_the_push_updates_the_records_member_whatever_the_message_names(
    stack: Provisioned, hint: str
) -> None:
    """The message's member is only what is read ahead: a message naming another member (the
    card relinked since, A8) or none (queued before this change) updates the record's."""
    record = joined_customer()
    other = joined_customer()
    named = {"theirs": record.member_id, "another": other.member_id, "none": None}[hint]
    sync = wiring.profile_sync()

    outcome = sync.handle(change(record, named, first_name="Dee"))

    assert "platform" in outcome.applied, outcome
    ledger = wiring.platform()
    theirs = ledger.get_member(record.member_id or "").profile
    assert (theirs.first_name, theirs.email) == ("Dee", record.email)
    assert ledger.get_member(other.member_id or "").profile.first_name == "Ann"
    versions = wiring.sync_state().load(record.customer_id, "platform").versions
    assert versions["first_name"] == record.version + 1
