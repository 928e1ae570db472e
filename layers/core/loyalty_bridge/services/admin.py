"""Admin: list the failures that need a human, read one in full (its whole change, to fix
it by hand), and replay them after a manual fix (P2).

A replay re-sends the failed message (``record.replay["body"]``) to its queue with
``replay_of`` = the error id; the error is ``replaying`` until the worker that processes
it calls ``IncidentReporter.resolve`` (success) or the failure comes back (open again).
Replays are safe: every worker skips what was already applied.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from pydantic import ValidationError

from loyalty_bridge import errors
from loyalty_bridge.models.api_admin import ErrorDetail, ErrorView
from loyalty_bridge.models.messages import Envelope
from loyalty_bridge.models.records import ErrorRecord, ErrorStatus, utcnow
from loyalty_bridge.observability import logger
from loyalty_bridge.ports import ErrorStore, MessageQueue
from loyalty_bridge.privacy import masked_text, masked_value

QUEUE_NAMES = ("membership", "profile_sync", "order")


def error_view(record: ErrorRecord) -> ErrorView:
    raw = record.replay.get("raw")
    return ErrorView(
        error_id=record.error_id,
        category=record.category,
        category_title=record.category.label,
        status=record.status,
        customer_id=record.customer_id,
        subject_id=record.subject_id,
        attempted=record.attempted,
        platform_answer=masked_text(record.platform_answer),
        action=record.action,
        change_before=masked_value("change", record.change_before) if record.change_before else None,
        change_after=masked_value("change", record.change_after) if record.change_after else None,
        attempts=record.attempts,
        created_at=record.created_at,
        updated_at=record.updated_at,
        note=record.note,
        notified=record.notified_at is not None,
        replayable=replayable(record),
        raw_message=masked_text(str(raw), limit=2000) if raw else None,
    )


def error_detail(record: ErrorRecord) -> ErrorDetail:
    """One error for the admin who fixes it by hand: the listing's view with the change (and
    an unreadable message's text) in full, as stored."""
    raw = record.replay.get("raw")
    return ErrorDetail.model_validate(
        error_view(record).model_dump()
        | {
            "change_before": record.change_before,
            "change_after": record.change_after,
            "raw_message": str(raw) if raw else None,
        }
    )


def replayable(record: ErrorRecord) -> bool:
    return record.replay.get("queue") in QUEUE_NAMES and isinstance(record.replay.get("body"), dict)


class AdminErrors:
    def __init__(
        self,
        store: ErrorStore,
        queues: Callable[[str], MessageQueue],
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._queues = queues
        self._clock = clock

    def list(
        self, *, category: str | None, status: str | None, limit: int, cursor: str | None
    ) -> tuple[list[ErrorRecord], str | None]:
        return self._store.list(category=category, status=status, limit=limit, cursor=cursor)

    def get(self, error_id: str) -> ErrorRecord:
        """One error; NotFound (``error_not_found``) when there is none."""
        record = self._store.get(error_id)
        if record is None:
            raise errors.NotFound("No such error.", code="error_not_found")
        return record

    def resolve(self, error_id: str, *, note: str) -> ErrorRecord:
        """Close an error fixed by hand (e.g. an unreadable message that cannot be replayed)."""
        if self._store.get(error_id) is None:
            raise errors.NotFound("No such error.", code="error_not_found")
        record = self._store.set_status(
            error_id, ErrorStatus.RESOLVED.value, note=note or "resolved by an admin"
        )
        logger.info("error resolved by an admin", extra={"error_id": error_id})
        return record

    def replay(self, error_id: str) -> tuple[ErrorRecord, str]:
        """Send the failed message again; answers the record (now replaying) and the queue."""
        record = self._store.get(error_id)
        if record is None:
            raise errors.NotFound("No such error.", code="error_not_found")
        if record.status == ErrorStatus.RESOLVED:
            raise errors.Conflict("This error is resolved already.", code="already_resolved")
        queue_name = str(record.replay.get("queue", ""))
        body = record.replay.get("body")
        if queue_name not in QUEUE_NAMES or not isinstance(body, dict):
            raise errors.Conflict(
                "This error has no message to replay; fix it by hand.", code="not_replayable"
            )
        try:
            envelope = Envelope.model_validate(body)
        except ValidationError:
            raise errors.Conflict(
                "The stored message is not valid any more; fix it by hand.", code="not_replayable"
            ) from None
        now = self._clock()
        replay = envelope.model_copy(update={"replay_of": error_id, "sent_at": now})
        # Replaying first, then send: the worker may resolve it before this call returns.
        updated = self._store.set_status(error_id, ErrorStatus.REPLAYING.value, note="replay requested")
        try:
            self._queues(queue_name).send(
                replay.model_dump_json(),
                group_id=replay.customer_id or replay.message_id,
                dedup_id=hashlib.sha256(f"{error_id}|{now.isoformat()}".encode()).hexdigest(),
            )
        except Exception:
            self._store.set_status(error_id, ErrorStatus.OPEN.value, note="the replay could not be queued")
            raise
        logger.info("error replayed", extra={"error_id": error_id, "queue": queue_name})
        return updated, queue_name
