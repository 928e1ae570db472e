"""The profile sync queue (FIFO ProfileSyncQueue): its vocabulary and how messages get on it.

A change to a customer's synced fields travels as one ``Envelope`` per record version,
grouped by customer so the changes of one customer are applied in the order they were made
(``services/profile_sync.py`` applies them). Signup, enrolment (a customer who joined) and
the API half (``services/profile_updates.py``) send through ``queue_or_record``: a queue
failure becomes an Account Update Error whose replay sends the message, so a change saved
on the customer never waits on nothing.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Mapping, Sequence, Set
from typing import Any

from pydantic import ValidationError

from loyalty_bridge import errors
from loyalty_bridge.models.messages import PROFILE_SNAPSHOT, Envelope, ProfileChange, SyncedFields
from loyalty_bridge.models.records import CustomerRecord, ErrorCategory, ErrorRecord
from loyalty_bridge.observability import logger
from loyalty_bridge.ports import IncidentSink, MessageQueue
from loyalty_bridge.privacy import error_id_for, pseudonym

QUEUE_NAME = "profile_sync"

PLATFORM = "platform"
MAILCHIMP = "mailchimp"
SMS = "sms"
TARGETS = (PLATFORM, MAILCHIMP, SMS)

PROFILE_FIELDS = ("email", "first_name", "last_name", "mobile", "birthday", "address")
CONSENT_FIELDS = ("consent_email", "consent_sms")
ALL_FIELDS = PROFILE_FIELDS + CONSENT_FIELDS


def message_id_for(customer_id: str, version: int, prefix: str = "v") -> str:
    """One id per record version (the dedup id on the FIFO queue, and the error id key)."""
    key = customer_id if len(customer_id) <= 80 else hashlib.sha256(customer_id.encode()).hexdigest()[:32]
    return f"{prefix}{version}:{key}"


def snapshot_message(
    customer_id: str, *, reason: str, version: int | None = None, targets: Sequence[str] | None = None
) -> Envelope:
    """A message that makes the worker push the customer's whole current record to every
    target (``targets``: to those only): send it when a customer joins (P4 flag), after
    signup, or to resync."""
    suffix = str(version) if version is not None else uuid.uuid4().hex[:12]
    reason = re.sub(r"[^a-z0-9_-]", "", reason.lower())[:24] or "resync"
    also: dict[str, Any] = {"targets": tuple(targets)} if targets is not None else {}
    return Envelope(
        kind=PROFILE_SNAPSHOT,
        message_id=message_id_for(customer_id, 0, prefix=f"s:{reason}:{suffix}:")[:128],
        customer_id=customer_id,
        version=version,
        payload=ProfileChange(source="membership", reason=reason, **also).model_dump(mode="json"),
    )


def snapshot_targets(
    envelope: Envelope, targets: Sequence[str], configured: Set[str], payload: ProfileChange | None = None
) -> tuple[str, ...]:
    """The targets a worker that has ``configured`` applies ``envelope`` to: a snapshot naming
    its targets (the signup's) goes to those alone. Every other message, a replay and a
    payload that does not read go to all (the worker refuses an invalid payload itself).
    ``payload``: the envelope's, when the caller has read it already."""
    if envelope.kind != PROFILE_SNAPSHOT or envelope.replay_of:
        return tuple(targets)
    try:
        wanted = (payload or ProfileChange.model_validate(envelope.payload)).targets
    except ValidationError:
        return tuple(targets)
    if wanted is None:
        return tuple(targets)
    return tuple(target for target in targets if target in wanted and target in configured)


def send_to_sync_queue(queue: MessageQueue, envelope: Envelope) -> None:
    """FIFO: group = customer (order per customer), dedup = message id."""
    queue.send(
        envelope.model_dump_json(),
        group_id=envelope.customer_id or envelope.message_id,
        dedup_id=hashlib.sha256(envelope.message_id.encode()).hexdigest()
        if not envelope.replay_of
        else hashlib.sha256(f"{envelope.message_id}|{envelope.sent_at.isoformat()}".encode()).hexdigest(),
    )


def queue_or_record(
    queue: MessageQueue,
    incidents: IncidentSink | None,
    envelope: Envelope,
    *,
    attempted: str,
    action: str = "Nothing to fix by hand: replay this error to send the change now.",
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    attempts: int = 3,
    pause: float = 0.1,
) -> bool:
    """Send ``envelope`` to the sync queue; a queue failure that retrying can fix is retried
    here, and if the queue still fails (or refuses, e.g. a missing permission) the message
    is recorded as an Account Update Error whose replay sends it (the admins are mailed), so
    a change saved on the customer never waits on nothing. Repeats are harmless (FIFO dedup
    id, and the worker skips what a target already has). True when queued."""
    failure: errors.BridgeError | None = None
    for attempt in range(max(1, attempts)):
        try:
            send_to_sync_queue(queue, envelope)
            return True
        except errors.BridgeError as exc:
            failure = exc
            if not errors.is_retryable(exc):
                break
            if attempt + 1 < attempts:
                time.sleep(pause * 2**attempt)
    assert failure is not None
    logger.error(
        "sync message not queued",
        extra={
            "customer": pseudonym(envelope.customer_id),
            "message_id": envelope.message_id,
            "code": failure.code,
            "recorded": incidents is not None,
        },
    )
    if incidents is None:
        return False
    record = ErrorRecord(
        error_id=error_id_for(ErrorCategory.ACCOUNT_UPDATE, envelope.message_id, "queue"),
        category=ErrorCategory.ACCOUNT_UPDATE,
        customer_id=envelope.customer_id,
        subject_id=f"change {envelope.message_id}",
        attempted=attempted,
        platform_answer=f"{failure.code}: the sync queue was unavailable",
        action=action,
        change_before=jsonable_fields(before),
        change_after=jsonable_fields(after),
        replay={"queue": QUEUE_NAME, "body": envelope.model_dump(mode="json")},
    )
    try:
        incidents.report(record)
    except errors.BridgeError as exc:  # stored, but the mail failed: the record is listable
        logger.error("sync message failure not fully reported", extra={"code": exc.code})
    return False


def announce_join(queue: MessageQueue, incidents: IncidentSink | None, record: CustomerRecord) -> bool:
    """Queue the full push of a customer who joined (or whose join is seen again). Changes
    made while the loyalty account was being created reached no platform (there was no
    member yet): this snapshot carries them there, so it is never just dropped."""
    return queue_or_record(
        queue,
        incidents,
        snapshot_message(record.customer_id, reason="joined", version=record.version),
        attempted="queue the push of the customer's details and consents after they joined",
        action=(
            "Nothing to fix by hand: replay this error to send the customer's current details, "
            "including changes made while the loyalty account was being created."
        ),
    )


def record_fields(record: CustomerRecord) -> dict[str, Any]:
    """The synced fields of a customer record, by SyncedFields name."""
    return {
        "email": record.email,
        "first_name": record.first_name,
        "last_name": record.last_name,
        "mobile": record.mobile,
        "birthday": record.birthday,
        "address": record.address,
        "consent_email": record.consents.email,
        "consent_sms": record.consents.sms,
    }


def jsonable_fields(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The synced fields of ``values`` as JSON (the before/after of an error record)."""
    if values is None:
        return None
    known = {name: value for name, value in values.items() if name in SyncedFields.model_fields}
    return SyncedFields(**known).model_dump(mode="json", exclude_unset=True)
