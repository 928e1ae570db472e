"""services/erasure.py on fakes (D2): what a platform refuses is listed for the admin to do by
hand; a Mailchimp outage keeps nothing and the same erasure_id finishes later; error records
lose the person; a repeat answers the first record and mails once."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from loyalty_bridge import errors
from loyalty_bridge.models.data_rights import AttemptWindow, EraseRequest, ErasureRecord, VerificationAttempt
from loyalty_bridge.models.domain import Consents, LoyaltyStatus, MemberProfile
from loyalty_bridge.models.records import CustomerRecord, ErrorCategory, ErrorRecord, ErrorStatus, SyncState
from loyalty_bridge.services.erasure import CustomerEraser, erased_alias
from loyalty_bridge.services.history import HistoryService
from tests.fakes import CapturingMailer, InMemoryCustomers, InMemoryPlatform, RecordingMailingList


class MemoryCustomerData:
    """CustomerDataStore: the customer's record is all it holds; erasures are kept."""

    def __init__(self, customers: InMemoryCustomers) -> None:
        self.customers = customers
        self.erasures: dict[str, ErasureRecord] = {}

    def sync_states(self, customer_id: str) -> list[SyncState]:
        return []

    def verification(self, customer_id: str) -> list[VerificationAttempt]:
        return []

    def attempt_windows(self, customer_id: str) -> list[AttemptWindow]:
        return []

    def erase_customer(self, customer_id: str, **where: object) -> int:
        """Emails, mobile, member and card (``where``) name nothing more here."""
        return 1 if self.customers.records.pop(customer_id, None) else 0

    def pseudonymise_orders(self, order_ids: Sequence[str], customer_id: str, alias: str) -> int:
        return len(order_ids)

    def erase_answers(self, personal: Sequence[str]) -> int:
        return 0

    def erasure(self, erasure_id: str) -> ErasureRecord | None:
        return self.erasures.get(erasure_id)

    def keep_erasure(self, record: ErasureRecord) -> ErasureRecord:
        return self.erasures.setdefault(record.erasure_id, record)


class MemoryCustomerErrors:
    def __init__(self) -> None:
        self.records: dict[str, ErrorRecord] = {}

    def of_customer(self, customer_id: str) -> list[ErrorRecord]:
        return [r for r in self.records.values() if r.customer_id == customer_id]

    def overwrite(self, record: ErrorRecord, *, previous_id: str) -> None:
        self.records.pop(previous_id, None)
        self.records[record.error_id] = record


class DownMailchimp(RecordingMailingList):
    def __init__(self) -> None:
        super().__init__()
        self.down = True

    def delete_permanently(self, email: str) -> bool:
        if self.down:
            raise errors.Retryable("Mailchimp did not answer")
        return super().delete_permanently(email)


class Rig:
    def __init__(self, mailchimp: RecordingMailingList | None = None) -> None:
        self.customers = InMemoryCustomers()
        self.platform = InMemoryPlatform()
        self.data = MemoryCustomerData(self.customers)
        self.errors = MemoryCustomerErrors()
        self.mailer = CapturingMailer()
        self.mailchimp = mailchimp or RecordingMailingList()
        self.eraser = CustomerEraser(
            self.customers,
            self.platform,
            HistoryService(self.customers, self.platform),
            self.data,
            self.errors,
            self.mailer,
            admin_emails=["dpo@example.com"],
            mailing_list=self.mailchimp,
        )

    def joined(self, customer_id: str = "c-1") -> CustomerRecord:
        email = f"{customer_id}@example.com"
        member = self.platform.create_member(
            MemberProfile(email=email, first_name="Ann", last_name="Lee"),
            Consents(),
            idempotency_key=customer_id,
        )
        record = CustomerRecord(
            customer_id=customer_id,
            email=email,
            first_name="Ann",
            last_name="Lee",
            status=LoyaltyStatus.JOINED,
            member_id=member.member_id,
            card_number=member.card.number,
        )
        self.customers.create(record)
        self.mailchimp.members[email] = {"status": "subscribed", "merge": {}, "email": email}
        return record

    def erase(self, customer_id: str = "c-1", erasure_id: str = "e-1") -> ErasureRecord:
        request = EraseRequest(erasure_id=erasure_id, reason="Art. 17 request")
        return self.eraser.erase(customer_id, request, requested_by="admin-key")


def test_what_the_platform_refuses_is_listed_for_the_admin_to_erase_by_hand() -> None:
    rig = Rig()
    record = rig.joined()
    rig.platform.fail_next(
        "erase_member", errors.PlatformRefused("not here", code="not_supported_by_platform")
    )

    erased = rig.erase()

    assert [step.outcome for step in erased.steps if step.target == "platform"] == ["by_hand"]
    assert len(erased.by_hand) == 1
    assert record.member_id is not None
    assert record.member_id in erased.by_hand[0]
    [mail] = rig.mailer.sent
    assert mail.to == ["dpo@example.com"]
    assert "(action needed)" in mail.subject
    assert "To erase by hand:" in mail.text
    assert "c-1@example.com" not in mail.text
    assert rig.customers.get("c-1") is None


def test_a_mailchimp_outage_keeps_no_record_and_the_same_erasure_id_finishes_the_work() -> None:
    mailchimp = DownMailchimp()
    rig = Rig(mailchimp)
    rig.joined()

    with pytest.raises(errors.Retryable):
        rig.erase()
    assert rig.data.erasures == {}
    assert rig.customers.get("c-1") is not None
    assert rig.mailer.sent == []

    mailchimp.down = False
    erased = rig.erase()

    assert {step.target: step.outcome for step in erased.steps}["mailchimp"] == "done"
    assert "c-1@example.com" not in mailchimp.members
    assert rig.customers.get("c-1") is None


def test_error_records_lose_the_person_and_their_replay() -> None:
    rig = Rig()
    rig.joined()
    rig.errors.records["account_update:v2:c-1:platform"] = ErrorRecord(
        error_id="account_update:v2:c-1:platform",
        category=ErrorCategory.ACCOUNT_UPDATE,
        customer_id="c-1",
        attempted="apply a profile change for Ann Lee",
        platform_answer="duplicate_member: c-1@example.com is used",
        change_before={"email": "c-1@example.com", "first_name": "Ann"},
        change_after={"email": "new@example.com", "last_name": "Lee"},
        replay={"queue": "profile_sync", "body": {"customer_id": "c-1", "email": "c-1@example.com"}},
    )

    rig.erase()

    [kept] = rig.errors.records.values()
    assert kept.customer_id == erased_alias("c-1")
    assert kept.status is ErrorStatus.RESOLVED
    assert kept.replay == {}
    text = kept.model_dump_json().lower()
    assert "c-1@example.com" not in text
    assert "ann" not in text
    assert "lee" not in text


def test_a_repeat_answers_the_first_record_and_another_customer_may_not_reuse_the_id() -> None:
    rig = Rig()
    rig.joined("c-1")
    rig.joined("c-2")
    first = rig.erase("c-1")

    assert rig.erase("c-1") == first
    assert len(rig.mailer.sent) == 1
    with pytest.raises(errors.Conflict) as refused:
        rig.erase("c-2")
    assert refused.value.code == "erasure_id_in_use"
    with pytest.raises(errors.NotFound):
        rig.erase("c-1", erasure_id="e-2")  # erased already: no such customer
