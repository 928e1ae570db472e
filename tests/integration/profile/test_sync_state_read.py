"""The sync worker's one read (adapters/profile_sync_state.py): the customer's record and
every target's sync state from one Query of the customer's partition, the same as the
record read (adapters/customers.py) and the state Query it replaces."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from loyalty_bridge import wiring
from loyalty_bridge.models.records import CustomerRecord

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
