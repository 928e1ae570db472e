"""services.queue_policy: one retry-or-record policy for the three queue workers (issue 11)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from loyalty_bridge import errors, wiring
from loyalty_bridge.models.messages import Envelope
from loyalty_bridge.models.records import ErrorCategory, ErrorRecord
from loyalty_bridge.services.queue_policy import Delivery, FailurePolicy, Verdict, process_message
from loyalty_bridge.settings import Settings, settings_from_env

POLICY = FailurePolicy(3)


@pytest.mark.parametrize(
    ("exc", "receives", "verdict"),
    [
        (errors.PlatformUnavailable("down"), 1, Verdict.RETRY),
        (errors.PlatformUnavailable("down"), 2, Verdict.RETRY),
        (errors.PlatformUnavailable("down"), 3, Verdict.GIVE_UP),
        (errors.PlatformUnavailable("down"), 4, Verdict.GIVE_UP),  # SQS may count one more
        (KeyError("a bug"), 1, Verdict.RETRY),  # unknown failures are retried ...
        (KeyError("a bug"), 3, Verdict.GIVE_UP),  # ... then recorded, not left to the DLQ
        (errors.PlatformRefused("no"), 1, Verdict.RECORD),
        (errors.Permanent("unknown kind"), 1, Verdict.RECORD),
        (errors.Permanent("unknown kind"), 3, Verdict.RECORD),
    ],
)
def test_the_verdict_follows_the_error_kind_and_the_receive_count(
    exc: BaseException, receives: int, verdict: Verdict
) -> None:
    assert POLICY.decide(exc, receives) is verdict


def test_a_delivery_knows_whether_it_is_the_last() -> None:
    assert POLICY.delivery("1") == Delivery(receives=1, last=False)
    assert POLICY.delivery("3") == Delivery(receives=3, last=True)
    assert POLICY.delivery(None) == Delivery(receives=1, last=False)  # no attribute: the first
    assert POLICY.delivery("0") == Delivery(receives=1, last=False)
    assert FailurePolicy(1).delivery(1).last is True


def test_the_policy_reads_queue_max_receives() -> None:
    assert FailurePolicy().max_receives == Settings().queue_max_receives
    assert FailurePolicy.of(settings_from_env({"QUEUE_MAX_RECEIVES": "7"})).max_receives == 7
    with pytest.raises(ValueError, match="at least 1"):
        FailurePolicy(0)


def test_wiring_builds_the_policy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUEUE_MAX_RECEIVES", "2")
    wiring.reset()
    assert wiring.failure_policy() == FailurePolicy(2)


# ---------------------------------------------------------------- process_message


class Calls:
    def __init__(self, failure: BaseException | None = None) -> None:
        self.failure = failure
        self.handled: list[tuple[str, Delivery]] = []
        self.given_up: list[tuple[str, BaseException, Delivery]] = []
        self.reported: list[ErrorRecord] = []

    def run(self, body: str, receives: str | None = "1", queue: str = "order") -> Verdict | None:
        return process_message(
            body,
            "sqs-1",
            receives,
            queue=queue,
            policy=POLICY,
            handle=self.handle,
            give_up=self.give_up,
            report=self.reported.append,
        )

    def give_up(self, envelope: Envelope, exc: BaseException, delivery: Delivery) -> None:
        self.given_up.append((envelope.message_id, exc, delivery))

    def handle(self, envelope: Envelope, delivery: Delivery) -> None:
        self.handled.append((envelope.message_id, delivery))
        if self.failure is not None:
            raise self.failure


def _body(**payload: Any) -> str:
    return json.dumps({"kind": "order.post", "message_id": "m-1", "customer_id": "c-1", "payload": payload})


def test_a_handled_message_is_consumed() -> None:
    calls = Calls()
    assert calls.run(_body(), "2") is None
    assert calls.handled == [("m-1", Delivery(receives=2, last=False))]
    assert calls.given_up == []
    assert calls.reported == []


def test_a_technical_failure_is_raised_until_the_last_delivery_then_given_up() -> None:
    down = errors.PlatformUnavailable("down")
    calls = Calls(down)
    with pytest.raises(errors.PlatformUnavailable):
        calls.run(_body(), "2")
    assert calls.given_up == []
    assert calls.run(_body(), "3") is Verdict.GIVE_UP
    assert calls.given_up == [("m-1", down, Delivery(receives=3, last=True))]


def test_a_permanent_failure_is_recorded_on_the_first_delivery() -> None:
    refused = errors.PlatformRefused("no")
    calls = Calls(refused)
    assert calls.run(_body(), "1") is Verdict.RECORD
    assert calls.given_up == [("m-1", refused, Delivery(receives=1, last=False))]


def test_a_body_that_is_not_an_envelope_is_recorded_at_once_and_never_handled() -> None:
    calls = Calls()
    assert calls.run("{not json", "1", queue="membership") is Verdict.RECORD
    assert calls.handled == []
    assert calls.given_up == []
    [record] = calls.reported
    assert record.error_id == "new_account_registration:unreadable:sqs-1"
    assert record.category is ErrorCategory.NEW_ACCOUNT
    assert record.replay == {"queue": "membership", "raw": "{not json"}


def test_a_failing_give_up_leaves_the_message_to_its_queue() -> None:
    """Recording can fail too (the error store is down): the record goes back, nothing lost."""
    calls = Calls(errors.PlatformRefused("no"))

    def give_up(envelope: Envelope, exc: BaseException, delivery: Delivery) -> None:
        raise errors.Retryable("error store down")

    with pytest.raises(errors.Retryable):
        process_message(
            _body(),
            "sqs-1",
            "1",
            queue="order",
            policy=POLICY,
            handle=calls.handle,
            give_up=give_up,
            report=calls.reported.append,
        )
