"""Attach an existing card (A4), proven by a one-time code mailed to the card's email.

Rules: the email the customer gives must be their web account's email and the email on the
card's loyalty account (trimmed, case-insensitive); a never-registered physical card takes
the customer's details.

Nothing in the replies tells whether a card exists. Starting an attach always mails a code
to the customer's address (which is the card's email whenever the attach can succeed) and
answers the same; a wrong card, a wrong email, a blocked card or a card held by another web
account is refused only after the right code, with one and the same reply; except a
blocked card (A10) whose own email is the customer's: its owner, proven by the code, is told
``card_blocked`` (409), so they ask for a replacement rather than retry. This is also the
only way to serve never-registered physical cards, which the platform cannot tell from
unknown numbers until it attaches them. Attempts are limited per customer and per card;
every refusal is recorded for the admins (Attach Existing Account Registration Errors).
"""

from __future__ import annotations

from typing import NoReturn

from loyalty_bridge import errors
from loyalty_bridge.models.domain import CardState, LoyaltyStatus, Member
from loyalty_bridge.models.messages import Envelope
from loyalty_bridge.models.records import CustomerRecord
from loyalty_bridge.models.verification import Challenge, Purpose
from loyalty_bridge.observability import MetricName, logger
from loyalty_bridge.ports import LoyaltyPlatform, Mailer, Metrics
from loyalty_bridge.privacy import mask_card, normalize_email, platform_answer, pseudonym
from loyalty_bridge.services.membership import (
    KIND_ATTACH,
    REASON_ALREADY_LINKED,
    REASON_ATTACH_EXPIRED,
    REASON_ATTACH_REFUSED,
    Incidents,
    Linker,
    RecordUpdater,
    envelope,
    profile_of,
)
from loyalty_bridge.services.verification import CodeBook

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


# A10: told only after the right code, and only when that code went to the blocked card's own
# email (the web account's email is the card's): the customer proved they own the card, so
# this reveals nothing the attach flow would not (anyone else gets NOT_ATTACHABLE).
CARD_BLOCKED = (
    "This loyalty card is blocked (reported lost or stolen). Contact customer service for a "
    "replacement card: your points are kept."
)


def _owner_may_know(member: Member | None, record: CustomerRecord) -> str | None:
    if member is None or member.card.state is not CardState.BLOCKED or not member.profile.email:
        return None
    if normalize_email(member.profile.email) != normalize_email(record.email):
        return None
    return errors.CardBlocked.code


def not_attachable() -> errors.CardNotAttachable:
    return errors.CardNotAttachable(NOT_ATTACHABLE)


def code_email(code: str, card_number: str, minutes: int) -> tuple[str, str]:
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
        metrics: Metrics,
    ) -> None:
        self._updater = updater
        self._platform = platform
        self._codes = codes
        self._mailer = mailer
        self._incidents = incidents
        self._linker = linker
        self._metrics = metrics

    # ------------------------------------------------------------------ start

    def start(
        self, customer_id: str, card_number: str, email: str, *, message: Envelope | None = None
    ) -> Challenge:
        """Mail a code for attaching ``card_number``; the customer is then ``verifying``."""
        record = self._updater.load(customer_id)
        if record.status is LoyaltyStatus.JOINED:
            raise errors.Conflict("This customer already has a loyalty account.", code="already_joined")
        self._codes.limit([f"attach:customer:{customer_id}", f"attach:card:{pseudonym(card_number)}"])
        replay = message or envelope(KIND_ATTACH, record, {"card_number": card_number, "email": email})
        if normalize_email(email) != normalize_email(record.email):
            # About the customer's own account, not the card: refused at once.
            self._refuse(record, card_number, "the email given is not the web account's email", replay)
        member, send_to, refusal = self._examine(record, card_number)
        if refusal:
            self._record(record, card_number, f"refused: {refusal}", replay)
        code, challenge = self._codes.issue(
            customer_id,
            Purpose.ATTACH,
            card_number=card_number,
            member_id=member.member_id if member else None,
            refusal=refusal,
            refusal_code=_owner_may_know(member, record),
        )
        subject, text = code_email(code, card_number, self._codes.ttl_minutes)
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
        self._metrics.count(MetricName.ATTACH_STARTED)
        logger.info(
            "attach code sent", extra={"customer": pseudonym(customer_id), "card": mask_card(card_number)}
        )
        return challenge

    def _examine(self, record: CustomerRecord, card_number: str) -> tuple[Member | None, str, str | None]:
        """The card's member (None: unknown, or never registered, which only the platform's
        attach can tell apart), where to mail the code, and why the attach will be refused."""
        found = [
            m for m in self._platform.find_members(card_number=card_number) if m.card.number == card_number
        ]
        if not found:
            return None, record.email, None
        member = found[0]
        owner = self._updater.customers.linked_customer(member_id=member.member_id)
        if member.card.state is CardState.BLOCKED:
            return member, record.email, "the card is blocked"
        if owner is not None and owner != record.customer_id:
            return (
                member,
                record.email,
                f"the card's account is already linked to another web account ({owner})",
            )
        if member.card.state is CardState.UNREGISTERED or not member.profile.email:
            return None, record.email, None
        if normalize_email(member.profile.email) != normalize_email(record.email):
            return member, record.email, "the email on the card's loyalty account is different"
        return member, member.profile.email, None

    def _record(self, record: CustomerRecord, card_number: str, answer: str, message: Envelope) -> None:
        self._incidents.attach(
            record, card_number, answer, action=_ACTION.format(card=mask_card(card_number)), message=message
        )

    def _refuse(
        self,
        record: CustomerRecord,
        card_number: str,
        answer: str,
        message: Envelope,
        *,
        code: str | None = None,
    ) -> NoReturn:
        self._metrics.count(MetricName.ATTACH_FAILED)
        logger.info(
            "attach refused",
            extra={"customer": pseudonym(record.customer_id), "card": mask_card(card_number)},
        )
        self._record(record, card_number, answer, message)
        if code == errors.CardBlocked.code:
            raise errors.CardBlocked(CARD_BLOCKED)
        raise not_attachable()

    # ------------------------------------------------------------------ confirm

    def confirm(self, customer_id: str, code: str) -> CustomerRecord:
        """The right code attaches the card and the customer is joined."""
        record = self._updater.load(customer_id)
        try:
            challenge = self._codes.check(customer_id, Purpose.ATTACH, code)
        except errors.Refused as exc:
            if exc.context.get("tries_left") == 0 and record.status is LoyaltyStatus.VERIFYING:
                self._metrics.count(MetricName.ATTACH_FAILED)
                self._back_to_not_joined(customer_id, REASON_ATTACH_EXPIRED)
            raise
        card_number = challenge.card_number or ""
        message = envelope(KIND_ATTACH, record, {"card_number": card_number, "email": record.email})
        if challenge.refusal:
            self._back_to_not_joined(customer_id, REASON_ATTACH_REFUSED)
            self._refuse(
                record, card_number, f"refused: {challenge.refusal}", message, code=challenge.refusal_code
            )
        try:
            member = self._platform.attach_card(
                card_number, profile_of(record), idempotency_key=f"attach:{customer_id}:{card_number}"
            )
        except errors.PlatformRefused as exc:
            self._back_to_not_joined(customer_id, REASON_ATTACH_REFUSED)
            self._refuse(record, card_number, platform_answer(exc), message)
        try:
            saved = self._linker.link(customer_id, member)
        except errors.Conflict as exc:
            if exc.code == "version_conflict":
                raise
            self._back_to_not_joined(customer_id, REASON_ALREADY_LINKED)
            self._refuse(
                record,
                card_number,
                "refused by the bridge: this loyalty account is already linked to another web account (A5)",
                message,
            )
        self._metrics.count(MetricName.ATTACH_COMPLETED)
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
