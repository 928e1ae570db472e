"""The fake Talon.One's state and its one simple campaign (what a retailer sets up, see the
README section "Using Talon.One"):

- points per spend: ``points_per_unit`` points per whole currency unit of the cart items'
  total, less the session attribute ``loyalty_bridge_discount`` (points paid for part of it),
  credited to the session's loyalty card when the session closes; none when the session
  carries a coupon code (C3);
- redemption: the session attribute ``loyalty_bridge_redeem_points`` deducts that many
  points from the card when the session closes, if the card has them (else the rule fails);
- rollback: returned items take back their share of the points the session added; a
  cancelled session takes back what is left and gives back what it deducted (never below
  zero: what is not there is not taken).

And a referral campaign (``REFERRAL_CAMPAIGN_ID``): ``createReferral`` makes a code for an
advocate (usage limit 1 unless given); a closed session carrying ``referralCode`` is accepted
(``acceptReferral``, the code's usage counted) when the code is of the campaign, not the
session's own profile's and not used up, and rejected (``rejectReferral`` with the reason)
otherwise. Its reward is whatever the retailer sets up; this fake credits none.

One program, card-based, every card's points active at once. Not thread-safe on its own
(the server holds one lock around it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any

PROGRAM_ID = 7
CAMPAIGN_ID = 11
REFERRAL_CAMPAIGN_ID = 12
REDEEM_ATTRIBUTE = "loyalty_bridge_redeem_points"
DISCOUNT_ATTRIBUTE = "loyalty_bridge_discount"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Refused(Exception):
    """Talon.One answers 400 with this message."""


@dataclass
class Card:
    id: int
    identifier: str
    created: str
    status: str = "active"
    profiles: list[dict[str, str]] = field(default_factory=list)
    batch_id: str | None = None
    transactions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def active_points(self) -> int:
        return sum(t["amount"] if t["type"] == "addition" else -t["amount"] for t in self.transactions)


@dataclass
class Line:
    position: int
    sku: str
    quantity: int
    price: Decimal
    points: int = 0  # this line's share of the points the session added
    returned: int = 0


@dataclass
class Session:
    integration_id: str
    state: str
    profile_id: str | None
    card: str | None
    lines: list[Line]
    added: int = 0  # points added at close, less what was rolled back
    deducted: int = 0


@dataclass
class TalonState:
    points_per_unit: int = 1
    now: Any = field(default=lambda: datetime.now(UTC))
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    cards: dict[str, Card] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    referrals: dict[str, dict[str, Any]] = field(default_factory=dict)  # code -> referral
    referred: dict[str, list[str]] = field(default_factory=dict)  # code -> friends' profile ids
    _ids: int = 100

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    def card_json(self, card: Card) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": card.id,
            "created": card.created,
            "programID": PROGRAM_ID,
            "status": card.status,
            "identifier": card.identifier,
            "usersPerCardLimit": 1,
            "profiles": card.profiles,
            "ledger": {
                "currentBalance": card.active_points,
                "pendingBalance": 0,
                "expiredBalance": 0,
                "spentBalance": sum(t["amount"] for t in card.transactions if t["type"] == "subtraction"),
                "tentativeCurrentBalance": card.active_points,
            },
        }
        if card.batch_id:
            body["batchId"] = card.batch_id
        return body

    # ---------------------------------------------------------------- cards

    def add_card(self, identifier: str, *, profile: str | None = None, batch_id: str | None = None) -> Card:
        if identifier in self.cards:
            raise Refused("A loyalty card with this identifier already exists.")
        card = Card(self.next_id(), identifier, iso(self.now()), batch_id=batch_id)
        if profile is not None:
            card.profiles.append({"integrationId": profile, "timestamp": iso(self.now())})
        self.cards[identifier] = card
        return card

    def cards_of(self, integration_id: str) -> list[Card]:
        return [
            c for c in self.cards.values() if any(p["integrationId"] == integration_id for p in c.profiles)
        ]

    def _transaction(self, card: Card, kind: str, amount: int, name: str, session: str) -> dict[str, Any]:
        return self.record(card, kind, amount, name, session)

    def record(self, card: Card, kind: str, amount: int, name: str, session: str | None) -> dict[str, Any]:
        """A loyalty transaction on the card (``session`` None: a manual one, as the spec
        leaves ``customerSessionId`` out of those)."""
        row: dict[str, Any] = {
            "id": self.next_id(),
            "transactionUUID": str(uuid.uuid4()),
            "created": iso(self.now()),
            "programId": PROGRAM_ID,
            "cardIdentifier": card.identifier,
            "type": kind,
            "name": name,
            "startDate": "immediate",
            "expiryDate": "unlimited",
            "subledgerId": "",
            "amount": amount,
        }
        if session is not None:
            row["customerSessionId"] = session
        card.transactions.append(row)
        return row

    # ---------------------------------------------------------------- referrals

    def create_referral(self, body: dict[str, Any]) -> dict[str, Any]:
        if body["campaignId"] != REFERRAL_CAMPAIGN_ID:
            raise Refused("No such referral campaign.")
        code = f"R{self.next_id():08d}{uuid.uuid4().hex[:3].upper()}"
        referral = {
            "id": self.next_id(),
            "created": iso(self.now()),
            "campaignId": body["campaignId"],
            "advocateProfileIntegrationId": body["advocateProfileIntegrationId"],
            "code": code,
            "usageCounter": 0,
            "usageLimit": body.get("usageLimit", 1),
        }
        for name in ("startDate", "expiryDate", "friendProfileIntegrationId", "attributes"):
            if name in body:
                referral[name] = body[name]
        self.referrals[code] = referral
        self.referred[code] = []
        return referral

    def referrals_of(self, integration_id: str) -> list[dict[str, Any]]:
        """The inventory's referrals: those the profile advocates, with who used them."""
        return [
            {**r, "referredCustomers": self.referred[r["code"]]}
            for r in self.referrals.values()
            if r["advocateProfileIntegrationId"] == integration_id
        ]

    def _referral(self, session: Session, code: str, *, dry: bool) -> dict[str, Any]:
        referral = self.referrals.get(code)
        reason = None
        if referral is None:
            reason = "ReferralNotFound"
        elif referral["advocateProfileIntegrationId"] == session.profile_id:
            reason = "ReferralRecipientIdSameAsAdvocate"
        elif referral["usageLimit"] and referral["usageCounter"] >= referral["usageLimit"]:
            reason = "ReferralLimitReached"
        props: dict[str, Any] = {"value": code}
        if reason is not None:
            props["rejectionReason"] = reason
        elif not dry:
            referral["usageCounter"] += 1
            self.referred[code].append(session.profile_id or "")
        return {
            "campaignId": REFERRAL_CAMPAIGN_ID,
            "rulesetId": 2,
            "ruleIndex": 0,
            "ruleName": "Referral",
            "effectType": "rejectReferral" if reason else "acceptReferral",
            "props": props,
        }

    # ---------------------------------------------------------------- sessions

    def update_session(self, session_id: str, body: dict[str, Any], *, dry: bool) -> list[dict[str, Any]]:
        wanted = body["customerSession"]
        state = wanted.get("state", "open")
        current = self.sessions.get(session_id)
        if current is not None and current.state != "open":
            if state == current.state:
                return []  # nothing changes: no effects again
            if state != "cancelled":
                raise Refused(f"A {current.state} session cannot become {state}.")
            return [] if dry else self._cancel(current)
        if state not in ("open", "closed"):
            raise Refused(f"An open session cannot become {state}.")
        cards = wanted.get("loyaltyCards") or []
        card = cards[0] if cards else None
        if card is not None and card not in self.cards:
            raise Refused("Unknown loyalty card.")
        lines = [
            Line(index, item["sku"], int(item["quantity"]), Decimal(str(item.get("price", 0))))
            for index, item in enumerate(wanted.get("cartItems", []))
        ]
        session = Session(session_id, state, wanted.get("profileId"), card, lines)
        effects = self._close(session, wanted, dry=dry) if state == "closed" else []
        if state == "closed" and wanted.get("referralCode"):
            effects.append(self._referral(session, wanted["referralCode"], dry=dry))
        if not dry:
            self.sessions[session_id] = session
        return effects

    def _close(self, session: Session, wanted: dict[str, Any], *, dry: bool) -> list[dict[str, Any]]:
        attributes = wanted.get("attributes") or {}
        effects: list[dict[str, Any]] = []
        card = self.cards.get(session.card) if session.card else None
        redeem = int(attributes.get(REDEEM_ATTRIBUTE) or 0)
        if redeem > 0 and card is not None and card.status == "active" and card.active_points >= redeem:
            if not dry:
                self._transaction(card, "subtraction", redeem, "Redeem points", session.integration_id)
            session.deducted = redeem
            effects.append(self._effect("deductLoyaltyPoints", "Redeem points", session, redeem))
        subtotal = sum((line.price * line.quantity for line in session.lines), Decimal(0))
        spend = max(subtotal - Decimal(str(attributes.get(DISCOUNT_ATTRIBUTE) or 0)), Decimal(0))
        points = int((spend * self.points_per_unit).to_integral_value(rounding=ROUND_FLOOR))
        if wanted.get("couponCodes"):
            points = 0
        if points > 0 and (session.card is None or (card is not None and card.status == "active")):
            self._share(session, points, subtotal)
            if card is not None and not dry:
                self._transaction(card, "addition", points, "Points per spend", session.integration_id)
            session.added = points
            effects.append(self._effect("addLoyaltyPoints", "Points per spend", session, points))
        return effects

    @staticmethod
    def _share(session: Session, points: int, subtotal: Decimal) -> None:
        left = points
        for line in session.lines:
            value = line.price * line.quantity
            line.points = (
                int((points * value / subtotal).to_integral_value(rounding=ROUND_FLOOR)) if subtotal else 0
            )
            left -= line.points
        for line in session.lines:  # rounding leftovers to the first lines
            if left <= 0:
                break
            line.points += 1
            left -= 1

    def return_items(
        self, session_id: str, items: list[dict[str, Any]], *, dry: bool
    ) -> list[dict[str, Any]]:
        session = self.sessions.get(session_id)
        if session is None or session.state not in ("closed", "partially_returned"):
            raise Refused("Only closed sessions can have returns.")
        taken = 0
        for item in items:
            line = next((ln for ln in session.lines if ln.position == item.get("position")), None)
            if line is None:
                raise Refused("No cart item at that position.")
            quantity = min(
                int(item.get("quantity") or line.quantity - line.returned), line.quantity - line.returned
            )
            if quantity <= 0:
                continue
            left_units = line.quantity - line.returned
            share = line.points if quantity == left_units else line.points * quantity // left_units
            if not dry:
                line.returned += quantity
                line.points -= share
            taken += share
        if dry:
            return []
        session.state = "partially_returned"
        return self._take_back(session, taken)

    def _cancel(self, session: Session) -> list[dict[str, Any]]:
        taken = sum(line.points for line in session.lines)
        for line in session.lines:
            line.points = 0
        effects = self._take_back(session, taken)
        card = self.cards.get(session.card) if session.card else None
        if session.deducted and card is not None:
            self._transaction(card, "addition", session.deducted, "Rollback redeemed", session.integration_id)
            effects.append(
                self._effect("rollbackDeductedLoyaltyPoints", "Rollback", session, session.deducted)
            )
            session.deducted = 0
        session.state = "cancelled"
        return effects

    def _take_back(self, session: Session, points: int) -> list[dict[str, Any]]:
        card = self.cards.get(session.card) if session.card else None
        if card is None or points <= 0:
            return []
        amount = min(points, card.active_points)
        session.added -= points
        if amount <= 0:
            return []
        self._transaction(card, "subtraction", amount, "Rollback added", session.integration_id)
        return [self._effect("rollbackAddedLoyaltyPoints", "Rollback", session, amount)]

    def _effect(self, kind: str, rule: str, session: Session, value: int) -> dict[str, Any]:
        props: dict[str, Any] = {
            "programId": PROGRAM_ID,
            "subLedgerId": "",
            "value": value,
            "recipientIntegrationId": session.profile_id or "",
            "transactionUUID": str(uuid.uuid4()),
        }
        if session.card:
            props["cardIdentifier"] = session.card
        if kind in ("addLoyaltyPoints", "deductLoyaltyPoints"):
            props["name"] = rule
        if kind == "deductLoyaltyPoints":
            props["ruleTitle"] = rule
        return {
            "campaignId": CAMPAIGN_ID,
            "rulesetId": 1,
            "ruleIndex": 0 if kind.startswith("add") else 1,
            "ruleName": rule,
            "effectType": kind,
            "props": props,
        }
