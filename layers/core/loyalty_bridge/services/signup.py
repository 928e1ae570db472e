"""Signup (A1, A2) and join later (A3).

Signup only stores the customer and queues the loyalty work: it never waits for, nor fails
because of, the loyalty platform. The worker (enrolment.py) creates or attaches the account.
It also queues the customer's first full push to the profile sync (P3, P4): Mailchimp gets
the member with the status their email consent says and the loyalty flag (still "no"; the
join announces itself and flips it), the SMS opt-out list follows their SMS consent.
"""

from __future__ import annotations

from typing import Any

from loyalty_bridge import errors
from loyalty_bridge.models.api_membership import CreateCustomer
from loyalty_bridge.models.domain import LoyaltyStatus
from loyalty_bridge.models.messages import Envelope
from loyalty_bridge.models.records import CustomerRecord, ErrorCategory, ErrorRecord
from loyalty_bridge.models.verification import Purpose
from loyalty_bridge.observability import MetricName, logger
from loyalty_bridge.ports import CustomerRepository, IncidentSink, MessageQueue, Metrics, VerificationStore
from loyalty_bridge.privacy import error_id_for, mask_email, pseudonym
from loyalty_bridge.services.membership import (
    KIND_ATTACH,
    KIND_CREATE,
    REASON_NOT_REQUESTED,
    REASON_UNAVAILABLE,
    RecordUpdater,
    create_request,
    envelope,
    pending_create,
    send,
)
from loyalty_bridge.services.sync_queue import MAILCHIMP, SMS, queue_or_record, snapshot_message
from loyalty_bridge.settings import Settings

# The fields a repeated POST /v1/customers must repeat exactly to count as the same signup.
_SIGNUP_FIELDS = ("email", "first_name", "last_name", "mobile", "birthday", "address", "consents")


class SignupService:
    def __init__(
        self,
        customers: CustomerRepository,
        queue: MessageQueue,
        settings: Settings,
        *,
        verifications: VerificationStore | None = None,
        sync_queue: MessageQueue | None = None,
        incidents: IncidentSink | None = None,
        metrics: Metrics,
    ) -> None:
        self._customers = customers
        self._sync_queue = sync_queue
        self._incidents = incidents
        self._updater = RecordUpdater(customers)
        self._queue = queue
        self._settings = settings
        self._verifications = verifications
        self._metrics = metrics

    def signup(self, request: CreateCustomer) -> CustomerRecord:
        """Store the web customer; queue account creation (join) or an attach (card_number).

        A repeat with the same data answers like the first call (and re-sends the queued
        work while it is still pending); the same id with other data is a Conflict.
        """
        join = self._settings.auto_join if request.join is None else request.join
        if request.card_number:
            status, reason = LoyaltyStatus.VERIFYING, None
        elif join:
            status, reason = LoyaltyStatus.PENDING, None
        else:
            status, reason = LoyaltyStatus.NOT_JOINED, REASON_NOT_REQUESTED
        record = CustomerRecord(
            customer_id=request.customer_id,
            email=request.email,
            first_name=request.first_name,
            last_name=request.last_name,
            mobile=request.mobile,
            birthday=request.birthday,
            address=request.address,
            consents=request.consents,
            status=status,
            status_reason=reason,
            referral_code=request.referral_code,
        )
        if status is LoyaltyStatus.PENDING:
            # The create queued below is unsettled until the customer joins (see pending_create).
            record = record.model_copy(
                update={"pending_create": pending_create(record.customer_id, **create_request(record))}
            )
        if not self._customers.create(record):
            return self._repeat(record, request)
        self._metrics.count(MetricName.SIGNUPS)
        logger.info(
            "customer signed up", extra={"customer": pseudonym(record.customer_id), "status": status.value}
        )
        self._announce(record)
        return self._queue_work(record, request.card_number)

    def _announce(self, record: CustomerRecord) -> None:
        """Queue the first full push of the new customer to the profile sync targets. The
        signup stands (A2) whatever the queue says: a push the queue would not take waits in
        the error list for a replay."""
        if self._sync_queue is None:
            return
        queue_or_record(
            self._sync_queue,
            self._incidents,
            snapshot_message(
                record.customer_id,
                reason="signup",
                version=record.version,
                # Not the platform: a new customer is not a member yet, and every join queues
                # its own push. SMS only with a phone (the change bringing one pushes it).
                targets=(MAILCHIMP, SMS) if record.mobile else (MAILCHIMP,),
            ),
            attempted="queue the new customer's details for Mailchimp and the SMS opt-out list",
            action="Nothing to fix by hand: replay this error to send the details now.",
        )

    def _repeat(self, record: CustomerRecord, request: CreateCustomer) -> CustomerRecord:
        existing = self._updater.load(record.customer_id)
        mine = record.model_dump(include=set(_SIGNUP_FIELDS), mode="json")
        theirs = existing.model_dump(include=set(_SIGNUP_FIELDS), mode="json")
        if mine != theirs:
            raise errors.Conflict(
                "A customer with this id already exists with other details.", code="customer_exists"
            )
        # Same signup again (a storefront retry): make sure its loyalty work was queued.
        if existing.status in (LoyaltyStatus.PENDING, LoyaltyStatus.VERIFYING) and existing.member_id is None:
            still_waiting = existing.status is LoyaltyStatus.PENDING or (
                request.card_number is not None and existing.verifying_until is None
            )
            if still_waiting:
                return self._queue_work(existing, request.card_number)
        return existing

    def _queue_work(self, record: CustomerRecord, card_number: str | None) -> CustomerRecord:
        if record.status is LoyaltyStatus.NOT_JOINED:
            return record
        payload: dict[str, Any]
        if card_number:
            kind, payload = KIND_ATTACH, {"card_number": card_number}
        else:
            kind, payload = KIND_CREATE, create_request(record)
        message = envelope(kind, record, payload)
        try:
            send(self._queue, message)
        except errors.BridgeError as exc:
            # A2: the web signup stands; the customer is offered to join later, and the work
            # waits in the error list (admins are told) so a replay sends it: nothing is lost.
            logger.warning("membership work not queued", extra={"code": exc.code})
            saved = self._updater.update(
                record.customer_id,
                lambda current: current.model_copy(
                    update={"status": LoyaltyStatus.NOT_JOINED, "status_reason": REASON_UNAVAILABLE}
                ),
            )
            self._report_unqueued(saved, message, exc)
            return saved
        return record

    def _report_unqueued(self, record: CustomerRecord, message: Envelope, exc: errors.BridgeError) -> None:
        if self._incidents is None:
            return
        what = "attach the card" if message.kind == KIND_ATTACH else "create the loyalty account"
        self._incidents.report(
            ErrorRecord(
                error_id=error_id_for(ErrorCategory.NEW_ACCOUNT, message.message_id, "queue"),
                category=ErrorCategory.NEW_ACCOUNT,
                customer_id=record.customer_id,
                subject_id=mask_email(record.email),
                attempted=f"Queue the request to {what} for {mask_email(record.email)}",
                platform_answer=f"{exc.code}: the membership queue was unavailable",
                action="Nothing to fix by hand: replay this error to send the request now.",
                replay={"queue": "membership", "body": message.model_dump(mode="json")},
            )
        )

    def join(self, customer_id: str) -> CustomerRecord:
        """A3: join now. Joined or pending customers are answered as they are."""
        current = self._updater.load(customer_id)
        if current.status in (LoyaltyStatus.JOINED, LoyaltyStatus.PENDING):
            if current.status is LoyaltyStatus.PENDING:
                self._queue_work(current, None)  # a retry: the work may not have been queued
            return current

        def pending(record: CustomerRecord) -> CustomerRecord | None:
            if record.status in (LoyaltyStatus.JOINED, LoyaltyStatus.PENDING):
                return None
            return record.model_copy(
                update={
                    "status": LoyaltyStatus.PENDING,
                    "status_reason": None,
                    "verifying_until": None,
                    # An earlier unsettled create is repeated as it was (create_request).
                    "pending_create": record.pending_create
                    or pending_create(record.customer_id, **create_request(record)),
                }
            )

        saved = self._updater.update(customer_id, pending)
        if saved.status is not LoyaltyStatus.PENDING:
            return saved
        if self._verifications is not None:
            # Joining replaces an attach that was waiting for its code.
            self._verifications.delete_challenge(customer_id, Purpose.ATTACH)
        logger.info("join requested", extra={"customer": pseudonym(customer_id)})
        return self._queue_work(saved, None)
