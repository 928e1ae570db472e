"""A10, the card lifecycle for the retailer's admins: block a lost or stolen card, replace
it by a card of the stock. The platform does the points side in one atomic step each
(ports.LoyaltyPlatform ``block_card`` / ``replace_card``; rules: program/card_lifecycle.py);
this service keeps the bridge's own side in step:

- the web customer's record (BridgeTable): after a block its ``card_state`` is blocked,
  so the login summary shows it; after a replace its card is the new one;
- the A5 claims (``relink_member`` with the same member: the card claim moves to the new
  number, the member claim stays), so ``linked_customer(card_number=new)`` finds the
  customer and the old number no longer does;
- the REST balance snapshot (services/balances.py), read again after a replace.

Each step is safe to repeat, so a retried request (same Idempotency-Key or not) finishes
a replace that stopped half way; the platform answers a repeat like the first time.
"""

from __future__ import annotations

from loyalty_bridge.models.api_membership import CardView
from loyalty_bridge.models.card_lifecycle import CardSummary
from loyalty_bridge.models.domain import CardState, Member
from loyalty_bridge.models.records import CustomerRecord
from loyalty_bridge.observability import MetricName, logger
from loyalty_bridge.ports import CustomerRepository, LoyaltyPlatform, Metrics
from loyalty_bridge.privacy import mask_card, pseudonym
from loyalty_bridge.program import card_lifecycle, card_numbers
from loyalty_bridge.services.balances import BalanceRecorder
from loyalty_bridge.services.membership import RecordUpdater
from loyalty_bridge.services.summary import points_view, tier_view
from loyalty_bridge.settings import Settings


class CardLifecycle:
    def __init__(
        self,
        platform: LoyaltyPlatform,
        customers: CustomerRepository,
        settings: Settings,
        *,
        metrics: Metrics,
        balances: BalanceRecorder | None = None,
    ) -> None:
        self._platform = platform
        self._updater = RecordUpdater(customers)
        self._settings = settings
        self._metrics = metrics
        self._balances = balances  # REST: the login summary's balance

    def block(self, card_number: str, reason: str, *, idempotency_key: str) -> CardSummary:
        number = card_numbers.normalize(card_number)
        member = self._platform.block_card(
            number, reason=reason, idempotency_key=f"block:{number}:{idempotency_key}"
        )
        customer_id = self._customer(member)
        if customer_id is not None and member.card.number == number:
            self._updater.update(customer_id, lambda current: _card_state(current, number, CardState.BLOCKED))
        self._metrics.count(MetricName.CARDS_BLOCKED)
        logger.info("card blocked", extra={"card": mask_card(number), "member": pseudonym(member.member_id)})
        return self._summary(member, customer_id)

    def replace(self, card_number: str, new_card_number: str, *, idempotency_key: str) -> CardSummary:
        old = card_numbers.normalize(card_number)
        new = card_lifecycle.new_card_number(new_card_number)  # 422 before anything is asked
        member = self._platform.replace_card(old, new, idempotency_key=f"replace:{old}:{idempotency_key}")
        customer_id = self._customer(member)
        if customer_id is not None:
            self._follow(customer_id, member)
        if self._balances is not None:
            self._balances.moved(member.member_id)
        self._metrics.count(MetricName.CARDS_REPLACED)
        logger.info(
            "card replaced",
            extra={"card": mask_card(old), "new_card": mask_card(new), "member": pseudonym(member.member_id)},
        )
        return self._summary(member, customer_id, replaced=old)

    def _customer(self, member: Member) -> str | None:
        return self._updater.customers.linked_customer(member_id=member.member_id)

    def _follow(self, customer_id: str, member: Member) -> None:
        """The customer's link and record follow the member's card (A5 claims moved first)."""
        record = self._updater.load(customer_id)
        if record.member_id != member.member_id:
            return  # linked to another account since: not ours to move
        if record.card_number and record.card_number != member.card.number:
            self._updater.customers.relink_member(
                customer_id,
                from_member_id=member.member_id,
                from_card=record.card_number,
                to_member_id=member.member_id,
                to_card=member.card.number,
            )

        def follow(current: CustomerRecord) -> CustomerRecord | None:
            if current.member_id != member.member_id:
                return None
            wanted = {
                "card_number": member.card.number,
                "card_kind": member.card.kind.value,
                "card_state": None if member.card.state is CardState.ACTIVE else member.card.state.value,
            }
            if all(getattr(current, name) == value for name, value in wanted.items()):
                return None
            return current.model_copy(update=wanted)

        self._updater.update(customer_id, follow)

    def _summary(
        self, member: Member, customer_id: str | None, *, replaced: str | None = None
    ) -> CardSummary:
        balance = self._platform.get_balance(member.member_id)
        return CardSummary(
            member_id=member.member_id,
            customer_id=customer_id,
            card=CardView(
                number=member.card.number,
                kind=member.card.kind,
                state=None if member.card.state is CardState.ACTIVE else member.card.state,
            ),
            replaced_card=replaced,
            points=points_view(balance, self._settings.point_value),
            tier=tier_view(balance),
        )


def _card_state(current: CustomerRecord, number: str, state: CardState) -> CustomerRecord | None:
    if current.card_number != number or current.card_state == state.value:
        return None
    return current.model_copy(update={"card_state": state.value})
