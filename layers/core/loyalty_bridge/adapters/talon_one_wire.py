"""The parts of Talon.One's answers the adapter reads (tests/fake_talon_one/spec/ holds the
official schemas), as pydantic models: lenient about what we do not read, strict about the
types of what we do. Points are JSON numbers in Talon.One (it allows decimal points); the
bridge's program is in whole points, so a fractional value is refused as malformed.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from loyalty_bridge.models.domain import Address, MemberProfile, ProfileChanges


def _whole(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError("points must be a whole number")
    return int(value)


WholePoints = Annotated[int, BeforeValidator(_whole)]


class Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class Tier(Wire):
    name: str


class Ledger(Wire):
    currentBalance: WholePoints
    pendingBalance: WholePoints
    currentTier: Tier | None = None
    nextTierName: str | None = None


class ProfileLink(Wire):
    integrationId: str


class LoyaltyCard(Wire):
    identifier: str = Field(min_length=4, max_length=108)
    status: str
    profiles: list[ProfileLink] = Field(default_factory=list)
    ledger: Ledger | None = None
    batchId: str | None = None


class CustomerProfile(Wire):
    integrationId: str
    attributes: dict[str, Any] = Field(default_factory=dict)


class InventoryLoyalty(Wire):
    cards: list[LoyaltyCard] = Field(default_factory=list)


class Referral(Wire):
    """createReferral's answer; the inventory's ``referrals`` (those the profile advocates)."""

    code: str = Field(min_length=4)
    campaignId: int
    advocateProfileIntegrationId: str


class Inventory(Wire):
    profile: CustomerProfile | None = None
    loyalty: InventoryLoyalty | None = None
    referrals: list[Referral] = Field(default_factory=list)


class LoyaltyInventory(Inventory):
    """The answer to ``?loyalty=true``: without ``loyalty`` it is malformed, not "no cards"."""

    loyalty: InventoryLoyalty


class ProfileInventory(LoyaltyInventory):
    """The answer to ``?profile=true&loyalty=true``."""

    profile: CustomerProfile


class CardPoints(Wire):
    activePoints: WholePoints = 0
    pendingPoints: WholePoints = 0


class CardBalances(Wire):
    balance: CardPoints = CardPoints()
    profiles: list[ProfileLink] = Field(default_factory=list)


class EffectProps(Wire):
    value: Any = None


class Effect(Wire):
    effectType: str
    props: EffectProps

    def points(self) -> int:
        return _whole(self.props.value)


class IntegrationState(Wire):
    """updateCustomerSessionV2, returnCartItems, updateCustomerProfileV2."""

    effects: list[Effect]

    def has(self, *effect_types: str) -> bool:
        return any(effect.effectType in effect_types for effect in self.effects)

    def total(self, effect_type: str) -> int:
        return sum(effect.points() for effect in self.effects if effect.effectType == effect_type)


class Transaction(Wire):
    id: int
    transactionUUID: str
    created: datetime
    type: Literal["addition", "subtraction"]
    amount: WholePoints
    customerSessionId: str | None = None


class Transactions(Wire):
    hasMore: bool
    data: list[Transaction]


# Profile attributes (create them in the Campaign Manager): domain field -> attribute.
ATTRIBUTES = {
    "email": "Email",
    "first_name": "FirstName",
    "last_name": "LastName",
    "mobile": "PhoneNumber",
    "birthday": "BirthDate",
}
ADDRESS_ATTRIBUTES = {
    "line1": "Address1",
    "line2": "Address2",
    "city": "City",
    "region": "Region",
    "postal_code": "PostCode",
    "country": "Country",
}
CONSENT_ATTRIBUTES = {"email": "EmailOptIn", "sms": "SmsOptIn"}


def profile_attributes(profile: MemberProfile | ProfileChanges) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field, name in ATTRIBUTES.items():
        value = getattr(profile, field)
        if value is not None:
            values[name] = value.isoformat() if isinstance(value, date) else value
    if profile.address is not None:
        for field, name in ADDRESS_ATTRIBUTES.items():
            values[name] = getattr(profile.address, field)
    return values


def profile_from_attributes(attributes: dict[str, Any]) -> MemberProfile:
    address = {f: attributes[n] for f, n in ADDRESS_ATTRIBUTES.items() if attributes.get(n)}
    birthday = attributes.get("BirthDate")
    return MemberProfile(
        email=str(attributes.get("Email") or ""),
        first_name=str(attributes.get("FirstName") or ""),
        last_name=str(attributes.get("LastName") or ""),
        mobile=attributes.get("PhoneNumber") or None,
        birthday=date.fromisoformat(birthday) if birthday else None,
        address=Address(**address) if address else None,
    )
