"""The program as data (R9, R11): its stored versions (admin) and what a storefront renders.

A version is the whole program (``ProgramRules``, the model the ledger prices with) with
who stored it (the admin key id) and when. Version 1 is the template's ``EarnRulesJson``
until an admin stores another; it is written to the store, as version 1, with the first
PUT (``created_at`` is null until then).

``StorefrontProgram`` is ``GET /v1/program``: each way to earn is the rule itself plus a
sentence a storefront shows as it is. Sets (skus, categories, channels, stores) are listed
sorted, so the same version renders the same bytes (and ETag) in every container.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from loyalty_bridge.models.domain import Reward
from loyalty_bridge.program.earn_rules import (
    CategoryRule,
    ProductRule,
    ProgramKind,
    ProgramRules,
    SpendRule,
    Tier,
    VisitRule,
)


class ProgramVersion(BaseModel):
    """One stored version of the program (GET /v1/admin/program, .../versions)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    version: int = Field(ge=1, description="1, 2, 3...: one more with every PUT")
    program: ProgramRules
    created_by: str = Field(description='the admin key id that stored it; "EarnRulesJson" for the seed')
    created_at: datetime | None = Field(
        default=None, description="when it was stored; null for the template's seed not stored yet"
    )


class ProgramVersionPage(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    versions: list[ProgramVersion] = Field(description="newest first")
    next_cursor: str | None = Field(default=None, description="pass as ?cursor= for the next page")


class _Described(BaseModel):
    """A way to earn as the storefront shows it: the rule plus its sentence."""

    model_config = ConfigDict(defer_build=True)

    description: str = Field(description='shown as it is, e.g. "1 point per €1 spent"')

    @field_serializer("channels", "store_ids", check_fields=False)
    def _sorted_scope(self, value: frozenset[str]) -> list[str]:
        return sorted(value)


class SpendWay(SpendRule, _Described):
    pass


class ProductWay(ProductRule, _Described):
    @field_serializer("skus")
    def _sorted_skus(self, value: frozenset[str]) -> list[str]:
        return sorted(value)


class CategoryWay(CategoryRule, _Described):
    @field_serializer("categories")
    def _sorted_categories(self, value: frozenset[str]) -> list[str]:
        return sorted(value)


class VisitWay(VisitRule, _Described):
    pass


WayToEarn = Annotated[SpendWay | ProductWay | CategoryWay | VisitWay, Field(discriminator="kind")]


class ReferralOffer(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    bonus_points: int = Field(description="credited to the referrer after the referred member's first order")


class StorefrontProgram(BaseModel):
    """GET /v1/program: the program in force, for a storefront to render (R11)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    version: int
    kind: ProgramKind
    currency: str = Field(description="ISO 4217")
    point_value: Decimal = Field(description="what one point is worth when redeemed, in the currency")
    max_redeem_share: Decimal = Field(description="largest share of an order payable with points (0-1)")
    ways_to_earn: list[WayToEarn]
    tiers: list[Tier]
    rewards: list[Reward]
    expiry_months: int | None = Field(description="points expire this many months after credit; null: never")
    referral: ReferralOffer | None = Field(description="null: no referral bonus")
