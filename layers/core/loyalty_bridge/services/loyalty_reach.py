"""Loyalty data in Mailchimp (P6, seed 004): marketers personalise mail with the member's
points, tier, next reward and referral link, kept in merge fields next to LOYALTY (P4).

- ``merge_values``: what the merge fields hold, from the login summary (A6) so Mailchimp
  says what the customer sees: ``POINTS`` (number), ``TIER``, ``NEXTREWARD`` ("Free
  shipping: 250 points to go"), ``REFLINK`` (empty when a value is unknown).
- ``LoyaltyDataAnnouncer``: every balance change goes through ``BalanceRecorder.moved``
  (services/balances.py); it queues a ``loyalty.data`` message on the FIFO profile sync
  queue in the customer's group, so it is applied in order with their profile changes.
- ``LoyaltyReach.apply`` (the profile sync worker, services/profile_sync.py): reads the
  values when the message is applied (never the values of when it was sent: a burst of
  changes ends with the last one), and writes them only when they differ from what
  Mailchimp was last given (kept as facts of the ``mailchimp`` sync state), and at most once
  a minute per member: a change within a minute of the last loyalty write goes back to the
  queue (``LoyaltyDataWaiting``, retried after the visibility timeout, still in order).
  The message's last delivery writes at once (``wait=False``): a change is never lost to
  the coalescing, nor turned into an admin error (where the visibility timeout is shorter
  than a minute over every delivery, e.g. the local stack's 2 s, that write comes early).
- A join's snapshot carries the values too (the first push of a member).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from loyalty_bridge import errors
from loyalty_bridge.models.domain import AudienceMember, LoyaltyStatus
from loyalty_bridge.models.messages import LOYALTY_DATA, Envelope
from loyalty_bridge.models.records import CustomerRecord, SyncState, utcnow
from loyalty_bridge.observability import logger
from loyalty_bridge.ports import CustomerRepository, IncidentSink, MailingList, MessageQueue, SyncStateStore
from loyalty_bridge.privacy import pseudonym
from loyalty_bridge.services.sync_queue import MAILCHIMP, message_id_for, queue_or_record

if TYPE_CHECKING:  # annotations only: the profile sync worker's cold start imports no API models
    from loyalty_bridge.models.api_membership import LoyaltySummary

COALESCE = timedelta(minutes=1)
WRITTEN_AT = "loyalty_at"  # the sync-state fact: when loyalty data was last written
_FACT = "m_"  # sync-state facts m_POINTS, ...: the values Mailchimp was last given


class LoyaltyDataWaiting(errors.Retryable):
    """Written less than a minute ago: the message comes back later (in order)."""

    code = "loyalty_data_coalesced"


def merge_values(summary: LoyaltySummary) -> dict[str, str | int]:
    reward = summary.next_reward
    return {
        "POINTS": summary.points.balance if summary.points else 0,
        "TIER": summary.tier.name if summary.tier else "",
        "NEXTREWARD": f"{reward.name}: {reward.points_needed} points to go" if reward else "",
        "REFLINK": (summary.referral.link or "") if summary.referral else "",
    }


def as_facts(values: dict[str, str | int], *, written_at: datetime | None = None) -> dict[str, str]:
    facts = {_FACT + tag: str(value) for tag, value in values.items()}
    if written_at is not None:
        facts[WRITTEN_AT] = written_at.isoformat()
    return facts


def loyalty_data_message(customer_id: str) -> Envelope:
    return Envelope(
        kind=LOYALTY_DATA,
        message_id=message_id_for(customer_id, 0, prefix=f"ld:{uuid.uuid4().hex[:12]}:")[:128],
        customer_id=customer_id,
        payload={},
    )


class LoyaltyDataAnnouncer:
    """``BalanceRecorder``'s ``on_moved``: the member's points moved, refresh Mailchimp."""

    def __init__(self, customers: CustomerRepository, queue: MessageQueue, incidents: IncidentSink) -> None:
        self._customers = customers
        self._queue = queue
        self._incidents = incidents

    def __call__(self, member_id: str, customer_id: str | None = None) -> None:
        """``customer_id``: when the caller knows it (an order, a hold), no link read."""
        customer_id = customer_id or self._customers.linked_customer(member_id=member_id)
        if customer_id is None:
            return
        queue_or_record(
            self._queue,
            self._incidents,
            loyalty_data_message(customer_id),
            attempted="queue the refresh of the customer's loyalty data in Mailchimp",
        )


class LoyaltyReach:
    """The values of a joined customer, and the ``loyalty.data`` write to Mailchimp."""

    def __init__(
        self,
        summary: Callable[[CustomerRecord], LoyaltySummary],
        state: SyncStateStore,
        mailing_list: MailingList,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._summary = summary
        self._state = state
        self._mailing_list = mailing_list
        self._clock = clock

    def values(self, record: CustomerRecord) -> dict[str, str | int] | None:
        if record.status is not LoyaltyStatus.JOINED or not record.member_id:
            return None
        return merge_values(self._summary(record))  # the record as read: no second read

    def apply(self, record: CustomerRecord, *, state: SyncState | None = None, wait: bool = True) -> bool:
        """Write the current values when Mailchimp's differ; False when nothing was written.
        ``state``: Mailchimp's sync state as read with ``record`` (else read here).
        ``wait``: a write within a minute of the last one waits (LoyaltyDataWaiting)."""
        if state is None:
            state = self._state.load(record.customer_id, MAILCHIMP)
        values = self.values(record)
        if values is None or not state.versions:
            return False  # not a member yet, or not in Mailchimp yet: the join snapshot carries them
        if all(state.facts.get(_FACT + tag) == str(value) for tag, value in values.items()):
            return False  # coalesced: Mailchimp has these already
        now = self._clock()
        if wait:
            self._wait_if_recent(state, now)
        email = state.facts.get("email") or record.email
        self._mailing_list.upsert_member(
            AudienceMember(email=email, subscribed_if_new=record.consents.email, loyalty_data=values)
        )
        self._state.mark_applied(
            record.customer_id, MAILCHIMP, record.version, [], facts=as_facts(values, written_at=now)
        )
        logger.info("mailchimp loyalty data written", extra={"customer": pseudonym(record.customer_id)})
        return True

    @staticmethod
    def _wait_if_recent(state: SyncState, now: datetime) -> None:
        last = state.facts.get(WRITTEN_AT)
        if last and now - datetime.fromisoformat(last) < COALESCE:
            raise LoyaltyDataWaiting("loyalty data was written less than a minute ago")
