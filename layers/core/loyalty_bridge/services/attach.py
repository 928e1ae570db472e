"""Attach an existing card (A4), proven by a one-time code mailed to the card's email.

Rules: the email the customer gives must be their web account's email and the email on the
card's loyalty account (trimmed, case-insensitive); a never-registered physical card takes
the customer's details. A wrong card, a wrong email, a blocked card and a card that belongs
to another web account all get the same reply, so the API never tells whether a card
exists. Attempts are limited per customer and per card; refusals are recorded for the admins.
"""

from __future__ import annotations

from loyalty_bridge import errors
from loyalty_bridge.models.api_membership import normalize_email
from loyalty_bridge.models.domain import CardState, LoyaltyStatus, Member
from loyalty_bridge.models.messages import Envelope
from loyalty_bridge.models.records import CustomerRecord
from loyalty_bridge.models.verification import Challenge, Purpose
from loyalty_bridge.observability import MetricName, logger, pseudonym
from loyalty_bridge.ports import LoyaltyPlatform, Mailer
from loyalty_bridge.services.membership import (
    KIND_ATTACH,
    REASON_ALREADY_LINKED,
    REASON_ATTACH_EXPIRED,
    REASON_ATTACH_REFUSED,
    Incidents,
    Linker,
    MetricsSink,
    RecordUpdater,
    count,
    default_metrics,
    envelope,
    mask_card,
    platform_answer,
    profile_of,
)
from loyalty_bridge.services.verification import CODE_TTL, CodeBook

# The one reply for every reason an attach is refused (A4: reveal nothing about the card).
NOT_ATTACHABLE = (
    "We could not add this card to your account. Check the card number and the email address, "
    "or contact customer service."
)

_ACTION = (
    "If the customer owns card {card}, correct its loyalty account on the platform (email, "
    "blocked state or the link to another web account), then replay this error: a new code is "
    "emailed to the card's address. Otherwise no action is needed."
)


def not_attachable() -> errors.CardNotAttachable:
    return errors.CardNotAttachable(NOT_ATTACHABLE)


def code_email(code: str, card_number: str) -> tuple[str, str]:
    minutes = int(CODE_TTL.total_seconds() // 60)
    subject = "Your code to add your loyalty card"
    text = (
        f"Your verification code is {code}.\n\n"
        f"Enter it on the website to add the loyalty card ending in {card_number[-4:]} to your account. "
        f"The code expires in {minutes} minutes.\n\n"
        "If you did not ask for this code, you can ignore this email."
    )
    return subject, text


class AttachService:
    def __init__(
        self,
        updater: RecordUpdater,
        platform: LoyaltyPlatform,
        codes: CodeBook,
        mailer: Mailer,
        incidents: Incidents,
        linker: Linker,
        *,
        metrics: MetricsSink | None = None,
    ) -> None:
        self._updater = updater
        self._platform = platform
        self._codes = codes
        self._mailer = mailer
        self._incidents = incidents
        self._linker = linker
        self._metrics = metrics or default_metrics()

    # ------------------------------------------------------------------ start

    def start(
        self, customer_id: str, card_number: str, email: str, *, message: Envelope | None = None
    ) -> Challenge:
        """Check the card and mail a code to its email; the customer is then ``verifying``."""
        record = self._updater.load(customer_id)
        if record.status is LoyaltyStatus.JOINED:
            raise errors.Conflict("This customer already has a loyalty account.", code="already_joined")
        self._codes.limit([f"attach:customer:{customer_id}", f"attach:card:{pseudonym(card_number)}"])
        replay = message or envelope(KIND_ATTACH, record, {"card_number": card_number, "email": email})
        member, send_to = self._attachable(record, card_number, email, replay)
        code, challenge = self._codes.issue(
            customer_id,
            Purpose.ATTACH,
            card_number=card_number,
            member_id=member.member_id if member else None,
        )
        subject, text = code_email(code, card_number)
        self._mailer.send(to=[send_to], subject=subject, text=text)
        self._updater.update(
            customer_id,
            lambda current: current.model_copy(
                update={
                    "status": LoyaltyStatus.VERIFYING,
                    "status_reason": None,
                    "verifying_until": challenge.expires_at,
                }
            ),
        )
        count(self._metrics, MetricName.ATTACH_STARTED)
        logger.info(
            "attach code sent", extra={"customer": pseudonym(customer_id), "card": mask_card(card_number)}
        )
        return challenge

    def _attachable(
        self, record: CustomerRecord, card_number: str, email: str, message: Envelope
    ) -> tuple[Member | None, str]:
        """The card's member (None: a never-registered card) and where to mail the code;
        otherwise record the reason for the admins and refuse with the one reply."""
        given = normalize_email(email)
        reason = ""
        member: Member | None = None
        send_to = record.email
        if given != normalize_email(record.email):
            reason = "the email given is not the web account's email"
        else:
            found = [
                m
                for m in self._platform.find_members(card_number=card_number)
                if m.card.number == card_number
            ]
            if not found:
                reason = "no loyalty account has this card number"
            else:
                member = found[0]
                owner = self._updater.customers.linked_customer(member_id=member.member_id)
                if member.card.state is CardState.BLOCKED:
                    reason = "the card is blocked"
                elif owner is not None and owner != record.customer_id:
                    reason = f"the card's account is already linked to another web account ({owner})"
                elif member.card.state is CardState.UNREGISTERED or not member.profile.email:
                    member = None  # a never-registered card takes the customer's details
                elif normalize_email(member.profile.email) != given:
                    reason = "the email on the card's loyalty account is different"
                else:
                    send_to = member.profile.email
        if reason:
            self._refuse(record, card_number, reason, message)
        return member, send_to

    def _refuse(self, record: CustomerRecord, card_number: str, reason: str, message: Envelope) -> None:
        count(self._metrics, MetricName.ATTACH_FAILED)
        logger.info(
            "attach refused",
            extra={"customer": pseudonym(record.customer_id), "card": mask_card(card_number)},
        )
        self._incidents.attach(
            record,
            card_number,
            f"refused: {reason}",
            action=_ACTION.format(card=mask_card(card_number)),
            message=message,
        )
        raise not_attachable()

    # ------------------------------------------------------------------ confirm

    def confirm(self, customer_id: str, code: str) -> CustomerRecord:
        """The right code attaches the card and the customer is joined."""
        record = self._updater.load(customer_id)
        try:
            challenge = self._codes.check(customer_id, Purpose.ATTACH, code)
        except errors.Refused as exc:
            if exc.context.get("tries_left") == 0 and record.status is LoyaltyStatus.VERIFYING:
                count(self._metrics, MetricName.ATTACH_FAILED)
                self._back_to_not_joined(customer_id, REASON_ATTACH_EXPIRED)
            raise
        card_number = challenge.card_number or ""
        message = envelope(KIND_ATTACH, record, {"card_number": card_number, "email": record.email})
        try:
            member = self._platform.attach_card(
                card_number, profile_of(record), idempotency_key=f"attach:{customer_id}:{card_number}"
            )
        except errors.PlatformRefused as exc:
            self._back_to_not_joined(customer_id, REASON_ATTACH_REFUSED)
            count(self._metrics, MetricName.ATTACH_FAILED)
            self._incidents.attach(
                record,
                card_number,
                platform_answer(exc),
                action=_ACTION.format(card=mask_card(card_number)),
                message=message,
            )
            raise not_attachable() from exc
        try:
            saved = self._linker.link(customer_id, member)
        except errors.Conflict as exc:
            self._back_to_not_joined(customer_id, REASON_ALREADY_LINKED)
            count(self._metrics, MetricName.ATTACH_FAILED)
            self._incidents.attach(
                record,
                card_number,
                "refused by the bridge: this loyalty account is already linked to another web account (A5)",
                action=_ACTION.format(card=mask_card(card_number)),
                message=message,
            )
            raise not_attachable() from exc
        count(self._metrics, MetricName.ATTACH_COMPLETED)
        logger.info(
            "card attached", extra={"customer": pseudonym(customer_id), "card": mask_card(card_number)}
        )
        return saved

    def _back_to_not_joined(self, customer_id: str, reason: str) -> None:
        def revert(current: CustomerRecord) -> CustomerRecord | None:
            if current.status is not LoyaltyStatus.VERIFYING:
                return None
            return current.model_copy(
                update={"status": LoyaltyStatus.NOT_JOINED, "status_reason": reason, "verifying_until": None}
            )

        self._updater.update(customer_id, revert)
