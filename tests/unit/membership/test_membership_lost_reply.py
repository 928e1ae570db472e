"""Soak findings: nothing is lost when the membership queue fails at signup, and a create
whose reply was lost is retried with the very same body (one member, not a refusal)."""

from __future__ import annotations

import pytest

from loyalty_bridge import errors
from loyalty_bridge.models.domain import LoyaltyStatus
from loyalty_bridge.models.messages import Envelope, SyncedFields
from loyalty_bridge.models.records import ErrorCategory
from loyalty_bridge.services.enrolment import Outcome
from loyalty_bridge.services.membership import REASON_UNAVAILABLE
from tests.unit.membership.conftest import World


def test_lost_reply_then_profile_change_then_retry_gives_one_joined_member(world: World) -> None:
    world.sign_up("c-lost", email="lost@example.com", first_name="Ann")
    world.platform.lose_next_reply("create_member")
    first = world.queue.drain()

    with pytest.raises(errors.Retryable):  # the message goes back to the queue
        world.enrolment.handle(Envelope.model_validate_json(first[0].body))
    world.profile.update_profile("c-lost", SyncedFields(first_name="Anna"))
    pending_sync = world.run_sync()  # the change is made while the customer is still pending
    assert all("platform" in outcome.skipped for outcome in pending_sync)
    assert world.enrolment.handle(Envelope.model_validate_json(first[0].body)) is Outcome.JOINED
    joined_sync = world.run_sync()  # the full push queued by the join
    assert any("platform" in outcome.applied for outcome in joined_sync)

    record = world.customers.get("c-lost")
    assert record is not None
    assert record.status is LoyaltyStatus.JOINED
    assert len(world.platform.accounts) == 1
    member = world.platform.accounts[record.member_id or ""].member
    assert member.profile.first_name == "Anna"
    assert world.errors.records == {}


def test_admin_replay_after_a_refusal_creates_with_the_current_record_under_a_new_key(
    world: World,
) -> None:
    world.existing_member("replay@example.com")
    world.sign_up("c-replay", email="replay@example.com")
    message = Envelope.model_validate_json(world.queue.messages[0].body)
    assert world.run_worker() == [Outcome.REFUSED]  # the email is taken: no account was made
    world.profile.update_profile("c-replay", SyncedFields(last_name="Moss", email="replay2@example.com"))

    replay = message.model_copy(update={"replay_of": "new_account_registration:x"})
    assert world.enrolment.handle(replay) is Outcome.JOINED

    create = [kw for name, kw in world.platform.calls if name == "create_member"][-1]
    assert create["idempotency_key"] == "c-replay:new_account_registration:x"
    assert create["profile"].last_name == "Moss"
    assert create["profile"].email == "replay2@example.com"


def test_membership_queue_down_at_signup_records_one_error_and_one_email(world: World) -> None:
    world.queue.fail_with = errors.Retryable("sqs down")

    record = world.sign_up("c-noqueue", email="noqueue@example.com")

    assert record.status is LoyaltyStatus.NOT_JOINED
    assert record.status_reason == REASON_UNAVAILABLE
    stored = [r for r in world.errors.records.values() if r.category is ErrorCategory.NEW_ACCOUNT]
    assert len(stored) == 1
    assert stored[0].customer_id == "c-noqueue"
    assert stored[0].replay["queue"] == "membership"
    body = Envelope.model_validate(stored[0].replay["body"])
    assert body.customer_id == "c-noqueue"
    assert "noqueue@example.com" not in stored[0].attempted
    assert len(world.admin_mail()) == 1

    # The replay (queue back up) joins the customer and resolves the error.
    world.queue.fail_with = None
    assert world.enrolment.handle(body.model_copy(update={"replay_of": stored[0].error_id})) is Outcome.JOINED
    assert world.status("c-noqueue") is LoyaltyStatus.JOINED


# ---------------------------------------------------------------- an unsettled create is repeated
# The platform remembers a key with its body: a second create under the customer's key with
# other details would be refused (409 idempotency_key_reused) although the account exists.


def _gave_up_after_a_lost_reply(world: World, customer_id: str) -> None:
    world.sign_up(customer_id, email=f"{customer_id}@example.com", first_name="Ann")
    world.platform.lose_next_reply("create_member")  # the account is made, the reply lost
    assert world.run_worker(last_attempt=True) == [Outcome.GAVE_UP]
    assert world.status(customer_id) is LoyaltyStatus.NOT_JOINED
    assert len(world.platform.accounts) == 1
    world.profile.update_profile(customer_id, SyncedFields(first_name="Anna"))


def _joined_with_one_account(world: World, customer_id: str) -> None:
    world.run_sync()
    record = world.customers.get(customer_id)
    assert record is not None
    assert record.status is LoyaltyStatus.JOINED
    assert record.pending_create is None
    assert len(world.platform.accounts) == 1
    assert world.platform.accounts[record.member_id or ""].member.profile.first_name == "Anna"
    creates = [kw for name, kw in world.platform.calls if name == "create_member"]
    assert {kw["idempotency_key"] for kw in creates} == {customer_id}


def test_a_join_after_giving_up_repeats_the_unsettled_create(world: World) -> None:
    _gave_up_after_a_lost_reply(world, "c-rejoin")

    world.signup.join("c-rejoin")
    assert world.run_worker() == [Outcome.JOINED]

    _joined_with_one_account(world, "c-rejoin")


def test_a_replay_after_giving_up_repeats_the_unsettled_create(world: World) -> None:
    _gave_up_after_a_lost_reply(world, "c-rereplay")
    stored = [r for r in world.errors.records.values() if r.category is ErrorCategory.NEW_ACCOUNT]
    body = Envelope.model_validate(stored[0].replay["body"])

    assert world.enrolment.handle(body.model_copy(update={"replay_of": stored[0].error_id})) is Outcome.JOINED

    _joined_with_one_account(world, "c-rereplay")
