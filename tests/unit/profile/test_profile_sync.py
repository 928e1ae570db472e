"""Profile and consent sync on fakes: order, last write wins, nothing twice, nothing lost."""

from __future__ import annotations

import time
from typing import Any

import pytest

from loyalty_bridge import errors
from loyalty_bridge.adapters.mailchimp import MailchimpRefused
from loyalty_bridge.models.api_profile import MailchimpWebhook
from loyalty_bridge.models.domain import Consents, LoyaltyStatus, MemberProfile
from loyalty_bridge.models.messages import PROFILE_UPDATE, Envelope, SyncedFields
from loyalty_bridge.models.records import ErrorCategory, ErrorStatus
from loyalty_bridge.services.profile_sync import ProfileSync
from loyalty_bridge.services.profile_updates import ProfileUpdates
from loyalty_bridge.services.sync_queue import announce_join, snapshot_message, snapshot_targets
from tests.fakes import InMemoryCustomers, RecordingMetrics
from tests.unit.profile.conftest import World


def test_a_profile_change_is_saved_and_queued_in_the_customers_group(world: World) -> None:
    world.customer("c-1")

    result = world.updates.update_profile("c-1", SyncedFields(first_name="Anna", email="anna@example.org"))

    assert result.sync == "queued"
    record = world.customers.get("c-1")
    assert record is not None
    assert (record.first_name, record.email, record.version) == ("Anna", "anna@example.org", result.version)
    [message] = world.queue.messages
    assert message.group_id == "c-1"
    envelope = Envelope.model_validate_json(message.body)
    assert envelope.kind == PROFILE_UPDATE
    assert envelope.version == result.version
    assert envelope.payload["before"] == {"first_name": "Ann", "email": "c-1@example.com"}
    assert envelope.payload["after"] == {"first_name": "Anna", "email": "anna@example.org"}


def test_an_unchanged_profile_queues_nothing(world: World) -> None:
    world.customer("c-1")

    result = world.updates.update_profile("c-1", SyncedFields(first_name="Ann"))

    assert result.sync == "unchanged"
    assert world.queue.messages == []


def test_an_unknown_customer_is_not_found(world: World) -> None:
    with pytest.raises(errors.NotFound):
        world.updates.update_profile("nobody", SyncedFields(first_name="X"))


def test_the_change_reaches_the_platform_mailchimp_and_sms(world: World) -> None:
    world.customer("c-1")
    world.updates.update_profile("c-1", SyncedFields(first_name="Anna", mobile="+15550000002"))
    world.updates.set_consents("c-1", Consents(email=True, sms=False))

    outcomes = world.run()

    assert all(o.failed == [] and o.retry == [] for o in outcomes)
    member = world.platform.get_member(world.member_of("c-1"))
    assert member.profile.first_name == "Anna"
    assert member.profile.mobile == "+15550000002"
    assert member.consents == Consents(email=True, sms=False)
    audience = world.mailchimp.members["c-1@example.com"]
    assert audience["status"] == "subscribed"
    assert audience["merge"]["FNAME"] == "Anna"
    assert audience["merge"]["LOYALTY"] == "yes"
    assert world.sms.is_opted_out("+15550000002")


def test_a_customer_without_a_phone_writes_no_sms_state_until_one_comes(world: World) -> None:
    world.customer("c-1", mobile=None)
    world.updates.set_consents("c-1", Consents(email=True, sms=False))

    [outcome] = world.run()

    assert "sms" in outcome.skipped
    assert world.state.load("c-1", "sms").versions == {}  # nothing on the list, nothing remembered
    assert world.sms.opted_out == {}

    result = world.updates.update_profile("c-1", SyncedFields(mobile="+15550000009"))
    [outcome] = world.run()

    assert "sms" in outcome.applied
    assert world.sms.is_opted_out("+15550000009")  # the earlier opt-out applies to the new phone
    state = world.state.load("c-1", "sms")
    assert (state.versions["mobile"], state.facts["mobile"]) == (result.version, "+15550000009")


@pytest.mark.parametrize("reverse", [False, True])
def test_a_burst_of_opt_in_and_out_ends_with_the_last_choice(world: World, reverse: bool) -> None:
    world.customer("c-1")
    for n in range(9):
        world.updates.set_consents("c-1", Consents(email=n % 2 == 0, sms=n % 2 == 1))

    world.run(reverse=reverse)

    last = Consents(email=True, sms=False)  # n = 8
    assert world.platform.get_member(world.member_of("c-1")).consents == last
    assert world.mailchimp.members["c-1@example.com"]["status"] == "subscribed"
    assert world.sms.is_opted_out("+15550000001")  # sms consent off
    if reverse:
        # The newest came first; every older one was stale and skipped.
        assert len([c for c in world.platform.calls if c[0] == "set_consents"]) == 1


def test_a_duplicate_delivery_changes_nothing_twice(world: World) -> None:
    world.customer("c-1")
    world.updates.update_profile("c-1", SyncedFields(last_name="Lu"))
    [message] = world.queue.drain()
    envelope = Envelope.model_validate_json(message.body)

    first = world.sync.handle(envelope)
    again = world.sync.handle(envelope)

    assert sorted(first.applied) == ["mailchimp", "platform", "sms"]
    assert again.applied == []
    assert (
        len([c for c in world.platform.calls if c[0] == "update_profile"]) == 1
    )  # first contact: whole record
    assert len(world.mailchimp.upserts) == 1


def _deliver(world: World, envelope: Envelope) -> None:
    """One delivery whose failure the queue retries (the message comes back)."""
    with pytest.raises(errors.Retryable):
        world.sync.handle(envelope)


def test_a_redelivery_that_sends_other_fields_sends_them_under_another_key(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The join's snapshot reaches the platform but its state write fails (retried); the
    # change behind that version is applied meanwhile; the snapshot's redelivery then sends
    # only the fields still fresh: another body, so another idempotency key (the platform
    # refuses a reused key with another body).
    world.customer("c-1")
    world.updates.update_profile("c-1", SyncedFields(mobile="+15550000009"))
    world.run()  # first contact: the whole record
    world.updates.update_profile("c-1", SyncedFields(first_name="Anna", last_name="Lu"))
    [change] = world.queue.drain()
    joined = world.customers.get("c-1")
    assert joined is not None
    announce_join(world.queue, None, joined)
    [snapshot] = world.queue.drain()
    mark_applied = world.state.mark_applied
    failures = iter([ConnectionError("state table unavailable")])

    def fails_once(*args: Any, **kwargs: Any) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        mark_applied(*args, **kwargs)

    monkeypatch.setattr(world.state, "mark_applied", fails_once)
    envelope = Envelope.model_validate_json(snapshot.body)
    _deliver(world, envelope)  # retried: the platform has it, the state does not
    world.sync.handle(Envelope.model_validate_json(change.body))
    assert world.sync.handle(envelope).applied == ["platform"]

    updates = [kwargs for name, kwargs in world.platform.calls if name == "update_profile"]
    first, _, again = updates[-3:]
    assert {"first_name", "last_name"} <= first["changes"].model_fields_set
    assert not {"first_name", "last_name"} & again["changes"].model_fields_set
    assert first["idempotency_key"] != again["idempotency_key"]
    assert first["idempotency_key"].startswith(f"psync:{envelope.message_id}:{joined.version}:profile:")
    member = world.platform.get_member(world.member_of("c-1"))
    assert (member.profile.first_name, member.profile.last_name) == ("Anna", "Lu")


def test_a_redelivery_with_the_same_fields_uses_the_same_key(world: World) -> None:
    world.customer("c-1")
    world.platform.fail_next("update_profile", errors.PlatformUnavailable("down"))
    world.updates.update_profile("c-1", SyncedFields(first_name="Anna"))
    [message] = world.queue.drain()
    envelope = Envelope.model_validate_json(message.body)
    _deliver(world, envelope)  # retried: the platform was down
    assert "platform" in world.sync.handle(envelope).applied
    keys = [kwargs["idempotency_key"] for name, kwargs in world.platform.calls if name == "update_profile"]
    first, again = keys
    assert first == again


def test_a_customer_not_joined_reaches_mailchimp_and_the_platform_once_joined(world: World) -> None:
    world.customer("c-2", joined=False)
    world.updates.update_profile("c-2", SyncedFields(first_name="Bea"))
    outcome = world.run()[0]

    assert "platform" in outcome.skipped
    assert world.mailchimp.members["c-2@example.com"]["merge"]["LOYALTY"] == "no"

    # The membership flow joins the customer, then queues a snapshot.
    member = world.platform.create_member(
        MemberProfile(email="c-2@example.com", first_name="Old"),
        Consents(),
        idempotency_key="join-c-2",
    )
    record = world.customers.get("c-2")
    assert record is not None
    joined = world.customers.save(
        record.model_copy(update={"status": LoyaltyStatus.JOINED, "member_id": member.member_id}),
        expected_version=record.version,
    )
    announce_join(world.queue, None, joined)
    world.run()

    assert world.platform.get_member(member.member_id).profile.first_name == "Bea"
    assert world.mailchimp.members["c-2@example.com"]["merge"]["LOYALTY"] == "yes"


def test_a_snapshot_naming_its_targets_reaches_those_alone(world: World) -> None:
    """Issue 19: the signup's push names Mailchimp (and the SMS list when there is a phone),
    not the platform: a new customer is no member yet, and the join queues its own push."""
    record = world.customer("c-1")
    calls_before = len(world.platform.calls)

    outcome = world.sync.handle(
        snapshot_message("c-1", reason="signup", version=record.version, targets=("mailchimp",))
    )

    assert outcome.applied == ["mailchimp"]
    assert sorted(outcome.skipped) == ["platform", "sms"]
    assert world.mailchimp.members["c-1@example.com"]["merge"]["FNAME"] == "Ann"
    assert len(world.platform.calls) == calls_before  # the platform was not asked
    assert world.state.load("c-1", "sms").versions == {}
    assert not world.sms.is_opted_out("+15550000001")


def test_a_snapshot_for_targets_the_worker_lacks_reads_nothing(world: World) -> None:
    class Unreadable(InMemoryCustomers):
        def get(self, customer_id: str) -> None:
            raise AssertionError("read")

    metrics = RecordingMetrics()
    sync = ProfileSync(Unreadable(), world.platform, world.state, world.incidents, metrics=metrics)

    outcome = sync.handle(snapshot_message("c-1", reason="signup", version=1, targets=("mailchimp", "sms")))

    assert (outcome.applied, sorted(outcome.skipped)) == ([], ["mailchimp", "platform", "sms"])


def test_which_targets_a_message_goes_to() -> None:
    every, configured = ("platform", "mailchimp", "sms"), {"platform", "mailchimp"}
    named = snapshot_message("c-1", reason="signup", version=1, targets=("mailchimp", "sms"))
    assert snapshot_targets(named, every, configured) == ("mailchimp",)  # no SMS list here
    replay = named.model_copy(update={"replay_of": "account_update:x"})
    assert snapshot_targets(replay, every, configured) == every  # a replay goes to all
    unnamed = snapshot_message("c-1", reason="joined", version=2)
    assert snapshot_targets(unnamed, every, configured) == every
    unreadable = named.model_copy(update={"payload": {"targets": ["nowhere"]}})
    assert snapshot_targets(unreadable, every, configured) == every  # refused by the worker
    change = Envelope(kind=PROFILE_UPDATE, message_id="v2:c-1", customer_id="c-1", version=2)
    assert snapshot_targets(change, every, set()) == every


def test_a_platform_refusal_is_one_error_one_email_and_replays_after_the_fix(world: World) -> None:
    world.customer("c-1")
    world.run()  # nothing queued yet; first contact happens with the change below
    world.platform.fail_next("update_profile", errors.DuplicateMember(field="email"), times=2)
    world.updates.update_profile("c-1", SyncedFields(email="taken@example.com"))

    outcome = world.run()[0]

    assert outcome.failed == ["platform"]
    assert sorted(outcome.applied) == ["mailchimp", "sms"]
    [record] = world.errors.records.values()
    assert record.category == ErrorCategory.ACCOUNT_UPDATE
    assert record.change_before == {"email": "c-1@example.com"}
    assert record.change_after == {"email": "taken@example.com"}
    assert "duplicate_member" in record.platform_answer
    [mail] = world.mailer.sent
    assert "Account Update Errors" in mail.subject
    assert "email: c***@e***.com -> t***@e***.com" in mail.text

    # The admin replays before fixing: it fails again - same record, no second email.
    world.admin.replay(record.error_id)
    world.run()
    again = world.errors.get(record.error_id)
    assert again is not None
    assert (again.status, again.attempts, len(world.mailer.sent)) == (ErrorStatus.OPEN, 2, 1)

    # After the fix, the replay goes through and the error is resolved.
    world.admin.replay(record.error_id)
    world.run()
    assert world.platform.get_member(world.member_of("c-1")).profile.email == "taken@example.com"
    resolved = world.errors.get(record.error_id)
    assert resolved is not None
    assert resolved.status == ErrorStatus.RESOLVED
    assert len(world.errors.records) == 1


def test_technical_failures_are_retried_then_recorded_on_the_last_attempt(world: World) -> None:
    world.customer("c-1")
    world.updates.set_consents("c-1", Consents(email=True, sms=True))
    [message] = world.queue.drain()
    envelope = Envelope.model_validate_json(message.body)
    world.platform.fail_next("update_profile", errors.PlatformUnavailable("timeout"), times=5)

    for attempt in range(1, 5):
        with pytest.raises(errors.Retryable):
            world.sync.handle(envelope, receive_count=attempt)
    assert world.errors.records == {}
    outcome = world.sync.handle(envelope, receive_count=5)

    assert outcome.failed == ["platform"]
    [record] = world.errors.records.values()
    assert "still failing after 5 attempts" in record.platform_answer
    assert len(world.mailer.sent) == 1
    # Mailchimp was applied on the first attempt and never again.
    assert len(world.mailchimp.upserts) == 1


def test_a_mailchimp_refusal_is_recorded_for_mailchimp_only(world: World) -> None:
    world.customer("c-1")
    world.mailchimp.fail_next(MailchimpRefused("Member In Compliance State", "x@y.io cannot be subscribed"))
    world.updates.set_consents("c-1", Consents(email=True, sms=False))

    outcome = world.run()[0]

    assert outcome.failed == ["mailchimp"]
    [record] = world.errors.records.values()
    assert record.error_id.endswith(":mailchimp")
    assert "Member In Compliance State" in record.platform_answer
    assert "x@y.io" not in record.platform_answer
    assert world.platform.get_member(world.member_of("c-1")).consents.email is True


def test_an_email_change_moves_the_mailchimp_member(world: World) -> None:
    world.customer("c-1")
    world.updates.set_consents("c-1", Consents(email=True, sms=False))
    world.run()
    world.updates.update_profile("c-1", SyncedFields(email="new@example.com"))

    world.run()

    assert world.mailchimp.upserts[-1].previous_email == "c-1@example.com"
    assert "c-1@example.com" not in world.mailchimp.members
    assert world.mailchimp.members["new@example.com"]["status"] == "subscribed"
    assert world.state.customer_for_email("new@example.com") == "c-1"


def test_a_mailchimp_unsubscribe_reaches_the_platform(world: World) -> None:
    world.customer("c-1")
    world.updates.set_consents("c-1", Consents(email=True, sms=True))
    world.run()

    event = MailchimpWebhook.model_validate(
        {"type": "unsubscribe", "data": {"email": "C-1@example.com", "list_id": "L1"}}
    )
    assert world.updates.apply_mailchimp_event(event, list_id="L1") == "applied"
    world.run()

    member = world.platform.get_member(world.member_of("c-1"))
    assert member.consents == Consents(email=False, sms=True)
    record = world.customers.get("c-1")
    assert record is not None
    assert record.consents.email is False
    # The echo of our own push (or a second delivery) changes nothing.
    assert world.updates.apply_mailchimp_event(event, list_id="L1") == "unchanged"


@pytest.mark.parametrize(
    ("kind", "data", "expected"),
    [
        ("subscribe", {"email": "c-1@example.com", "list_id": "L1"}, "ignored"),
        ("profile", {"email": "c-1@example.com", "list_id": "L1"}, "ignored"),
        ("unsubscribe", {"email": "c-1@example.com", "list_id": "OTHER"}, "ignored"),
        ("unsubscribe", {"email": "stranger@example.com", "list_id": "L1"}, "ignored"),
        ("cleaned", {"email": "c-1@example.com", "list_id": "L1"}, "unchanged"),
    ],
)
def test_other_mailchimp_events_change_nothing(
    world: World, kind: str, data: dict[str, str], expected: str
) -> None:
    world.customer("c-1")
    world.state.remember_email("c-1@example.com", "c-1")

    event = MailchimpWebhook.model_validate({"type": kind, "data": data})

    assert world.updates.apply_mailchimp_event(event, list_id="L1") == expected
    assert world.queue.messages == []


@pytest.mark.parametrize(
    ("failure", "tries"),
    [(errors.Retryable("sqs down"), 3), (errors.Permanent("AccessDenied", code="access_denied"), 1)],
)
def test_when_the_queue_is_down_the_change_stands_and_waits_in_the_error_list(
    world: World, monkeypatch: pytest.MonkeyPatch, failure: errors.BridgeError, tries: int
) -> None:
    monkeypatch.setattr(time, "sleep", lambda _: None)
    world.customer("c-1")
    sends: list[object] = []

    def broken_send(*args: object, **_kwargs: object) -> None:
        sends.append(args)
        raise failure

    world.queue.send = broken_send  # type: ignore[method-assign]
    result = world.updates.update_profile("c-1", SyncedFields(first_name="Zed"))

    assert result.sync == "deferred"
    assert len(sends) == tries  # a throttle is retried at once; a refusal is not
    record = world.customers.get("c-1")
    assert record is not None
    assert record.first_name == "Zed"
    [error] = world.errors.records.values()
    assert error.replay["queue"] == "profile_sync"
    assert error.change_after == {"first_name": "Zed"}


def test_a_message_that_makes_no_sense_is_recorded_not_retried(world: World) -> None:
    world.customer("c-1")
    envelope = Envelope(
        kind="profile.update", message_id="m-bad", customer_id="c-1", version=3, payload={"x": 1}
    )

    outcome = world.sync.handle(envelope)

    assert outcome.failed == ["all"]
    [record] = world.errors.records.values()
    assert record.error_id == "account_update:m-bad:all"


def test_replaying_a_change_that_newer_ones_overtook_resolves_without_undoing_them(world: World) -> None:
    world.customer("c-1")
    world.platform.fail_next("set_consents", errors.PlatformRefused("nope"))
    world.updates.set_consents("c-1", Consents(email=True, sms=False))
    world.run()
    [error] = world.errors.records.values()
    world.updates.set_consents("c-1", Consents(email=False, sms=True))
    world.run()

    world.admin.replay(error.error_id)
    world.run()

    assert world.platform.get_member(world.member_of("c-1")).consents == Consents(email=False, sms=True)
    resolved = world.errors.get(error.error_id)
    assert resolved is not None
    assert resolved.status == ErrorStatus.RESOLVED


class _AnswerLostAfterSave:
    """The customer store, except that the first save's answer is lost after it wrote
    (DynamoDB did the write, the reply timed out)."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.lost = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def save(self, record: Any, *, expected_version: int) -> Any:
        saved = self._store.save(record, expected_version=expected_version)
        if not self.lost:
            self.lost += 1
            raise errors.Retryable("the answer was lost")
        return saved


@pytest.mark.parametrize(
    ("change", "reached"),
    [
        (lambda u: u.set_consents("c-1", Consents(email=True, sms=False)), lambda m: m.consents.email),
        (
            lambda u: u.update_profile("c-1", SyncedFields(first_name="Anna")),
            lambda m: m.profile.first_name == "Anna",
        ),
    ],
)
def test_a_change_whose_answer_was_lost_after_the_save_is_queued_by_its_retry(
    world: World, change: Any, reached: Any
) -> None:
    world.customer("c-1")
    lossy = _AnswerLostAfterSave(world.customers)
    updates = ProfileUpdates(lossy, world.queue, world.state, world.incidents)
    with pytest.raises(errors.Retryable):
        change(updates)
    assert world.queue.messages == []  # saved, never queued

    retried = change(updates)  # the storefront sends it again

    assert retried.sync == "unchanged"  # the values were saved by the first attempt
    assert len(world.queue.messages) == 1  # and the change it saved is on its way
    assert all(o.failed == [] and o.retry == [] for o in world.run())
    assert reached(world.platform.get_member(world.member_of("c-1")))
    change(updates)  # once more: the same message id and version, nothing moves twice
    assert all(o.applied == [] for o in world.run())


def test_a_repeated_change_on_top_of_a_newer_one_queues_nothing(world: World) -> None:
    world.customer("c-1")
    world.updates.set_consents("c-1", Consents(email=True, sms=False))
    world.updates.update_profile("c-1", SyncedFields(first_name="Anna"))
    world.run()

    assert world.updates.set_consents("c-1", Consents(email=True, sms=False)).sync == "unchanged"
    assert world.queue.messages == []
