"""P4: a join is announced to the marketing sync, so Mailchimp's loyalty flag flips at once."""

from __future__ import annotations

import time
from typing import Any

import pytest

from loyalty_bridge import errors
from loyalty_bridge.models.domain import Consents, LoyaltyStatus
from loyalty_bridge.models.records import CustomerRecord, ErrorCategory, ErrorStatus
from loyalty_bridge.services.admin import AdminErrors
from loyalty_bridge.services.enrolment import Outcome
from loyalty_bridge.services.membership import Linker, RecordUpdater
from tests.unit.membership.conftest import World


def test_auto_join_announces_the_join_once(world: World) -> None:
    record = world.sign_up("c-announce")
    world.run_worker()

    assert world.status(record.customer_id) is LoyaltyStatus.JOINED
    assert world.announced == ["c-announce"]


def test_refused_join_is_not_announced(world: World) -> None:
    world.existing_member("taken@example.com")
    world.sign_up("c-refused", email="taken@example.com")
    world.run_worker()

    assert world.status("c-refused") is LoyaltyStatus.NOT_JOINED
    assert world.announced == []


def test_a_failing_announcement_does_not_undo_the_join(world: World) -> None:
    def broken(_: CustomerRecord) -> None:
        raise errors.Retryable("queue down")

    world.sign_up("c-quiet")
    member = world.existing_member("quiet@example.com")
    linker = Linker(RecordUpdater(world.customers), world.platform, on_joined=broken)

    saved = linker.link("c-quiet", member)

    assert saved.status is LoyaltyStatus.JOINED
    assert saved.member_id == member.member_id


# ---------------------------------------------------------------- the join snapshot is never dropped
# A change made while the loyalty account is being created reaches no platform (there is no
# member yet); the snapshot queued at the join carries it there. Found by the soak: a
# throttled queue at the join left an opt-out off the platform.


def _joined_while_opting_out(world: World, customer_id: str) -> None:
    world.sign_up(customer_id, email=f"{customer_id}@example.com", consents={"email": True, "sms": False})
    world.profile.set_consents(customer_id, Consents(email=False, sms=False))
    outcomes = world.run_sync()  # signup push and the opt-out: no member yet
    assert all("platform" not in o.applied for o in outcomes)


def _platform_consents(world: World, customer_id: str) -> Consents:
    record = world.customers.get(customer_id)
    assert record is not None
    assert record.member_id
    return world.platform.get_member(record.member_id).consents


def test_a_queue_hiccup_at_the_join_is_retried(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda _: None)
    _joined_while_opting_out(world, "c-hiccup")
    sends = world.sync_queue.send

    failures = iter([errors.Retryable("throttled"), errors.Retryable("throttled")])

    def flaky(body: str, **options: Any) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        sends(body, **options)

    monkeypatch.setattr(world.sync_queue, "send", flaky)
    world.run_worker()
    world.run_sync()

    assert _platform_consents(world, "c-hiccup") == Consents(email=False, sms=False)
    assert world.errors.list(category=None, status=None, limit=10, cursor=None)[0] == []


def test_a_join_the_queue_will_not_take_is_recorded_and_its_replay_delivers_the_change(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "sleep", lambda _: None)
    _joined_while_opting_out(world, "c-outage")
    world.sync_queue.fail_with = errors.Retryable("queue down")

    assert world.run_worker() == [Outcome.JOINED]  # the join stands
    world.sync_queue.fail_with = None
    assert _platform_consents(world, "c-outage").email is True  # signup consents so far

    recorded, _ = world.errors.list(category=None, status=None, limit=10, cursor=None)
    assert [r.category for r in recorded] == [ErrorCategory.ACCOUNT_UPDATE]
    assert recorded[0].replay["queue"] == "profile_sync"
    assert world.admin_mail(), "the admins are told"

    AdminErrors(world.errors, lambda _: world.sync_queue).replay(recorded[0].error_id)
    world.run_sync()

    assert _platform_consents(world, "c-outage") == Consents(email=False, sms=False)
    assert world.errors.get(recorded[0].error_id).status == ErrorStatus.RESOLVED


def test_a_redelivered_create_for_a_joined_customer_queues_the_snapshot_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The join was saved but its reply was lost (or the snapshot failed): the message comes
    back, finds the customer joined, and announces again."""
    monkeypatch.setattr(time, "sleep", lambda _: None)
    _joined_while_opting_out(world, "c-lost-reply")
    create = world.queue.messages[0]
    world.sync_queue.fail_with = errors.Retryable("queue down")
    world.run_worker()
    world.sync_queue.fail_with = None

    world.queue.messages.append(create)  # SQS delivers it again
    assert world.run_worker() == [Outcome.ALREADY_JOINED]
    world.run_sync()

    assert _platform_consents(world, "c-lost-reply") == Consents(email=False, sms=False)
