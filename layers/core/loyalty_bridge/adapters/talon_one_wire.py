"""The parts of Talon.One's answers the adapter reads (tests/fake_talon_one/spec/ holds the
official schemas), as pydantic models: lenient about what we do not read, strict about the
types of what we do. Points are JSON numbers in Talon.One (it allows decimal points); the
bridge's program is in whole points, so a fractional value is refused as malformed.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _whole(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError("points must be a whole number")
    return int(value)


WholePoints = Annotated[int, BeforeValidator(_whole)]


class Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


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


class Inventory(Wire):
    profile: CustomerProfile | None = None
    loyalty: InventoryLoyalty | None = None


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

    def total(self, effect_type: str) -> int:
        return sum(effect.points() for effect in self.effects if effect.effectType == effect_type)


class Transaction(Wire):
    type: str
    amount: WholePoints
    customerSessionId: str | None = None


class Transactions(Wire):
    hasMore: bool
    data: list[Transaction]
