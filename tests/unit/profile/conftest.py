"""Profile-sync unit fixtures: the services wired on in-memory fakes, and a tiny FIFO runner."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from loyalty_bridge import errors
from loyalty_bridge.models.domain import Consents, LoyaltyStatus, MemberProfile
from loyalty_bridge.models.messages import Envelope, SyncedFields
from loyalty_bridge.models.records import CustomerRecord, ErrorRecord
from loyalty_bridge.services.admin import AdminErrors
from loyalty_bridge.services.incidents import IncidentReporter
from loyalty_bridge.services.profile_sync import ProfileSync, SyncOutcome
from loyalty_bridge.services.profile_updates import ProfileUpdates
from loyalty_bridge.settings import Settings
from tests.fakes import (
    CapturingMailer,
    InMemoryCustomers,
    InMemoryErrorStore,
    InMemoryPlatform,
    InMemoryQueue,
    InMemorySmsOptOuts,
    InMemorySyncState,
    RecordingMailingList,
    RecordingMetrics,
)


@dataclass
class World:
    customers: InMemoryCustomers
    platform: InMemoryPlatform
    state: InMemorySyncState
    mailchimp: RecordingMailingList
    sms: InMemorySmsOptOuts
    errors: InMemoryErrorStore
    mailer: CapturingMailer
    queue: InMemoryQueue
    incidents: IncidentReporter
    updates: ProfileUpdates
    sync: ProfileSync
    admin: AdminErrors

    def customer(self, customer_id: str = "c-1", *, joined: bool = True, **fields: object) -> CustomerRecord:
        values: dict[str, object] = {
            "customer_id": customer_id,
            "email": f"{customer_id}@example.com",
            "first_name": "Ann",
            "last_name": "Lee",
            "mobile": "+15550000001",
            "consents": Consents(email=False, sms=False),
        }
        values.update(fields)
        record = CustomerRecord.model_validate(values)
        if joined:
            member = self.platform.create_member(
                MemberProfile(email=record.email, first_name=record.first_name, last_name=record.last_name),
                record.consents,
                idempotency_key=f"create-{customer_id}",
            )
            record = record.model_copy(
                update={"status": LoyaltyStatus.JOINED, "member_id": member.member_id, "card_number": "1"}
            )
        self.customers.create(record)
        return record

    def member_of(self, customer_id: str) -> str:
        record = self.customers.get(customer_id)
        assert record is not None
        assert record.member_id is not None
        return record.member_id

    def run(self, *, receive_count: int = 1, reverse: bool = False) -> list[SyncOutcome]:
        """Deliver what is queued (in order, or reversed to prove stale ones are skipped)."""
        messages = self.queue.drain()
        if reverse:
            messages.reverse()
        return [
            self.sync.handle(Envelope.model_validate_json(m.body), receive_count=receive_count)
            for m in messages
        ]


@pytest.fixture
def world() -> World:
    customers = InMemoryCustomers()
    platform = InMemoryPlatform()
    state = InMemorySyncState()
    mailchimp = RecordingMailingList()
    sms = InMemorySmsOptOuts()
    errors = InMemoryErrorStore()
    mailer = CapturingMailer()
    queue = InMemoryQueue(fifo=True)
    settings = Settings(admin_emails=("ops@example.com",), stage="test")
    metrics = RecordingMetrics()
    incidents = IncidentReporter(errors, mailer, settings, metrics=metrics)
    updates = ProfileUpdates(customers, queue, state, incidents)
    sync = ProfileSync(
        customers, platform, state, incidents, metrics=metrics, mailing_list=mailchimp, sms_optouts=sms
    )
    admin = AdminErrors(errors, lambda _name: queue)
    return World(
        customers, platform, state, mailchimp, sms, errors, mailer, queue, incidents, updates, sync, admin
    )


def refused_email_change(world: World) -> ErrorRecord:
    """The platform refuses a web email change (and mobile) of c-1: one Account Update Error."""
    world.customer("c-1", mobile="+15550000001")
    world.run()
    world.platform.fail_next("update_profile", errors.DuplicateMember(field="email"))
    world.updates.update_profile("c-1", SyncedFields(email="taken@example.org", mobile="+15559876543"))
    world.run()
    [record] = world.errors.records.values()
    return record
