"""Join or attach by mobile with a 4-digit SMS code (A7), and pick a primary card when one
mobile holds several loyalty accounts (A8).

Entering the code proves the mobile is the customer's and records their consent to the
program terms and to messages (SMS). That consent is a change like any other: it is saved
with the record's version and goes through the ordered profile sync (profile_sync.py) to
the platform and the SMS opt-out list, in order with the customer's other changes.

A8: when the mobile holds several loyalty accounts the customer may merge (the customer's
own among them, if they are joined already), the customer is offered the choice of a
primary card; ``merge`` blocks the others and moves their points to it in one platform
step, then the customer's link (A5) follows the primary if it is another account than the
one linked. A customer may merge the accounts no web account holds (cards from the shop's
card stock or member import, made in store) and their own; an account another web account
holds is never offered, named or merged (A5), only counted (``others_on_phone``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from loyalty_bridge import errors
from loyalty_bridge.models.api_membership import CardChoice
from loyalty_bridge.models.domain import CardState, Consents, LoyaltyStatus, Member
from loyalty_bridge.models.records import CustomerRecord
from loyalty_bridge.models.verification import Challenge, Purpose
from loyalty_bridge.observability import MetricName, logger
from loyalty_bridge.ports import LoyaltyPlatform, MessageQueue, Metrics, SmsSender
from loyalty_bridge.privacy import mask_card, mask_phone, platform_answer, pseudonym
from loyalty_bridge.services.membership import (
    KIND_CREATE,
    REASON_ALREADY_LINKED,
    Incidents,
    Linker,
    RecordUpdater,
    create_request,
    envelope,
    not_joined_reason,
    pending_create,
    profile_of,
    send,
    settled_by_refusal,
    unsettled_create,
)
from loyalty_bridge.services.verification import CodeBook

# How long a verified mobile may be used to merge its cards (A8).
CHOICE_TTL = timedelta(minutes=30)

JOIN_REFUSED = "We could not create a loyalty account with these details. Please contact customer service."
NOT_LINKABLE = "This loyalty account cannot be added to your web account. Please contact customer service."


class ConsentSync(Protocol):
    """profile_sync.ProfileUpdates as the phone flow uses it."""

    def confirm_phone(self, customer_id: str, mobile: str, *, accepted_at: datetime) -> CustomerRecord: ...


@dataclass(frozen=True)
class PhoneOutcome:
    record: CustomerRecord
    cards: list[CardChoice] | None = None  # several accounts on the mobile: choose a primary
    others_on_phone: int = 0  # with ``cards``: accounts on the mobile other web accounts hold


class PhoneService:
    def __init__(
        self,
        updater: RecordUpdater,
        platform: LoyaltyPlatform,
        codes: CodeBook,
        sms: SmsSender,
        incidents: Incidents,
        linker: Linker,
        queue: MessageQueue,
        *,
        consents: ConsentSync,
        metrics: Metrics,
    ) -> None:
        self._updater = updater
        self._platform = platform
        self._codes = codes
        self._sms = sms
        self._incidents = incidents
        self._linker = linker
        self._queue = queue
        self._consents = consents
        self._metrics = metrics

    def start(self, customer_id: str, mobile: str) -> Challenge:
        self._updater.load(customer_id)
        self._codes.limit([f"phone:customer:{customer_id}", f"phone:mobile:{pseudonym(mobile)}"])
        code, challenge = self._codes.issue(customer_id, Purpose.PHONE, mobile=mobile)
        minutes = self._codes.ttl_minutes
        self._sms.send(
            to=mobile,
            text=f"{code} is your loyalty program code. It expires in {minutes} minutes. "
            "By entering it you accept the program terms and messages.",
        )
        logger.info(
            "phone code sent", extra={"customer": pseudonym(customer_id), "mobile": mask_phone(mobile)}
        )
        return challenge

    def confirm(self, customer_id: str, code: str) -> PhoneOutcome:
        challenge = self._codes.check(customer_id, Purpose.PHONE, code)
        mobile = challenge.mobile or ""
        now = self._codes.clock()
        record = self._consents.confirm_phone(customer_id, mobile, accepted_at=now)
        mine, held = self._sort_out(customer_id, self._platform.find_members(mobile=mobile))
        if record.status is LoyaltyStatus.JOINED and record.member_id:
            # Joined: offer a merge only when their own account is one of several they may merge.
            own = any(m.member_id == record.member_id for m in mine)
            if own and len(mine) > 1:
                return PhoneOutcome(record, self._offer_choice(customer_id, mobile, mine), len(held))
            return PhoneOutcome(record)
        if not mine:
            if held:
                # Only other web accounts' cards on this mobile: A5 refuses the link (recorded
                # for the admins, already_linked to the customer).
                return PhoneOutcome(self._attach(record, held[0]))
            return PhoneOutcome(self._join(record))
        if len(mine) == 1:
            return PhoneOutcome(self._attach(record, mine[0]))
        return PhoneOutcome(record, self._offer_choice(customer_id, mobile, mine), len(held))

    def _sort_out(self, customer_id: str, found: list[Member]) -> tuple[list[Member], list[Member]]:
        """The active accounts on a mobile: those this customer may merge (no web account
        holds them, or this customer does), and those another web account holds (A5)."""
        mine: list[Member] = []
        held: list[Member] = []
        for member in found:
            if member.card.state is CardState.BLOCKED:
                continue
            owner = self._updater.customers.linked_customer(member_id=member.member_id)
            (mine if owner is None or owner == customer_id else held).append(member)
        return mine, held

    def _offer_choice(self, customer_id: str, mobile: str, found: list[Member]) -> list[CardChoice]:
        """Several accounts the customer may merge on the verified mobile: remember them for
        ``merge`` (only these qualify there) and list them."""
        self._codes.store.put_challenge(
            Challenge(
                customer_id=customer_id,
                purpose=Purpose.PHONE_VERIFIED,
                expires_at=self._codes.clock() + CHOICE_TTL,
                mobile=mobile,
                member_ids=[m.member_id for m in found],
            )
        )
        return [
            CardChoice(
                number=m.card.number, kind=m.card.kind, points=self._platform.get_balance(m.member_id).balance
            )
            for m in found
        ]

    def _join(self, record: CustomerRecord) -> CustomerRecord:
        """No account on this mobile: create one now (queued when the platform is down)."""
        # An earlier create whose outcome is unknown is repeated as it was (same key, same
        # body); the SMS consent follows with the consent change and the join's full push.
        profile, consents, key = unsettled_create(record) or (
            profile_of(record),
            Consents(email=record.consents.email, sms=True),
            record.customer_id,
        )
        try:
            member = self._platform.create_member(
                profile, consents, idempotency_key=key, referral_code=record.referral_code
            )
        except errors.Retryable:
            unsettled = pending_create(key, profile, consents)
            pending = self._updater.update(
                record.customer_id,
                lambda current: current.model_copy(
                    update={
                        "status": LoyaltyStatus.PENDING,
                        "status_reason": None,
                        "pending_create": unsettled,
                    }
                ),
            )
            # The retry must send the very body this call sent (same idempotency key).
            request = {"join": True, **create_request(pending)}
            send(self._queue, envelope(KIND_CREATE, pending, request))
            return pending
        except errors.PlatformRefused as exc:
            reason = not_joined_reason(exc)
            settled = settled_by_refusal(exc)
            refused = self._updater.update(
                record.customer_id,
                lambda current: current.model_copy(
                    update={"status": LoyaltyStatus.NOT_JOINED, "status_reason": reason, **settled}
                ),
            )
            self._metrics.count(MetricName.JOIN_REFUSED)
            self._incidents.new_account(
                refused, envelope(KIND_CREATE, refused, {"join": True}), platform_answer(exc)
            )
            raise errors.Refused(JOIN_REFUSED, code="join_refused") from exc
        saved = self._link(record, member)
        self._metrics.count(MetricName.JOINS)
        return saved

    def _attach(self, record: CustomerRecord, member: Member) -> CustomerRecord:
        # The account's consents follow through the profile sync (the consent change queued
        # by confirm, then the full push announced by the join).
        saved = self._link(record, member)
        self._metrics.count(MetricName.ATTACH_COMPLETED)
        return saved

    def _link(self, record: CustomerRecord, member: Member) -> CustomerRecord:
        try:
            return self._linker.link(record.customer_id, member)
        except errors.Conflict as exc:
            self._metrics.count(MetricName.ATTACH_FAILED)
            self._incidents.attach(
                record,
                member.card.number,
                "refused by the bridge: this loyalty account is already linked to another web account (A5)",
                action=(
                    f"Check which web account owns card {mask_card(member.card.number)}; correct the link, "
                    "then ask the customer to verify their mobile again."
                ),
                via="SMS code",
            )
            self._updater.update(
                record.customer_id,
                lambda current: (
                    None
                    if current.status is LoyaltyStatus.JOINED
                    else current.model_copy(
                        update={"status": LoyaltyStatus.NOT_JOINED, "status_reason": REASON_ALREADY_LINKED}
                    )
                ),
            )
            raise errors.Refused(NOT_LINKABLE, code="already_linked") from exc

    # ------------------------------------------------------------------ A8

    def merge(self, customer_id: str, primary_card: str, cards: list[str]) -> CustomerRecord:
        """Keep ``primary_card``; block ``cards`` and move their points to it, in one step
        on the platform. Only the cards offered when the mobile was verified qualify (never
        another web account's: naming one is refused like a card not on the phone). A joined
        customer's own card must be the primary or one of the merged cards; when it is
        merged into another, the customer's link moves to the primary right after."""
        record = self._updater.load(customer_id)
        verified = self._codes.store.get_challenge(customer_id, Purpose.PHONE_VERIFIED)
        if verified is None or verified.expires_at <= self._codes.clock() or not verified.mobile:
            raise errors.Refused("Verify your mobile number first.", code="phone_not_verified")
        others = [c for c in dict.fromkeys(cards) if c != primary_card]
        on_phone = {
            m.card.number: m
            for m in self._platform.find_members(mobile=verified.mobile)
            if m.member_id in verified.member_ids
        }
        if primary_card not in on_phone or any(c not in on_phone for c in others):
            raise errors.Refused(
                "Choose cards found on your verified mobile number.", code="cards_not_on_phone"
            )
        linked = record.member_id if record.status is LoyaltyStatus.JOINED else None
        chosen = {on_phone[number].member_id for number in [primary_card, *others]}
        if linked and linked not in chosen:
            raise errors.Refused(
                "Your current loyalty card must be the primary card or one of the cards merged.",
                code="current_card_not_chosen",
            )
        for number in [primary_card, *others]:
            # Another web account may have taken an offered card since the mobile was verified.
            owner = self._updater.customers.linked_customer(member_id=on_phone[number].member_id)
            if owner is not None and owner != customer_id:
                self._link(record, on_phone[number])  # records the A5 refusal and raises
        member = on_phone[primary_card]
        if others:
            # The same request (a retry) gets the same key: the platform answers the first merge.
            member = self._platform.merge_cards(
                primary_card,
                others,
                idempotency_key=f"merge:{customer_id}:{primary_card}:{','.join(sorted(others))}",
            )
        # The hook for REST balance snapshots: Linker.link / relink record the primary's balance
        # after the merge, so a REST platform's login summary shows the merged balance.
        if linked and linked != member.member_id:
            saved = self._relink(record, member)
        else:
            saved = self._link(record, member)
        self._codes.store.delete_challenge(customer_id, Purpose.PHONE_VERIFIED)
        logger.info(
            "cards merged",
            extra={
                "customer": pseudonym(customer_id),
                "merged": len(others),
                "primary_changed": bool(linked and linked != member.member_id),
            },
        )
        return saved

    def _relink(self, record: CustomerRecord, member: Member) -> CustomerRecord:
        try:
            return self._linker.relink(record, member)
        except errors.Conflict as exc:
            if exc.code == "version_conflict":
                raise
            self._metrics.count(MetricName.ATTACH_FAILED)
            self._incidents.attach(
                record,
                member.card.number,
                "refused by the bridge: the primary card's account was linked to another web account "
                "after the cards were merged (A5)",
                action=(
                    f"The cards are merged into {mask_card(member.card.number)} on the platform, but the "
                    f"customer is still linked to {mask_card(record.card_number)}. Check which web account "
                    "owns the primary card, correct the link, then ask the customer to merge again."
                ),
                via="SMS code (merge)",
            )
            raise errors.Refused(NOT_LINKABLE, code="already_linked") from exc
