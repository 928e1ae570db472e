"""Membership unit fixtures: every membership service over in-memory fakes, one clock."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from loyalty_bridge.models.api_membership import CreateCustomer
from loyalty_bridge.models.domain import Consents, LoyaltyStatus, Member, MemberProfile
from loyalty_bridge.models.messages import Envelope
from loyalty_bridge.models.records import CustomerRecord
from loyalty_bridge.services.attach import AttachService
from loyalty_bridge.services.enrolment import EnrolmentService, Outcome
from loyalty_bridge.services.incidents import IncidentReporter
from loyalty_bridge.services.membership import Incidents, Linker, RecordUpdater
from loyalty_bridge.services.phone import PhoneService
from loyalty_bridge.services.profile_sync import ProfileSync, SyncOutcome
from loyalty_bridge.services.profile_updates import ProfileUpdates
from loyalty_bridge.services.signup import SignupService
from loyalty_bridge.services.summary import SummaryService
from loyalty_bridge.services.sync_queue import announce_join
from loyalty_bridge.services.verification import CodeBook
from loyalty_bridge.settings import Settings
from tests.fakes import (
    CapturingMailer,
    CapturingSms,
    FakeClock,
    InMemoryCustomers,
    InMemoryErrorStore,
    InMemoryPlatform,
    InMemoryQueue,
    InMemorySmsOptOuts,
    InMemorySyncState,
    InMemoryVerificationStore,
    RecordingMailingList,
    RecordingMetrics,
)

ADMIN = "loyalty-admin@example.com"
_ids = itertools.count(1)


@dataclass
class World:
    settings: Settings
    clock: FakeClock
    customers: InMemoryCustomers
    platform: InMemoryPlatform
    queue: InMemoryQueue
    mailer: CapturingMailer
    sms: CapturingSms
    errors: InMemoryErrorStore
    verifications: InMemoryVerificationStore
    metrics: RecordingMetrics
    signup: SignupService
    attach: AttachService
    phone: PhoneService
    summary: SummaryService
    enrolment: EnrolmentService
    sync_queue: InMemoryQueue  # the FIFO profile sync queue
    sync_state: InMemorySyncState
    mailchimp: RecordingMailingList
    sms_optouts: InMemorySmsOptOuts
    profile: ProfileUpdates
    profile_sync: ProfileSync
    outcomes: list[Outcome] = field(default_factory=list)
    announced: list[str] = field(default_factory=list)  # joins told to the marketing sync

    # ---------------------------------------------------------------- helpers

    def sign_up(self, customer_id: str | None = None, **fields: Any) -> CustomerRecord:
        body: dict[str, Any] = {
            "customer_id": customer_id or f"c-{next(_ids)}",
            "email": "ann@example.com",
            "first_name": "Ann",
            "last_name": "Lee",
        }
        body.update(fields)
        return self.signup.signup(CreateCustomer.model_validate(body))

    def run_worker(self, *, last_attempt: bool = False) -> list[Outcome]:
        """Deliver every queued membership message once (like one SQS poll)."""
        done = []
        for message in self.queue.drain():
            done.append(
                self.enrolment.handle(Envelope.model_validate_json(message.body), last_attempt=last_attempt)
            )
        self.outcomes.extend(done)
        return done

    def run_sync(self) -> list[SyncOutcome]:
        """Deliver every queued profile-sync message once, in order (the FIFO worker)."""
        return [
            self.profile_sync.handle(Envelope.model_validate_json(m.body)) for m in self.sync_queue.drain()
        ]

    def status(self, customer_id: str) -> LoyaltyStatus:
        record = self.customers.get(customer_id)
        assert record is not None
        return record.status

    def existing_member(self, email: str, *, mobile: str | None = None, key: str | None = None) -> Member:
        """A loyalty account made elsewhere (in store, another channel)."""
        return self.platform.create_member(
            MemberProfile(email=email, first_name="Other", mobile=mobile),
            Consents(),
            idempotency_key=key or f"elsewhere-{email}-{mobile}",
        )

    def customer_mail(self, to: str) -> list[Any]:
        return [m for m in self.mailer.sent if to in m.to]

    def admin_mail(self) -> list[Any]:
        return [m for m in self.mailer.sent if ADMIN in m.to]

    def last_code(self, to: str) -> str:
        text = self.customer_mail(to)[-1].text
        found = re.search(r"\b(\d{6})\b", text)
        assert found, text
        return found.group(1)

    def last_sms_code(self) -> str:
        found = re.search(r"\b(\d{4})\b", self.sms.sent[-1].text)
        assert found
        return found.group(1)


def make_world(**overrides: Any) -> World:
    settings = Settings(stage="test", admin_emails=(ADMIN,), notify_admins=True, **overrides)
    clock = FakeClock()
    customers = InMemoryCustomers()
    platform = InMemoryPlatform(settings=settings, clock=clock)
    queue = InMemoryQueue()
    mailer = CapturingMailer()
    sms = CapturingSms()
    errors = InMemoryErrorStore()
    verifications = InMemoryVerificationStore(clock)
    metrics = RecordingMetrics()
    reporter = IncidentReporter(errors, mailer, settings, metrics=metrics)
    updater = RecordUpdater(customers)
    incidents = Incidents(reporter)
    announced: list[str] = []
    sync_queue = InMemoryQueue(fifo=True)
    sync_state = InMemorySyncState()
    mailchimp = RecordingMailingList()
    sms_optouts = InMemorySmsOptOuts()
    profile = ProfileUpdates(customers, sync_queue, sync_state, reporter)
    profile_sync = ProfileSync(
        customers,
        platform,
        sync_state,
        reporter,
        metrics=metrics,
        mailing_list=mailchimp,
        sms_optouts=sms_optouts,
    )

    def on_joined(record: CustomerRecord) -> None:  # as wiring._announce_join
        announced.append(record.customer_id)
        announce_join(sync_queue, reporter, record)

    linker = Linker(updater, platform, on_joined=on_joined)
    codes = CodeBook(verifications, b"test-pepper", clock=clock)
    attach = AttachService(updater, platform, codes, mailer, incidents, linker, metrics=metrics)
    return World(
        settings=settings,
        clock=clock,
        customers=customers,
        platform=platform,
        queue=queue,
        mailer=mailer,
        sms=sms,
        errors=errors,
        verifications=verifications,
        metrics=metrics,
        signup=SignupService(
            customers,
            queue,
            settings,
            verifications=verifications,
            sync_queue=sync_queue,
            incidents=reporter,
            metrics=metrics,
        ),
        attach=attach,
        phone=PhoneService(
            updater, platform, codes, sms, incidents, linker, queue, consents=profile, metrics=metrics
        ),
        summary=SummaryService(customers, platform, settings, clock=clock),
        enrolment=EnrolmentService(updater, platform, incidents, reporter, linker, attach, metrics=metrics),
        sync_queue=sync_queue,
        sync_state=sync_state,
        mailchimp=mailchimp,
        sms_optouts=sms_optouts,
        profile=profile,
        profile_sync=profile_sync,
        announced=announced,
    )


@pytest.fixture
def world() -> World:
    return make_world()
