"""Messages no worker could process (a DLQ, or a body that is not even an Envelope) turned
into incidents: a DLQ is never a silent grave.

The category comes from the message kind when it says (``attach`` -> Attach Existing
Account, ``order``/``refund``/``cancel`` -> New Order, ``profile``/``consents`` -> Account
Update, ``membership``/``join``/``signup`` -> New Account) and otherwise from the queue it
died in. A readable Envelope is kept whole for replay; an unreadable body is kept as text
(truncated) and cannot be replayed. A dead letter that was itself the replay of an error
opens that error again (``record_dead_letter``).
"""

from __future__ import annotations

from typing import Protocol

from pydantic import ValidationError

from loyalty_bridge.models.messages import PROFILE_SYNC_KINDS, Envelope, ProfileChange
from loyalty_bridge.models.records import ErrorCategory, ErrorRecord
from loyalty_bridge.privacy import error_id_for

RAW_LIMIT = 2000
QUEUE_NAMES = ("membership", "profile_sync", "order")

_QUEUE_FOR_CATEGORY = {
    ErrorCategory.NEW_ACCOUNT: "membership",
    ErrorCategory.ATTACH_ACCOUNT: "membership",
    ErrorCategory.ACCOUNT_UPDATE: "profile_sync",
    ErrorCategory.NEW_ORDER: "order",
}
_CATEGORY_FOR_QUEUE = {
    "membership": ErrorCategory.NEW_ACCOUNT,
    "profile_sync": ErrorCategory.ACCOUNT_UPDATE,
    "order": ErrorCategory.NEW_ORDER,
}
_QUEUE_WORDS = {"membership": "membership", "profile_sync": "profile sync", "order": "order"}


class DeadLetterSink(Protocol):
    """What the DLQ monitor needs from services.incidents.IncidentReporter."""

    def report(self, record: ErrorRecord) -> bool: ...

    def replay_failed(self, error_id: str | None, *, note: str = ...) -> bool: ...


def queue_of(source_arn: str | None) -> str | None:
    """Which of our queues a (dead-letter) queue ARN or name belongs to."""
    name = (source_arn or "").rsplit(":", 1)[-1].lower().replace("-", "").replace("_", "")
    if "membership" in name:
        return "membership"
    if "profile" in name:
        return "profile_sync"
    if "order" in name:
        return "order"
    return None


def category_for(queue: str | None, kind: str | None) -> ErrorCategory:
    k = (kind or "").lower()
    if "attach" in k:
        return ErrorCategory.ATTACH_ACCOUNT
    if k.startswith(("order", "refund", "cancel", "redemption")):
        return ErrorCategory.NEW_ORDER
    if k in PROFILE_SYNC_KINDS or k.startswith(("profile", "consent")):
        return ErrorCategory.ACCOUNT_UPDATE
    if k.startswith(("membership", "member", "join", "signup", "enrol")):
        return ErrorCategory.NEW_ACCOUNT
    return _CATEGORY_FOR_QUEUE.get(queue or "", ErrorCategory.ACCOUNT_UPDATE)


def unreadable_message_record(body: str, sqs_message_id: str, queue: str | None) -> ErrorRecord:
    category = _CATEGORY_FOR_QUEUE.get(queue or "", ErrorCategory.ACCOUNT_UPDATE)
    where = f"the {_QUEUE_WORDS[queue]} queue" if queue in _QUEUE_WORDS else "a queue"
    return ErrorRecord(
        error_id=error_id_for(category, "unreadable", sqs_message_id),
        category=category,
        subject_id=f"SQS message {sqs_message_id}",
        attempted=f"process a message on {where} that is not a valid bridge message",
        platform_answer="the message body is not a valid Envelope (it never reached the platform)",
        action=(
            "A bug or a foreign producer sent this message, so it cannot be replayed. Its text "
            "(first 2000 characters) is on the error record: redo the change by hand if needed, "
            "and report the producer."
        ),
        replay={"queue": queue or "", "raw": body[:RAW_LIMIT]},
    )


def _received(receives: int) -> str:
    """SQS keeps counting receives in the DLQ: the monitor's own receive is one of them."""
    if receives <= 1:
        return "several receives"
    return f"{receives - 1} receives before the dead-letter queue"


def dead_letter_record(body: str, sqs_message_id: str, source_arn: str | None, receives: int) -> ErrorRecord:
    """The incident for one message found in a dead-letter queue."""
    queue = queue_of(source_arn)
    try:
        envelope = Envelope.model_validate_json(body)
    except ValidationError:
        return unreadable_message_record(body, sqs_message_id, queue)
    category = category_for(queue, envelope.kind)
    target_queue = queue or _QUEUE_FOR_CATEGORY[category]
    before = after = None
    if envelope.kind in PROFILE_SYNC_KINDS:
        try:
            change = ProfileChange.model_validate(envelope.payload)
        except ValidationError:
            change = None
        if change is not None and change.after.model_fields_set:
            before = change.before.model_dump(mode="json", exclude_unset=True)
            after = change.after.model_dump(mode="json", exclude_unset=True)
    original = envelope.model_copy(update={"replay_of": None})
    return ErrorRecord(
        error_id=error_id_for(category, "dlq", envelope.message_id),
        category=category,
        customer_id=envelope.customer_id,
        subject_id=f"message {envelope.message_id} ({envelope.kind})",
        attempted=f"process a {envelope.kind!r} message from the {_QUEUE_WORDS[target_queue]} queue",
        platform_answer=(
            f"the message failed on every delivery ({_received(receives)}) and was moved to the "
            "dead-letter queue (the worker crashed or timed out; its logs have the details)"
        ),
        action=(
            "Look up the message id in the worker's logs, fix the cause (a bug, a platform outage, "
            "bad data), then replay this error. Replays are safe: nothing is applied twice."
        ),
        change_before=before,
        change_after=after,
        replay={"queue": target_queue, "body": original.model_dump(mode="json")},
    )


def replay_of(body: str) -> str | None:
    """The error a (dead) message was the replay of, or None (not a replay, or unreadable)."""
    try:
        return Envelope.model_validate_json(body).replay_of
    except ValidationError:
        return None


def record_dead_letter(
    incidents: DeadLetterSink, body: str, sqs_message_id: str, source_arn: str | None, receives: int
) -> tuple[ErrorRecord, bool]:
    """Record one dead letter (once per message: repeats only count) and, when it was the
    replay of an error, open that error again: the replay died too. Returns the incident and
    whether it is new."""
    incident = dead_letter_record(body, sqs_message_id, source_arn, receives)
    new = incidents.report(incident)
    replayed = replay_of(body)
    if replayed:
        incidents.replay_failed(
            replayed, note=f"the replay ended in a dead-letter queue ({incident.error_id})"
        )
    return incident, new
