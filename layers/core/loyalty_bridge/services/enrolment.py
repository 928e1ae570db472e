"""The membership worker's use case: create (or attach) the loyalty account queued by signup
or join, link it (A5) and mark the customer joined.

Failure policy (errors.is_retryable): a technical failure raises so SQS delivers the message
again; on the last delivery it counts as an error instead (the customer is marked not joined
with the reason and a New Account Registration Error is recorded), so nobody stays "pending"
for ever. A refusal (DuplicateMember, ...) is recorded once and the message is consumed.
Replays (``Envelope.replay_of``) run the same way and resolve the error when they succeed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from loyalty_bridge import errors
from loyalty_bridge.models.domain import Consents, LoyaltyStatus, MemberProfile
from loyalty_bridge.models.messages import Envelope
from loyalty_bridge.models.records import CustomerRecord, ErrorCategory, ErrorRecord
from loyalty_bridge.observability import MetricName, logger
from loyalty_bridge.ports import IncidentSink, LoyaltyPlatform, Metrics
from loyalty_bridge.privacy import error_id_for, mask_card, platform_answer, pseudonym
from loyalty_bridge.services.attach import AttachService
from loyalty_bridge.services.membership import (
    KIND_ATTACH,
    KIND_CREATE,
    REASON_ALREADY_LINKED,
    REASON_ATTACH_REFUSED,
    REASON_UNAVAILABLE,
    Incidents,
    Linker,
    RecordUpdater,
    not_joined_reason,
    pending_create,
    profile_of,
    requested_create,
    settled_by_refusal,
    unsettled_create,
)

_ACTION_DUPLICATE = (
    "The customer's {field} is already used by another loyalty account. Find that account on the "
    "loyalty platform: if it is this customer's, they can attach its card from the website; if "
    "not, correct the other account. Then replay this error (or the customer joins again)."
)
_ACTION_UNAVAILABLE = (
    "The loyalty platform did not answer after several tries. Check that it is up, then replay this error."
)
_ACTION_LINKED = (
    "The loyalty account for this customer is already linked to another web account. Check which "
    "web account owns it and correct the link, then replay this error."
)


class Outcome(StrEnum):
    JOINED = "joined"
    ALREADY_JOINED = "already_joined"
    SKIPPED = "skipped"
    REFUSED = "refused"
    GAVE_UP = "gave_up"
    CODE_SENT = "code_sent"


class EnrolmentService:
    def __init__(
        self,
        updater: RecordUpdater,
        platform: LoyaltyPlatform,
        incidents: Incidents,
        reporter: IncidentSink,
        linker: Linker,
        attach: AttachService,
        *,
        metrics: Metrics,
    ) -> None:
        self._updater = updater
        self._platform = platform
        self._incidents = incidents
        self._reporter = reporter
        self._linker = linker
        self._attach = attach
        self._metrics = metrics

    def handle(self, message: Envelope, *, last_attempt: bool = False) -> Outcome:
        if not message.customer_id:
            raise errors.Permanent("membership message without customer_id", message_id=message.message_id)
        if message.kind == KIND_CREATE:
            outcome = self._create(message, last_attempt=last_attempt)
        elif message.kind == KIND_ATTACH:
            outcome = self._start_attach(message, last_attempt=last_attempt)
        else:
            raise errors.Permanent(f"unknown membership message kind {message.kind!r}")
        if message.replay_of and outcome in (Outcome.JOINED, Outcome.ALREADY_JOINED, Outcome.CODE_SENT):
            self._reporter.resolve(message.replay_of, note=f"replay: {outcome.value}")
        logger.info(
            "membership message handled",
            extra={
                "kind": message.kind,
                "outcome": outcome.value,
                "customer": pseudonym(message.customer_id),
            },
        )
        return outcome

    def give_up(self, message: Envelope, exc: Exception) -> None:
        """Record a message that cannot be processed (unknown customer or kind, a permanent
        store error, or still failing on its last delivery) instead of losing it."""
        answer = platform_answer(exc) if isinstance(exc, errors.BridgeError) else type(exc).__name__
        incident = ErrorRecord(
            error_id=error_id_for(ErrorCategory.NEW_ACCOUNT, message.message_id),
            category=ErrorCategory.NEW_ACCOUNT,
            customer_id=message.customer_id,
            attempted=f"Process the membership message {message.kind}",
            platform_answer=answer,
            action="Check the customer exists and the loyalty platform is reachable, then replay this error.",
            replay={"queue": "membership", "body": message.model_dump(mode="json")},
        )
        self._reporter.report(incident)

    # ------------------------------------------------------------------ create

    def _create(self, message: Envelope, *, last_attempt: bool) -> Outcome:
        customer_id = message.customer_id or ""
        record = self._updater.load(customer_id)
        if record.status is LoyaltyStatus.JOINED and record.member_id:
            # A duplicate delivery, or a retry after the join was saved but its reply (or
            # the join snapshot) was lost: the snapshot is queued again, so the changes made
            # while the account was being created still reach the platform.
            self._linker.announce(record)
            return Outcome.ALREADY_JOINED
        if record.status is LoyaltyStatus.VERIFYING and not message.replay_of:
            return Outcome.SKIPPED  # the customer chose to attach a card meanwhile
        profile, consents, key = self._create_request(message, record)
        try:
            member = self._platform.create_member(
                profile,
                consents,
                idempotency_key=key,
                referral_code=record.referral_code,  # R5: credits the referrer on the first order
            )
        except errors.Retryable as exc:
            if not last_attempt:
                raise
            # The platform may have made the account (a lost reply): a later join or replay
            # must send this very request again, under this key.
            self._not_joined(
                record, REASON_UNAVAILABLE, pending_create=pending_create(key, profile, consents)
            )
            self._incidents.new_account(
                record, message, f"{platform_answer(exc)} (after every retry)", action=_ACTION_UNAVAILABLE
            )
            return Outcome.GAVE_UP
        except (errors.Refused, errors.InvalidInput) as exc:
            refused = self._not_joined(record, not_joined_reason(exc), **settled_by_refusal(exc))
            self._metrics.count(MetricName.JOIN_REFUSED)
            field = exc.field if isinstance(exc, errors.DuplicateMember) else "email or mobile"
            self._incidents.new_account(
                refused, message, platform_answer(exc), action=_ACTION_DUPLICATE.format(field=field)
            )
            return Outcome.REFUSED
        try:
            self._linker.link(customer_id, member, known=record, created=(profile, consents))
        except errors.Conflict as exc:
            if exc.code == "version_conflict":
                raise
            self._not_joined(record, REASON_ALREADY_LINKED)
            self._metrics.count(MetricName.JOIN_REFUSED)
            self._incidents.new_account(
                record,
                message,
                f"refused by the bridge: member {member.member_id} (card {mask_card(member.card.number)}) "
                "is already linked to another web account (A5)",
                action=_ACTION_LINKED,
            )
            return Outcome.REFUSED
        self._metrics.count(MetricName.JOINS)
        return Outcome.JOINED

    @staticmethod
    def _create_request(message: Envelope, record: CustomerRecord) -> tuple[MemberProfile, Consents, str]:
        """What to send and under which idempotency key. Every delivery of one message sends
        the body frozen in it when it was queued (its reply may have been lost after the
        account was made: the same key with another body would be refused). A replay, made
        after a fix, sends the current record under a key of its own. Either way the changes
        made meanwhile reach the platform with the full push queued when the customer joins.
        An unsettled earlier create (its outcome unknown: the account may exist) comes first:
        it is repeated as it was, whatever message asks."""
        customer_id = record.customer_id
        unsettled = unsettled_create(record)
        if unsettled is not None:
            return unsettled
        if message.replay_of:
            return profile_of(record), record.consents, f"{customer_id}:{message.replay_of}"
        frozen = requested_create(message)
        if frozen is None:  # queued before the body was frozen in the message
            return profile_of(record), record.consents, customer_id
        return frozen[0], frozen[1], customer_id

    def _not_joined(self, record: CustomerRecord, reason: str, **also: Any) -> CustomerRecord:
        def refuse(current: CustomerRecord) -> CustomerRecord | None:
            if current.status is LoyaltyStatus.JOINED:
                return None
            return current.model_copy(
                update={
                    "status": LoyaltyStatus.NOT_JOINED,
                    "status_reason": reason,
                    "verifying_until": None,
                    **also,
                }
            )

        return self._updater.update(record.customer_id, refuse)

    # ------------------------------------------------------------------ attach at signup

    def _start_attach(self, message: Envelope, *, last_attempt: bool) -> Outcome:
        customer_id = message.customer_id or ""
        record = self._updater.load(customer_id)
        if record.status is LoyaltyStatus.JOINED:
            return Outcome.ALREADY_JOINED
        card_number = str(message.payload.get("card_number") or "")
        email = str(message.payload.get("email") or record.email)
        try:
            self._attach.start(customer_id, card_number, email, message=message)
        except errors.Retryable as exc:
            if not last_attempt:
                raise
            self._not_joined(record, REASON_UNAVAILABLE)
            self._incidents.attach(
                record,
                card_number,
                f"{platform_answer(exc)} (after every retry)",
                action=_ACTION_UNAVAILABLE,
                message=message,
            )
            return Outcome.GAVE_UP
        except (errors.Refused, errors.TooManyRequests, errors.Conflict):
            # Refusals were recorded by AttachService (rate limits need no admin).
            self._not_joined(record, REASON_ATTACH_REFUSED)
            return Outcome.REFUSED
        return Outcome.CODE_SENT
