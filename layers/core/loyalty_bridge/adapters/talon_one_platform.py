"""LoyaltyPlatform over Talon.One's Integration API (a card-based loyalty program).

Mapping (README "Using Talon.One"):
- a member is a customer profile (integration id = member id; name, email, mobile, birthday,
  address and consents as profile attributes) with a loyalty card (identifier = card number);
- balance: the card's ledger (active and pending points, tier) less the bridge's open holds;
- quote: a dry-run customer session; order: the session ``order-{order_id}`` closed with its
  items (the campaign credits points; ``loyalty_bridge_redeem_points`` deducts a captured
  hold); refund: a return of its items (Idempotency-Key ``reversal:{order}:{refund}``);
  cancel: the session cancelled (the campaign rolls back what it added and deducted).
What Talon.One lacks lives in BridgeTable (adapters/talon_one_store.py): holds, the email
and mobile index (and so duplicate_member), and the answers of writes done (C6).
Calls: adapters/talon_one_transport.py; answers: adapters/talon_one_wire.py.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from decimal import ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import Any
from urllib.parse import quote as _quote

from pydantic import ValidationError

from loyalty_bridge import errors
from loyalty_bridge.adapters.talon_one_erasure import TalonOneErasure
from loyalty_bridge.adapters.talon_one_history import TalonOneHistory
from loyalty_bridge.adapters.talon_one_referrals import TalonOneReferrals
from loyalty_bridge.adapters.talon_one_store import TalonOneStore
from loyalty_bridge.adapters.talon_one_transport import TalonOneHttp, TalonOneNotFound, TalonOneRefused
from loyalty_bridge.adapters.talon_one_unsupported import TalonOneUnsupported
from loyalty_bridge.adapters.talon_one_wire import (
    CONSENT_ATTRIBUTES,
    CardBalances,
    IntegrationState,
    Inventory,
    LoyaltyCard,
    LoyaltyInventory,
    ProfileInventory,
    profile_attributes,
    profile_from_attributes,
)
from loyalty_bridge.models.card_stock import CardImportResult
from loyalty_bridge.models.domain import (
    Balance,
    Basket,
    Card,
    CardKind,
    CardState,
    Consents,
    Hold,
    Member,
    MemberProfile,
    OrderResult,
    PlatformOrder,
    ProfileChanges,
    Quote,
    Reversal,
    ReversalResult,
)
from loyalty_bridge.models.loyalty_profile import LoyaltyProfile
from loyalty_bridge.privacy import normalize_email
from loyalty_bridge.program import card_numbers, card_stock
from loyalty_bridge.settings import Settings

REDEEM_ATTRIBUTE = "loyalty_bridge_redeem_points"
DISCOUNT_ATTRIBUTE = "loyalty_bridge_discount"
CENT = Decimal("0.01")


def _seg(value: str) -> str:
    return _quote(value, safe="")


class TalonOnePlatform(TalonOneHistory, TalonOneReferrals, TalonOneErasure, TalonOneUnsupported):
    """``ports.LoyaltyPlatform`` over Talon.One. One instance per warm container."""

    def __init__(
        self,
        api: TalonOneHttp,
        store: TalonOneStore,
        settings: Settings,
        *,
        program_id: int,
        referral_campaign_id: int = 0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._api = api
        self._store = store
        self._settings = settings
        self._program = program_id
        self._referral_campaign = referral_campaign_id  # R5 (talon_one_referrals.py)
        self._clock = clock
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _one_at_a_time(self, member_id: str) -> AbstractContextManager[Any]:
        """Talon.One asks for one customer's requests to be sequential (409 otherwise)."""
        with self._locks_guard:
            return self._locks.setdefault(member_id, threading.Lock())

    # ------------------------------------------------------------ members

    def create_member(
        self,
        profile: MemberProfile,
        consents: Consents,
        *,
        idempotency_key: str,
        referral_code: str | None = None,
    ) -> Member:
        member_id, card = self._store.claim_join(
            idempotency_key, f"t1-{uuid.uuid4().hex}", card_numbers.new_virtual_number()
        )
        if not self._store.claim_email(profile.email, member_id):
            raise errors.DuplicateMember("email already used by another member", field="email")
        with self._one_at_a_time(member_id):
            self._put_profile(
                member_id, {**profile_attributes(profile), **self._consent_attributes(consents)}
            )
            if not self._card_exists(card):
                self._api.call(
                    "generateLoyaltyCard",
                    "POST",
                    f"/v1/loyalty_programs/{self._program}/cards",
                    LoyaltyCard,
                    body={"status": "active", "customerProfileIds": [member_id], "cardIdentifier": card},
                )
            self._give_referral_code(member_id, referral_code)
        if profile.mobile:
            self._store.index_mobile(profile.mobile, member_id)
        self._store.put_member(
            member_id, card=card, kind="virtual", email=profile.email, mobile=profile.mobile
        )
        return self.get_member(member_id)

    def get_member(self, member_id: str) -> Member:
        inventory = self._inventory(member_id, profile=True)
        attributes = inventory.profile.attributes if inventory.profile else {}
        card = self._card_of(member_id, inventory)
        record = self._store.member(member_id) or {}
        tier = card.ledger.currentTier.name if card.ledger and card.ledger.currentTier else None
        try:
            return Member(
                member_id=member_id,
                profile=profile_from_attributes(attributes),
                card=Card(
                    number=card.identifier,
                    kind=CardKind(record.get("kind", "virtual")),
                    state=CardState.ACTIVE if card.status == "active" else CardState.BLOCKED,
                ),
                consents=Consents(
                    email=attributes.get("EmailOptIn") is True, sms=attributes.get("SmsOptIn") is True
                ),
                tier=tier,
                referral_code=self._referral_code(member_id, inventory),
            )
        except ValidationError as exc:
            self._api.malformed("getCustomerInventory", None, exc)

    def find_members(
        self, *, card_number: str | None = None, email: str | None = None, mobile: str | None = None
    ) -> list[Member]:
        if card_number is None and email is None and mobile is None:
            raise errors.InvalidInput("give a card number, an email or a mobile")
        ids: list[str] = []
        if card_number is not None:
            balances = self._card_balances(card_number)
            ids += [p.integrationId for p in balances.profiles] if balances else []
        if email is not None:
            ids += [found] if (found := self._store.member_for_email(email)) else []
        if mobile is not None:
            ids += self._store.members_for_mobile(mobile)
        members = [self.get_member(member_id) for member_id in dict.fromkeys(ids)]
        if email is not None:  # the index follows the email: check it is still the one
            members = [m for m in members if normalize_email(m.profile.email) == normalize_email(email)]
        return members

    def attach_card(self, card_number: str, profile: MemberProfile, *, idempotency_key: str) -> Member:
        refused = errors.CardNotAttachable("This card cannot be attached to this account.")
        balances = self._card_balances(card_number) if len(card_number) >= 4 else None
        if balances is None:
            raise refused
        owners = [p.integrationId for p in balances.profiles]
        if owners:
            member = self.get_member(owners[0])
            same = normalize_email(member.profile.email) == normalize_email(profile.email)
            if not same or member.card.state is not CardState.ACTIVE:
                raise refused
            return member
        # An unregistered physical card: it takes the customer's details.
        member_id, _ = self._store.claim_join(idempotency_key, f"t1-{uuid.uuid4().hex}", card_number)
        if not self._store.claim_email(profile.email, member_id):
            raise refused
        with self._one_at_a_time(member_id):
            self._put_profile(member_id, profile_attributes(profile))
            try:
                self._api.call(
                    "linkLoyaltyCardToProfile",
                    "POST",
                    f"/v2/loyalty_programs/{self._program}/cards/{_seg(card_number)}/link_profile",
                    LoyaltyCard,
                    body={"integrationId": member_id},
                )
            except TalonOneRefused:
                self._store.release_email(profile.email, member_id)
                raise refused from None
        if profile.mobile:
            self._store.index_mobile(profile.mobile, member_id)
        self._store.put_member(
            member_id, card=card_number, kind="physical", email=profile.email, mobile=profile.mobile
        )
        return self.get_member(member_id)

    def update_profile(self, member_id: str, changes: ProfileChanges, *, idempotency_key: str) -> Member:
        before = self.get_member(member_id)
        new_email = changes.email if changes.email is not None else None
        if new_email is not None and normalize_email(new_email) == normalize_email(before.profile.email):
            new_email = None
        if new_email is not None and not self._store.claim_email(new_email, member_id):
            raise errors.DuplicateMember("email already used by another member", field="email")
        attributes = profile_attributes(changes)
        if attributes:
            with self._one_at_a_time(member_id):
                self._put_profile(member_id, attributes)
        if new_email is not None:
            self._store.release_email(before.profile.email, member_id)
        if changes.mobile is not None and changes.mobile != before.profile.mobile:
            if before.profile.mobile:
                self._store.unindex_mobile(before.profile.mobile, member_id)
            self._store.index_mobile(changes.mobile, member_id)
        return self.get_member(member_id)

    def set_consents(self, member_id: str, consents: Consents, *, idempotency_key: str) -> None:
        self._inventory(member_id)  # MemberNotFound for an unknown member (a PUT would create one)
        with self._one_at_a_time(member_id):
            self._put_profile(member_id, self._consent_attributes(consents))

    def get_balance(self, member_id: str) -> Balance:
        inventory = self._inventory(member_id)
        ledger = self._card_of(member_id, inventory).ledger
        return Balance(
            member_id=member_id,
            balance=ledger.currentBalance if ledger else 0,
            pending=ledger.pendingBalance if ledger else 0,
            held=self._store.held(member_id, self._clock()),
            tier=ledger.currentTier.name if ledger and ledger.currentTier else None,
            next_tier=ledger.nextTierName if ledger else None,
            referral_code=self._referral_code(member_id, inventory),
        )

    # ------------------------------------------------------------ checkout

    def quote(self, member_id: str | None, basket: Basket, *, redeem_points: int = 0) -> Quote:
        if redeem_points < 0:
            raise errors.InvalidInput("redeem_points must not be negative")
        balance = self.get_balance(member_id) if member_id is not None else None
        subtotal = sum((line.unit_price * line.quantity for line in basket.lines), Decimal(0))
        redeemable = self._redeemable(balance.available if balance else 0, subtotal - basket.discount)
        if redeem_points > redeemable:
            raise errors.InsufficientPoints(f"at most {redeemable} points can be redeemed on this order")
        discount = self._discount(redeem_points)
        card = self._card_number(member_id) if member_id is not None else None
        session = self._session(
            member_id,
            card,
            [
                (line.sku, line.title, line.quantity, line.unit_price, line.categories)
                for line in basket.lines
            ],
            state="closed",
            promo=basket.promo_code,
            attributes={DISCOUNT_ATTRIBUTE: float(basket.discount + discount)},
        )
        state = self._api.call(
            "updateCustomerSessionV2",
            "PUT",
            f"/v2/customer_sessions/{_seg('quote-' + uuid.uuid4().hex)}?dry=true",
            IntegrationState,
            body=session,
        )
        return Quote(
            points_to_earn=self._effects(state, "addLoyaltyPoints"),
            balance=balance.balance if balance else 0,
            redeemable_points=redeemable,
            point_value=self._settings.point_value,
            max_discount=self._discount(redeemable),
            discount=discount,
        )

    def hold_points(
        self,
        member_id: str,
        redemption_id: str,
        points: int,
        *,
        order_total: Any,
        expires_at: datetime,
        currency: str | None = None,
    ) -> Hold:
        existing = self._store.hold(member_id, redemption_id)
        if existing is None:
            now = self._clock()
            if points <= 0:
                raise errors.InvalidInput("points to hold must be positive")
            if expires_at <= now:
                raise errors.InvalidInput("a hold must expire in the future")
            balance = self.get_balance(member_id)
            if points > balance.available:
                raise errors.InsufficientPoints("not enough points")
            if points > self._redeemable(points, Decimal(str(order_total))):
                raise errors.InsufficientPoints("points exceed the share of the order payable with points")
            existing = self._store.add_hold(
                member_id,
                redemption_id,
                {
                    "redemption_id": redemption_id,
                    "points": points,
                    "discount": str(self._discount(points)),
                    "expires_at": expires_at.astimezone(UTC).isoformat(),
                },
            )
        return Hold(
            redemption_id=redemption_id,
            member_id=member_id,
            points=int(existing["points"]),
            discount=Decimal(str(existing["discount"])),
            expires_at=datetime.fromisoformat(str(existing["expires_at"])),
        )

    def release_hold(self, member_id: str, redemption_id: str) -> None:
        hold = self._store.hold(member_id, redemption_id)
        if hold is not None and hold.get("state") == "open":
            self._store.set_hold_state(member_id, redemption_id, "released")

    def post_order(self, member_id: str, order: PlatformOrder) -> OrderResult:
        key = f"order:{order.order_id}"
        if (done := self._store.done(member_id, key)) is not None:
            return OrderResult.model_validate(done)
        redeem = self._points_to_capture(member_id, order.redemption_id)
        card = self._card_number(member_id)
        subtotal = sum((line.unit_price * line.quantity for line in order.lines), Decimal(0))
        discount = max(subtotal + order.shipping - order.total, Decimal(0))
        session_id = f"order-{order.order_id}"
        refs = {"redemption_id": order.redemption_id, "store_id": order.store_id, "staff_id": order.staff_id}
        self._store.remember(
            member_id, f"lines:{order.order_id}", {"skus": [ln.sku for ln in order.lines], **refs}
        )
        referral = self._friend_referral(member_id)
        body = self._session(
            member_id,
            card,
            [
                (
                    ln.sku,
                    ln.title,
                    ln.quantity,
                    ln.unit_price,
                    [c for c in (ln.department, ln.category, ln.subcategory) if c],
                )
                for ln in order.lines
            ],
            state="closed",
            promo=order.promo_code,
            attributes={DISCOUNT_ATTRIBUTE: float(discount), REDEEM_ATTRIBUTE: redeem},
        )
        if referral is not None:
            body["customerSession"]["referralCode"] = referral
        with self._one_at_a_time(member_id):
            state = self._api.call(
                "updateCustomerSessionV2",
                "PUT",
                f"/v2/customer_sessions/{_seg(session_id)}",
                IntegrationState,
                body=body,
            )
            self._referral_answered(member_id, referral, state)
            # What the session did, read back: right also when a lost answer is retried.
            moves = self._label_session(
                member_id,
                card,
                session_id,
                {"write": key, "event": "order", "order_id": order.order_id, **refs},
            )
        earned = sum(t.amount for t in moves if t.type == "addition")
        redeemed = sum(t.amount for t in moves if t.type == "subtraction")
        if order.redemption_id is not None:
            self._store.set_hold_state(member_id, order.redemption_id, "captured")
        result = OrderResult(
            order_id=order.order_id,
            points_earned=earned,
            points_redeemed=redeemed,
            balance=self.get_balance(member_id).balance,
        )
        return OrderResult.model_validate(
            self._store.remember(member_id, key, result.model_dump(mode="json"))
        )

    def reverse(self, member_id: str, reversal: Reversal) -> ReversalResult:
        if (done := self._store.done(member_id, reversal.key)) is not None:
            return ReversalResult.model_validate(done)
        order = self._store.done(member_id, f"order:{reversal.order_id}")
        if order is None:
            raise errors.PlatformRefused("No such order of this member.", code="order_not_found")
        session_id = f"order-{reversal.order_id}"
        session = f"/v2/customer_sessions/{_seg(session_id)}"
        with self._one_at_a_time(member_id):
            if reversal.cancel:
                body = {"customerSession": {"profileId": member_id, "state": "cancelled"}}
                state = self._api.call("updateCustomerSessionV2", "PUT", session, IntegrationState, body=body)
            else:
                state = self._api.call(
                    "returnCartItems",
                    "POST",
                    session + "/returns",
                    IntegrationState,
                    body={"return": {"returnedCartItems": self._returned(reversal, member_id)}},
                    idempotency_key=reversal.key,
                )
            label = self._reversal_label(member_id, reversal)
            self._label_session(member_id, self._card_number(member_id), session_id, label)
        result = ReversalResult(
            points_reversed=self._effects(state, "rollbackAddedLoyaltyPoints"),
            points_returned=self._effects(state, "rollbackDeductedLoyaltyPoints"),
            balance=self.get_balance(member_id).balance,
        )
        return ReversalResult.model_validate(
            self._store.remember(member_id, reversal.key, result.model_dump(mode="json"))
        )

    # ------------------------------------------------------------ card stock, profile

    def import_cards(self, batch_id: str, numbers: Sequence[str]) -> CardImportResult:
        """Each new number becomes an active card with no profile (A4: the first customer to
        attach it gives it their details); one Talon.One knows already is ``already_known``.
        One call or two per card: for big stocks the Campaign Manager's CSV import is faster."""
        screened = card_stock.screen(numbers)
        imported = known = 0
        for number in screened.valid:
            if self._card_exists(number):
                known += 1
                continue
            try:
                self._api.call(
                    "generateLoyaltyCard",
                    "POST",
                    f"/v1/loyalty_programs/{self._program}/cards",
                    LoyaltyCard,
                    body={"status": "active", "cardIdentifier": number},
                )
            except TalonOneRefused:  # created meanwhile by another import
                known += 1
                continue
            imported += 1
        return card_stock.result(batch_id, imported, known, screened.invalid)

    def member_profile(self, member_id: str) -> LoyaltyProfile:
        return LoyaltyProfile(member_id=member_id, profile=self.get_member(member_id).profile)

    # ------------------------------------------------------------ helpers

    def _put_profile(self, member_id: str, attributes: dict[str, Any]) -> None:
        self._api.call(
            "updateCustomerProfileV2",
            "PUT",
            f"/v2/customer_profiles/{_seg(member_id)}",
            IntegrationState,
            body={"attributes": attributes},
        )

    @staticmethod
    def _consent_attributes(consents: Consents) -> dict[str, Any]:
        return {CONSENT_ATTRIBUTES["email"]: consents.email, CONSENT_ATTRIBUTES["sms"]: consents.sms}

    def _inventory(self, member_id: str, *, profile: bool = False) -> Inventory:
        query = f"?profile={'true' if profile else 'false'}&loyalty=true"
        query += "&referrals=true" if self._referral_campaign else ""
        try:
            return self._api.call(
                "getCustomerInventory",
                "GET",
                f"/v1/customer_profiles/{_seg(member_id)}/inventory{query}",
                ProfileInventory if profile else LoyaltyInventory,
            )
        except TalonOneNotFound:
            raise errors.MemberNotFound("No such loyalty member.") from None

    def _card_of(self, member_id: str, inventory: Inventory) -> LoyaltyCard:
        cards = inventory.loyalty.cards if inventory.loyalty else []
        if not cards:  # a profile with no card of this program is not a member
            raise errors.MemberNotFound("No such loyalty member.")
        record = self._store.member(member_id) or {}
        return next((c for c in cards if c.identifier == record.get("card")), cards[0])

    def _card_number(self, member_id: str) -> str:
        record = self._store.member(member_id)
        if record is not None:
            return str(record["card"])
        return self._card_of(member_id, self._inventory(member_id)).identifier

    def _card_balances(self, card_number: str) -> CardBalances | None:
        try:
            return self._api.call(
                "getLoyaltyCardBalances",
                "GET",
                f"/v1/loyalty_programs/{self._program}/cards/{_seg(card_number)}/balances",
                CardBalances,
            )
        except TalonOneNotFound:
            return None

    def _card_exists(self, card_number: str) -> bool:
        return self._card_balances(card_number) is not None

    def _redeemable(self, available: int, amount: Decimal) -> int:
        cap = max(amount, Decimal(0)) * self._settings.max_redeem_share
        by_share = int((cap / self._settings.point_value).to_integral_value(rounding=ROUND_FLOOR))
        return max(min(available, by_share), 0)

    def _discount(self, points: int) -> Decimal:
        return (self._settings.point_value * points).quantize(CENT, rounding=ROUND_DOWN)

    def _points_to_capture(self, member_id: str, redemption_id: str | None) -> int:
        """C2: a live hold is captured; a lapsed one spends the points if they are still
        there; a released or unknown one is refused."""
        if redemption_id is None:
            return 0
        hold = self._store.hold(member_id, redemption_id)
        if hold is None or hold.get("state") == "released":
            raise errors.PlatformRefused("The order names no open hold.", code="hold_not_found")
        points = int(hold["points"])
        now = self._clock()
        if hold.get("state") == "open" and datetime.fromisoformat(str(hold["expires_at"])) > now:
            return points
        balance = self.get_balance(member_id)
        if balance.balance - self._store.held(member_id, now, besides=redemption_id) < points:
            raise errors.PlatformRefused("The hold expired and the points are gone.", code="hold_expired")
        return points

    def _session(
        self,
        member_id: str | None,
        card: str | None,
        lines: list[tuple[str, str, int, Decimal, list[str]]],
        *,
        state: str,
        promo: str | None,
        attributes: dict[str, Any],
    ) -> dict[str, Any]:
        session: dict[str, Any] = {
            "state": state,
            "cartItems": [
                {
                    "sku": sku,
                    "name": title or sku,
                    "quantity": quantity,
                    "price": float(price),
                    **({"category": categories[0]} if categories else {}),
                }
                for sku, title, quantity, price, categories in lines
            ],
            "attributes": attributes,
        }
        if member_id is not None:
            session["profileId"] = member_id
        if card is not None:
            session["loyaltyCards"] = [card]
        if promo:
            session["couponCodes"] = [promo[:100]]
        return {"customerSession": session}

    def _returned(self, reversal: Reversal, member_id: str) -> list[dict[str, Any]]:
        """Talon.One returns items by their position in the closed session's cart."""
        skus: list[str] = (self._store.done(member_id, f"lines:{reversal.order_id}") or {}).get("skus", [])
        items = []
        for sku, quantity in reversal.lines:
            if sku not in skus:
                raise errors.InvalidInput("the order has no line with this sku", field="lines")
            items.append({"position": skus.index(sku), "sku": sku, "quantity": quantity})
        return items

    def _reversal_label(self, member_id: str, reversal: Reversal) -> dict[str, Any]:
        lines = self._store.done(member_id, f"lines:{reversal.order_id}") or {}
        refund = None if reversal.cancel else reversal.reversal_id
        refs = {"order_id": reversal.order_id, "refund_id": refund, "store_id": lines.get("store_id")}
        return {"write": reversal.key, "event": "reversal", **refs}

    def _effects(self, state: IntegrationState, effect_type: str) -> int:
        try:
            return state.total(effect_type)
        except ValueError as exc:
            raise errors.PlatformUnavailable(
                "Talon.One answered something unexpected.", reason="malformed_body", problem=str(exc)[:100]
            ) from None
