"""Signup (A1, A2), join later (A3), the worker's create/link (A5) and its incidents."""

from __future__ import annotations

import pytest

from loyalty_bridge import errors
from loyalty_bridge.models.domain import Consents, LoyaltyStatus, MemberProfile, ProfileChanges
from loyalty_bridge.models.messages import Envelope
from loyalty_bridge.models.records import CustomerRecord, ErrorCategory
from loyalty_bridge.observability import MetricName
from loyalty_bridge.services.enrolment import Outcome
from loyalty_bridge.services.membership import created_fields
from tests.unit.membership.conftest import ADMIN, World, make_world


def test_auto_join_creates_and_links_a_member_with_a_virtual_card(world: World) -> None:
    record = world.sign_up("c-1")
    assert record.status is LoyaltyStatus.PENDING
    assert world.run_worker() == [Outcome.JOINED]
    summary = world.summary.summary("c-1")
    assert summary.status is LoyaltyStatus.JOINED
    assert summary.join_prompt is False
    assert summary.card is not None
    assert summary.card.kind.value == "virtual"
    stored = world.customers.get("c-1")
    assert stored is not None
    assert world.customers.linked_customer(member_id=stored.member_id) == "c-1"
    assert world.metrics.counts[MetricName.SIGNUPS] == 1
    assert world.metrics.counts[MetricName.JOINS] == 1


def test_auto_join_off_leaves_the_customer_not_joined_with_a_join_prompt() -> None:
    world = make_world(auto_join=False)
    world.sign_up("c-1")
    assert world.queue.messages == []
    summary = world.summary.summary("c-1")
    assert summary.status is LoyaltyStatus.NOT_JOINED
    assert summary.join_prompt is True
    assert summary.card is None
    assert summary.points is None


def test_join_false_overrides_auto_join_and_join_true_overrides_it_off() -> None:
    on = make_world()
    assert on.sign_up("c-1", join=False).status is LoyaltyStatus.NOT_JOINED
    off = make_world(auto_join=False)
    assert off.sign_up("c-1", join=True).status is LoyaltyStatus.PENDING


def test_a_repeated_signup_is_idempotent_and_other_data_is_a_conflict(world: World) -> None:
    world.sign_up("c-1")
    again = world.sign_up("c-1")
    assert again.status is LoyaltyStatus.PENDING
    # The repeat re-sent the work (in case the first send was lost); the worker joins once.
    assert world.run_worker() == [Outcome.JOINED, Outcome.ALREADY_JOINED]
    assert len(world.platform.accounts) == 1
    with pytest.raises(errors.Conflict) as caught:
        world.sign_up("c-1", first_name="Bob")
    assert caught.value.code == "customer_exists"


def test_refused_signup_is_not_joined_with_the_reason_and_one_admin_email(world: World) -> None:
    world.existing_member("ann@example.com")
    world.sign_up("c-1")
    assert world.run_worker() == [Outcome.REFUSED]
    summary = world.summary.summary("c-1")
    assert summary.status is LoyaltyStatus.NOT_JOINED
    assert summary.join_prompt is True
    assert summary.reason == "duplicate_email"
    [incident] = world.errors.records.values()
    assert incident.category is ErrorCategory.NEW_ACCOUNT
    assert incident.customer_id == "c-1"
    assert incident.replay["queue"] == "membership"
    [mail] = world.admin_mail()
    assert "New Account Registration Errors" in mail.subject
    assert "a***@e***.com" in mail.text
    assert "ann@example.com" not in mail.text
    assert "duplicate_member" in mail.text
    assert "What to do:" in mail.text
    assert world.metrics.counts[MetricName.JOIN_REFUSED] == 1


def test_a_redelivered_refusal_emails_the_admins_only_once(world: World) -> None:
    world.existing_member("ann@example.com")
    world.sign_up("c-1")
    [message] = world.queue.drain()
    for _ in range(3):
        world.enrolment.handle(Envelope.model_validate_json(message.body))
    assert len(world.errors.records) == 1
    assert len(world.admin_mail()) == 1


def test_join_after_the_refusal_was_fixed_succeeds(world: World) -> None:
    other = world.existing_member("ann@example.com")
    world.sign_up("c-1")
    world.run_worker()
    # The admin corrects the other account's email on the platform.
    world.platform.update_profile(
        other.member_id, ProfileChanges(email="ann.other@example.com"), idempotency_key="fix-1"
    )
    assert world.signup.join("c-1").status is LoyaltyStatus.PENDING
    assert world.run_worker() == [Outcome.JOINED]
    assert world.summary.summary("c-1").status is LoyaltyStatus.JOINED


def test_an_admin_replay_after_the_fix_joins_and_resolves_the_error(world: World) -> None:
    other = world.existing_member("ann@example.com")
    world.sign_up("c-1")
    world.run_worker()
    [incident] = world.errors.records.values()
    world.platform.update_profile(
        other.member_id, ProfileChanges(email="ann.other@example.com"), idempotency_key="fix-1"
    )
    body = dict(incident.replay["body"])
    body["replay_of"] = incident.error_id
    assert world.enrolment.handle(Envelope.model_validate(body)) is Outcome.JOINED
    assert world.status("c-1") is LoyaltyStatus.JOINED
    assert world.errors.records[incident.error_id].status.value == "resolved"


def test_platform_outage_is_retried_then_counts_as_an_error_on_the_last_attempt(world: World) -> None:
    world.sign_up("c-1")
    [message] = world.queue.drain()
    envelope = Envelope.model_validate_json(message.body)
    world.platform.fail_next("create_member", errors.PlatformUnavailable("timeout"), times=2)
    with pytest.raises(errors.Retryable):
        world.enrolment.handle(envelope)
    assert world.status("c-1") is LoyaltyStatus.PENDING
    assert world.errors.records == {}
    assert world.enrolment.handle(envelope, last_attempt=True) is Outcome.GAVE_UP
    summary = world.summary.summary("c-1")
    assert summary.status is LoyaltyStatus.NOT_JOINED
    assert summary.reason == "platform_unavailable"
    [incident] = world.errors.records.values()
    assert incident.category is ErrorCategory.NEW_ACCOUNT
    assert len(world.admin_mail()) == 1


def test_a_member_already_linked_to_another_web_account_is_refused_and_recorded(world: World) -> None:
    world.sign_up("c-1")
    world.run_worker()
    first = world.customers.get("c-1")
    assert first is not None
    # A second web account whose platform answer is the same member (A5).
    world.sign_up("c-2", email="bob@example.com")
    world.platform.requests["create:c-2"] = world.platform.requests["create:c-1"]
    assert world.run_worker() == [Outcome.REFUSED]
    summary = world.summary.summary("c-2")
    assert summary.status is LoyaltyStatus.NOT_JOINED
    assert summary.reason == "already_linked"
    assert world.customers.linked_customer(member_id=first.member_id) == "c-1"
    assert any(ADMIN in m.to and "already linked" in m.text for m in world.mailer.sent)


def test_join_is_idempotent_for_joined_and_pending_customers(world: World) -> None:
    world.sign_up("c-1")
    assert world.signup.join("c-1").status is LoyaltyStatus.PENDING
    world.run_worker()
    assert world.signup.join("c-1").status is LoyaltyStatus.JOINED
    assert world.queue.messages == []


def test_join_of_an_unknown_customer_is_not_found(world: World) -> None:
    with pytest.raises(errors.NotFound):
        world.signup.join("nobody")


def test_queue_down_at_signup_still_stores_the_customer_and_offers_to_join(world: World) -> None:
    class DownQueue:
        def send(self, body: str, **_: object) -> None:
            raise errors.Retryable("sqs down")

    world.signup._queue = DownQueue()  # the port, swapped for this test
    record = world.sign_up("c-1")
    assert record.status is LoyaltyStatus.NOT_JOINED
    assert world.summary.summary("c-1").join_prompt is True


def test_a_message_for_an_unknown_kind_is_permanent(world: World) -> None:
    with pytest.raises(errors.Permanent):
        world.enrolment.handle(Envelope(kind="membership.nonsense", message_id="x", customer_id="c-1"))


def test_created_fields_are_those_the_new_account_has_as_the_record_has_them() -> None:
    record = CustomerRecord(
        customer_id="c-1", email="ann@example.com", first_name="Anna", consents=Consents(email=True)
    )
    made = MemberProfile(email="ann@example.com", first_name="Ann")
    assert created_fields(record, (made, Consents(email=True))) == [
        "email",
        "last_name",
        "mobile",
        "birthday",
        "address",
        "consents",
    ]
    assert "consents" not in created_fields(record, (made, Consents(email=False)))
    same = made.model_copy(update={"first_name": "Anna"})
    assert "first_name" in created_fields(record, (same, Consents()))
