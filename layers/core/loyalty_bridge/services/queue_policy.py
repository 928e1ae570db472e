"""One failure policy for the three queue workers (membership, profile sync, order).

A message is delivered at most ``settings.queue_max_receives`` times: every work queue's
``maxReceiveCount`` in template.yaml (tests/ops/test_queue_policy.py ties the two). When
handling a message fails, the policy gives one of three verdicts:

- ``RETRY``: a technical failure (errors.is_retryable) before the last delivery. The worker
  raises, and the record goes back to its queue (partial batch failure) to be delivered again.
- ``GIVE_UP``: the same failure on the last delivery. The message is recorded as an incident
  with the last answer and consumed, so it does not die silently in the DLQ.
- ``RECORD``: a failure that retrying cannot fix (a refusal, an unknown kind or customer, a
  body that is not an Envelope). It is recorded at once and consumed.

A service that records its own failures (a refusal, the last attempt of a platform call)
reads ``Delivery.last`` or ``FailurePolicy.decide`` instead of counting receives itself.
Only what crashes past the policy (a timeout, an incident store that is down) reaches a DLQ,
where the DLQ monitor records it (services.dead_letters).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pydantic import ValidationError

from loyalty_bridge import errors
from loyalty_bridge.models.messages import Envelope
from loyalty_bridge.models.records import ErrorRecord
from loyalty_bridge.observability import logger
from loyalty_bridge.services.dead_letters import unreadable_message_record
from loyalty_bridge.settings import Settings

DEFAULT_MAX_RECEIVES: int = Settings.model_fields["queue_max_receives"].default


class Verdict(StrEnum):
    RETRY = "retry"  # raise: the queue delivers the message again
    GIVE_UP = "give_up"  # retryable, but this was the last delivery: record it, consume it
    RECORD = "record"  # retrying cannot help: record it now, consume it


@dataclass(frozen=True)
class Delivery:
    """Which delivery of a message this is (SQS ApproximateReceiveCount, from 1)."""

    receives: int
    last: bool


@dataclass(frozen=True)
class FailurePolicy:
    max_receives: int = DEFAULT_MAX_RECEIVES

    def __post_init__(self) -> None:
        if self.max_receives < 1:
            raise ValueError(f"queue_max_receives must be at least 1, not {self.max_receives}")

    @classmethod
    def of(cls, settings: Settings) -> FailurePolicy:
        return cls(settings.queue_max_receives)

    def delivery(self, approximate_receive_count: str | int | None) -> Delivery:
        """The delivery an SQS record is (a missing or zero count reads as the first)."""
        receives = max(1, int(approximate_receive_count or 1))
        return Delivery(receives=receives, last=receives >= self.max_receives)

    def decide(self, exc: BaseException, receives: int) -> Verdict:
        if not errors.is_retryable(exc):
            return Verdict.RECORD
        if receives >= self.max_receives:
            return Verdict.GIVE_UP
        return Verdict.RETRY


def process_message(
    body: str,
    sqs_message_id: str,
    approximate_receive_count: str | int | None,
    *,
    queue: str,
    policy: FailurePolicy,
    handle: Callable[[Envelope, Delivery], object],
    give_up: Callable[[Envelope, BaseException, Delivery], object],
    report: Callable[[ErrorRecord], object],
) -> Verdict | None:
    """Run one queue record through ``handle`` under the policy: None when it was handled,
    else the verdict carried out (``RETRY`` re-raises the failure, so it never returns).

    ``give_up`` records a message that failed for good (either verdict but RETRY); ``report``
    records an incident (a body that is not an Envelope, recorded at once)."""
    try:
        envelope = Envelope.model_validate_json(body)
    except ValidationError as exc:
        logger.error(
            "unreadable queue message recorded",
            extra={"queue": queue, "message_id": sqs_message_id, "errors": exc.error_count()},
        )
        report(unreadable_message_record(body, sqs_message_id, queue))
        return Verdict.RECORD
    delivery = policy.delivery(approximate_receive_count)
    logger.thread_safe_append_keys(message_id=envelope.message_id, kind=envelope.kind)
    try:
        handle(envelope, delivery)
        return None
    except Exception as exc:
        verdict = policy.decide(exc, delivery.receives)
        context = {"queue": queue, "receives": delivery.receives, "error_type": type(exc).__name__}
        if verdict is Verdict.RETRY:
            logger.warning("queue message will be retried", extra=context)
            raise
        logger.error("queue message recorded as an error", extra={**context, "verdict": verdict.value})
        give_up(envelope, exc, delivery)
        return verdict
    finally:
        logger.thread_safe_remove_keys(["message_id", "kind"])
