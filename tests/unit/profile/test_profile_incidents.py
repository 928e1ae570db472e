"""IncidentReporter: stored once, emailed once, masked, resolvable."""

from __future__ import annotations

import pytest

from loyalty_bridge import errors
from loyalty_bridge.models.records import ErrorCategory, ErrorRecord, ErrorStatus
from loyalty_bridge.privacy import error_id_for
from loyalty_bridge.services.incidents import IncidentReporter, masked_change
from loyalty_bridge.settings import Settings
from tests.fakes import CapturingMailer, InMemoryErrorStore, RecordingMetrics


def make_record(**overrides: object) -> ErrorRecord:
    values: dict[str, object] = {
        "error_id": error_id_for(ErrorCategory.ACCOUNT_UPDATE, "msg-1", "platform"),
        "category": ErrorCategory.ACCOUNT_UPDATE,
        "customer_id": "c-1",
        "subject_id": "change msg-1",
        "attempted": "update the loyalty profile",
        "platform_answer": "duplicate_member: email already used by another loyalty account",
        "change_before": {"email": "anna@example.com", "mobile": "+15551234567", "first_name": "Anna"},
        "change_after": {"email": "anna.new@example.org", "mobile": "+15557654321", "first_name": "Ann"},
        "replay": {"queue": "profile_sync", "body": {"kind": "profile.update", "message_id": "msg-1"}},
    }
    values.update(overrides)
    return ErrorRecord.model_validate(values)


@pytest.fixture
def store() -> InMemoryErrorStore:
    return InMemoryErrorStore()


@pytest.fixture
def mailer() -> CapturingMailer:
    return CapturingMailer()


def reporter(store: InMemoryErrorStore, mailer: CapturingMailer, **settings: object) -> IncidentReporter:
    values: dict[str, object] = {"admin_emails": "ops@example.com,owner@example.com", "stage": "test"}
    values.update(settings)
    return IncidentReporter(store, mailer, Settings.model_validate(values), metrics=RecordingMetrics())


def test_a_failure_is_stored_once_and_emailed_once(
    store: InMemoryErrorStore, mailer: CapturingMailer
) -> None:
    incidents = reporter(store, mailer)

    assert incidents.report(make_record()) is True
    assert incidents.report(make_record(platform_answer="still refused")) is False

    assert len(store.records) == 1
    stored = next(iter(store.records.values()))
    assert stored.attempts == 2
    assert stored.platform_answer == "still refused"
    assert len(mailer.sent) == 1
    mail = mailer.sent[0]
    assert mail.to == ["ops@example.com", "owner@example.com"]
    assert "Account Update Errors" in mail.subject
    assert "c-1" in mail.subject


def test_the_email_says_what_whom_answer_action_and_how_to_replay(
    store: InMemoryErrorStore, mailer: CapturingMailer
) -> None:
    reporter(store, mailer).report(make_record())

    text = mailer.sent[0].text
    assert "update the loyalty profile" in text
    assert "customer c-1" in text
    assert "duplicate_member" in text
    assert "What to do:" in text
    assert "account_update:msg-1:platform" in text
    assert "/replay" in text
    # before -> after, with contact data masked
    assert "first_name: Anna -> Ann" in text
    assert "a***@e***.com -> a***@e***.org" in text
    assert "***567 -> ***321" in text
    assert "anna@example.com" not in text
    assert "+15551234567" not in text


@pytest.mark.parametrize("category", list(ErrorCategory))
def test_each_category_has_its_own_subject(
    category: ErrorCategory, store: InMemoryErrorStore, mailer: CapturingMailer
) -> None:
    reporter(store, mailer).report(make_record(error_id=error_id_for(category, "k"), category=category))

    assert category.label in mailer.sent[0].subject


def test_no_email_when_notifications_are_off(store: InMemoryErrorStore, mailer: CapturingMailer) -> None:
    assert reporter(store, mailer, notify_admins=False).report(make_record()) is True

    assert len(store.records) == 1
    assert mailer.sent == []


def test_a_mail_outage_is_retried_by_the_next_report(
    store: InMemoryErrorStore, mailer: CapturingMailer
) -> None:
    incidents = reporter(store, mailer)
    mailer.fail_with = errors.Retryable("ses throttled")

    with pytest.raises(errors.Retryable):
        incidents.report(make_record())
    assert len(store.records) == 1  # stored even though the email failed

    mailer.fail_with = None
    assert incidents.report(make_record()) is False
    assert len(mailer.sent) == 1
    incidents.report(make_record())
    assert len(mailer.sent) == 1


def test_a_permanent_mail_refusal_does_not_lose_the_record(
    store: InMemoryErrorStore, mailer: CapturingMailer
) -> None:
    mailer.fail_with = errors.Permanent("sender not verified")

    assert reporter(store, mailer).report(make_record()) is True
    assert store.get(make_record().error_id) is not None


def test_resolve_marks_a_replayed_error_and_a_new_failure_reopens_it(
    store: InMemoryErrorStore, mailer: CapturingMailer
) -> None:
    incidents = reporter(store, mailer)
    record = make_record()
    incidents.report(record)

    assert incidents.resolve(record.error_id) is True
    stored = store.get(record.error_id)
    assert stored is not None
    assert stored.status == ErrorStatus.RESOLVED

    incidents.report(record)
    stored = store.get(record.error_id)
    assert stored is not None
    assert stored.status == ErrorStatus.OPEN
    assert len(mailer.sent) == 1

    assert incidents.resolve("account_update:unknown") is False
    assert incidents.resolve(None) is False


def test_masked_change_lists_each_changed_field() -> None:
    lines = masked_change({"sms": True}, {"sms": False, "email": "b@x.io"})

    assert lines == ["  email: (none) -> b***@x***.io", "  sms: true -> false"]
