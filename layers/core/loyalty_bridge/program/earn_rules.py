"""Program rules of the built-in ledger (R1 earn rules, R2 tiers, redemption limits).

Pure functions over configuration: no I/O. The same ``earn`` call prices a quote and the
credit of the posted order, so "you will earn N" is exactly what is credited. Reversal
arithmetic (C5) lives here too so every implementation takes back the same points.

Configuration is JSON in ``settings.earn_rules_json``; point value and the largest share of
an order payable with points come from settings. Example::

    {"rules": [{"kind": "spend", "points": 1, "per": 1},
               {"kind": "sku", "skus": ["COFFEE-1"], "points_per_item": 5},
               {"kind": "category", "categories": ["Garden"], "points": 2, "per": 1,
                "channels": ["store"], "store_ids": ["S1"]},
               {"kind": "visit", "points": 10}],
     "tiers": [{"name": "Silver", "min_spend": 0},
               {"name": "Gold", "min_spend": 1000, "earn_multiplier": 1.5}],
     "spend_base": "after_discounts", "include_shipping": false,
     "promo_code_blocks_earn": true,
     "expiry_months": 12,
     "required_profile_fields": ["mobile", "birthday"],
     "rewards": [{"reward_id": "free-shipping", "name": "Free shipping", "points": 500,
                  "kind": "fixed_discount", "value": "4.95"},
                 {"reward_id": "mug", "name": "Coffee mug", "points": 1500,
                  "kind": "product", "value": "MUG-1"}],
     "referral_bonus_points": 200}

The program settings beyond earning: ``expiry_months`` (R3, points expire that many months
after they were credited, oldest first; absent = never), ``required_profile_fields`` (A9, a
member missing any of them is accumulate-only; empty = off), ``rewards`` (R4, the catalogue
priced in points) and ``referral_bonus_points`` (R5, credited to the referrer once the
referred member's first order is credited; 0 = off).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from decimal import ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from loyalty_bridge.errors import CurrencyNotSupported
from loyalty_bridge.models.api_types import NonNegativeDecimal, PercentDecimal, PositiveDecimal, ShareDecimal
from loyalty_bridge.models.domain import Basket, Channel, MemberProfile, PlatformOrder, Reward
from loyalty_bridge.settings import Settings

CATEGORY_MATCH_CHARS = 10  # platform order lines carry categories cut to 10 characters (C4)
CENT = Decimal("0.01")


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


def _program_rule(message: str) -> PydanticCustomError:
    # A rule across fields that no JSON Schema states: 422 ``invalid_program``, not
    # ``validation_failed`` (http_errors.RULE_CODES).
    return PydanticCustomError("invalid_program", message)


def _kind_required(schema: dict[str, Any]) -> None:
    # The union is told apart by ``kind``: a rule without one is refused, so the schema
    # lists it as required (its default only names the variant).
    required = schema.setdefault("required", [])
    if "kind" not in required:
        required.insert(0, "kind")


class _Scoped(_Config):
    """Where a rule applies. Empty means everywhere."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=_kind_required)

    channels: frozenset[Channel] = frozenset()
    store_ids: frozenset[str] = frozenset()

    def applies(self, channel: Channel, store_id: str | None) -> bool:
        if self.channels and channel not in self.channels:
            return False
        return not self.store_ids or store_id in self.store_ids


class SpendRule(_Scoped):
    """``points`` per whole ``per`` of currency spent on the order's earn base."""

    kind: Literal["spend"] = "spend"
    points: NonNegativeDecimal = Decimal(1)
    per: PositiveDecimal = Decimal(1)


class ProductRule(_Scoped):
    """Fixed points for each item of the listed skus."""

    kind: Literal["sku"] = "sku"
    skus: frozenset[str] = Field(min_length=1)
    points_per_item: int = Field(ge=0)


class CategoryRule(_Scoped):
    """Points for lines in a category (any level): per item and/or per amount spent."""

    kind: Literal["category"] = "category"
    categories: frozenset[str] = Field(min_length=1)
    points_per_item: int = Field(default=0, ge=0)
    points: NonNegativeDecimal = Decimal(0)
    per: PositiveDecimal = Decimal(1)


class VisitRule(_Scoped):
    """Fixed points for each order (a visit)."""

    kind: Literal["visit"] = "visit"
    points: int = Field(ge=0)


EarnRule = Annotated[SpendRule | ProductRule | CategoryRule | VisitRule, Field(discriminator="kind")]

# Profile fields a program may require before points can be redeemed (A9).
ProfileField = Literal["first_name", "last_name", "mobile", "birthday", "address"]


class Tier(_Config):
    """R2: a tier by lifetime spend, with its own rates (each unset: the program's)."""

    name: str = Field(min_length=1, max_length=50)
    min_spend: NonNegativeDecimal
    earn_multiplier: NonNegativeDecimal = Decimal(1)  # times every rule's points
    # Points worth this % of the earn base (at the tier's point value) in place of the spend
    # rules; the other rules still earn, times earn_multiplier.
    earn_percent: PercentDecimal | None = None
    point_value: PositiveDecimal | None = None  # redeem rate override
    max_redeem_share: ShareDecimal | None = None  # largest share paid in points
    discount_percent: PercentDecimal | None = None  # R9: a discount program's


# R9: "discount": a per-tier percentage off at checkout; no points earned or redeemed, spend
# still counts towards tiers.
ProgramKind = Literal["points", "discount"]


class ProgramRules(_Config):
    kind: ProgramKind = "points"  # R9; fixed once any member exists (program_kind_locked)
    # R10, ISO 4217. EUR: what every sample event and test order uses; nothing refuses
    # another currency yet (currency_not_supported comes with the ledger refactor).
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    # R10: one unit of each listed currency is worth this much of ``currency``; amounts in
    # a listed currency are converted before earning, any other currency is refused.
    exchange_rates: dict[Annotated[str, Field(pattern=r"^[A-Z]{3}$")], PositiveDecimal] = Field(
        default_factory=dict,
        json_schema_extra={"additionalProperties": False},  # keys: only currencies
    )
    rules: tuple[EarnRule, ...] = (SpendRule(),)
    tiers: tuple[Tier, ...] = ()
    spend_base: Literal["after_discounts", "before_discounts"] = "after_discounts"
    include_shipping: bool = False
    promo_code_blocks_earn: bool = True  # C3: no double discount
    point_value: PositiveDecimal = Decimal("0.01")
    max_redeem_share: ShareDecimal = Decimal("0.5")
    discount_percent: PercentDecimal = Decimal(0)  # a discount program's, tiers may override
    expiry_months: int | None = Field(default=None, ge=1, le=120)  # R3; None: points never expire
    required_profile_fields: tuple[ProfileField, ...] = ()  # A9; empty: never accumulate-only
    rewards: tuple[Reward, ...] = ()  # R4
    referral_bonus_points: int = Field(default=0, ge=0)  # R5; 0: no referral bonus

    @model_validator(mode="after")
    def _rewards_unique(self) -> ProgramRules:
        if len({reward.reward_id for reward in self.rewards}) != len(self.rewards):
            raise _program_rule("reward ids must be unique")
        return self

    @model_validator(mode="after")
    def _rates_for_other_currencies(self) -> ProgramRules:
        if self.currency in self.exchange_rates:
            raise _program_rule("exchange_rates lists other currencies than the program's")
        return self

    def exchange_rate(self, currency: str) -> Decimal:
        """R10: what one unit of ``currency`` is worth in the program's currency;
        CurrencyNotSupported when the program neither uses nor lists it."""
        if currency == self.currency:
            return Decimal(1)
        rate = self.exchange_rates.get(currency)
        if rate is None:
            raise CurrencyNotSupported(
                f"The program is in {self.currency} and lists no exchange rate for {currency}."
            )
        return rate

    def to_order_currency(self, amount: Decimal, rate: Decimal) -> Decimal:
        """A discount in the program's currency, answered in the order's (rounded down)."""
        return amount if rate == 1 else (amount / rate).quantize(CENT, rounding=ROUND_DOWN)

    @model_validator(mode="after")
    def _tiers_ordered(self) -> ProgramRules:
        spends = [tier.min_spend for tier in self.tiers]
        if spends != sorted(spends) or len(set(spends)) != len(spends):
            raise _program_rule("tiers must have strictly increasing min_spend")
        if self.tiers and self.tiers[0].min_spend != 0:
            raise _program_rule("the first tier must start at min_spend 0")
        if len({tier.name for tier in self.tiers}) != len(self.tiers):
            raise _program_rule("tier names must be unique")
        return self

    # ---- tiers (R2)

    def tier_for(self, lifetime_spend: Decimal) -> Tier | None:
        current: Tier | None = None
        for tier in self.tiers:
            if lifetime_spend >= tier.min_spend:
                current = tier
        return current

    def next_tier(self, lifetime_spend: Decimal) -> Tier | None:
        return next((tier for tier in self.tiers if tier.min_spend > lifetime_spend), None)

    def point_value_for(self, lifetime_spend: Decimal) -> Decimal:
        tier = self.tier_for(lifetime_spend)
        return tier.point_value if tier and tier.point_value else self.point_value

    def discount_percent_for(self, lifetime_spend: Decimal) -> Decimal | None:
        """R9: the percentage off of a discount program for this member; None: a points program."""
        if self.kind != "discount":
            return None
        tier = self.tier_for(lifetime_spend)
        return tier.discount_percent if tier and tier.discount_percent is not None else self.discount_percent

    def max_redeem_share_for(self, lifetime_spend: Decimal) -> Decimal:
        tier = self.tier_for(lifetime_spend)
        return tier.max_redeem_share if tier and tier.max_redeem_share is not None else self.max_redeem_share

    # ---- accumulate-only (A9) and rewards (R4)

    def missing_profile_fields(self, profile: MemberProfile) -> list[str]:
        """Required profile fields ``profile`` lacks (blank counts as missing)."""
        missing: list[str] = []
        for name in self.required_profile_fields:
            value = getattr(profile, name)
            if value is None or (isinstance(value, str) and not value.strip()):
                missing.append(name)
        return missing

    def accumulate_only(self, profile: MemberProfile) -> bool:
        return bool(self.missing_profile_fields(profile))

    def reward(self, reward_id: str) -> Reward | None:
        return next((reward for reward in self.rewards if reward.reward_id == reward_id), None)

    # ---- redemption (C1/C2)

    def redeemable_points(self, available: int, order_amount: Decimal, lifetime_spend: Decimal) -> int:
        """Points that may pay for ``order_amount``: at most the balance and at most
        ``max_redeem_share`` of the amount."""
        if self.kind == "discount":
            return 0  # R9: a discount program redeems no points
        value = self.point_value_for(lifetime_spend)
        cap = max(order_amount, Decimal(0)) * self.max_redeem_share_for(lifetime_spend)
        by_share = int((cap / value).to_integral_value(rounding=ROUND_FLOOR))
        return max(min(available, by_share), 0)

    def discount_for(self, points: int, lifetime_spend: Decimal) -> Decimal:
        return (self.point_value_for(lifetime_spend) * points).quantize(CENT, rounding=ROUND_DOWN)


class FixedProgram:
    """A ProgramSource (ports.py) that never changes: a ledger built with fixed rules, the
    fake platform and tests. The versioned program in force is ParameterProgramSource."""

    def __init__(self, rules: ProgramRules, version: int = 1) -> None:
        self._current = (version, rules)

    def current(self) -> tuple[int, ProgramRules]:
        return self._current


class EarnLine(_Config):
    sku: str
    quantity: int = Field(gt=0)
    unit_price: Decimal = Field(ge=0)
    categories: tuple[str, ...] = ()


class EarnInput(_Config):
    """What earning depends on, from a basket (quote) or a posted order (credit)."""

    lines: tuple[EarnLine, ...]
    discount: Decimal = Decimal(0)  # every discount on the merchandise, points included
    shipping: Decimal = Decimal(0)
    channel: Channel = Channel.WEBSHOP
    store_id: str | None = None
    promo_code: str | None = None

    @property
    def subtotal(self) -> Decimal:
        return sum((line.unit_price * line.quantity for line in self.lines), Decimal(0))

    def converted(self, rate: Decimal) -> EarnInput:
        """R10: the amounts in the program's currency, ``rate`` per unit of the order's."""
        if rate == 1:
            return self
        lines = tuple(line.model_copy(update={"unit_price": line.unit_price * rate}) for line in self.lines)
        return self.model_copy(
            update={"lines": lines, "discount": self.discount * rate, "shipping": self.shipping * rate}
        )

    @classmethod
    def from_basket(cls, basket: Basket, extra_discount: Decimal = Decimal(0)) -> EarnInput:
        return cls(
            lines=tuple(
                EarnLine(
                    sku=ln.sku,
                    quantity=ln.quantity,
                    unit_price=ln.unit_price,
                    categories=tuple(ln.categories),
                )
                for ln in basket.lines
            ),
            discount=basket.discount + extra_discount,
            shipping=basket.shipping,
            channel=basket.channel,
            store_id=basket.store_id,
            promo_code=basket.promo_code,
        )

    @classmethod
    def from_order(cls, order: PlatformOrder) -> EarnInput:
        lines = tuple(
            EarnLine(
                sku=ln.sku,
                quantity=ln.quantity,
                unit_price=ln.unit_price,
                categories=tuple(c for c in (ln.department, ln.category, ln.subcategory) if c),
            )
            for ln in order.lines
        )
        subtotal = sum((ln.unit_price * ln.quantity for ln in lines), Decimal(0))
        # total = merchandise + shipping - discounts, so the discounts are what is missing.
        discount = max(subtotal + order.shipping - order.total, Decimal(0))
        return cls(
            lines=lines,
            discount=discount,
            shipping=order.shipping,
            channel=order.channel,
            store_id=order.store_id,
            promo_code=order.promo_code,
        )


class LineEarn(_Config):
    sku: str
    quantity: int
    points: int
    amount: Decimal  # share of the earn base (what the customer paid for these items)


class Earn(_Config):
    points: int  # total credited
    lines: tuple[LineEarn, ...]  # per sku (merged), for refunds by line
    order_points: int  # points not tied to a line (visit rules): taken back on cancel only
    base: Decimal  # spend that counts towards tiers
    tier: str | None = None


def _category_key(name: str) -> str:
    return name.strip().casefold()[:CATEGORY_MATCH_CHARS]


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def _allocate(total: int, weights: Sequence[Decimal]) -> list[int]:
    """Split ``total`` integer points along ``weights`` (largest remainder, stable)."""
    weight_sum = sum(weights, Decimal(0))
    if total <= 0 or weight_sum <= 0:
        return [0] * len(weights)
    exact = [total * w / weight_sum for w in weights]
    shares = [_floor(x) for x in exact]
    left = total - sum(shares)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in by_remainder[:left]:
        shares[i] += 1
    return shares


def _spread(raw: list[Decimal], amounts: Sequence[Decimal], points: int) -> None:
    """Add ``points`` to the lines in proportion to what was paid for each."""
    line_total = sum(amounts, Decimal(0))
    if line_total > 0:
        for i, amount in enumerate(amounts):
            raw[i] += points * amount / line_total


def earn(rules: ProgramRules, data: EarnInput, lifetime_spend: Decimal = Decimal(0)) -> Earn:
    """Points an order earns under ``rules`` for a member with ``lifetime_spend``."""
    tier = rules.tier_for(lifetime_spend)
    subtotal = data.subtotal
    discount = min(data.discount, subtotal) if rules.spend_base == "after_discounts" else Decimal(0)
    merchandise = subtotal - discount
    base = merchandise + (data.shipping if rules.include_shipping else Decimal(0))
    ratio = merchandise / subtotal if subtotal > 0 else Decimal(0)

    # Merge lines by sku: refunds name skus, so points are tracked per sku.
    merged: dict[str, tuple[int, Decimal, set[str]]] = {}
    for line in data.lines:
        qty, gross, cats = merged.get(line.sku, (0, Decimal(0), set()))
        merged[line.sku] = (
            qty + line.quantity,
            gross + line.unit_price * line.quantity,
            cats | {_category_key(c) for c in line.categories},
        )
    skus = list(merged)
    amounts = [merged[sku][1] * ratio for sku in skus]

    # R9: a discount program earns no points; the spend (base) still counts towards tiers.
    blocked = (bool(data.promo_code) and rules.promo_code_blocks_earn) or rules.kind == "discount"
    raw = [Decimal(0)] * len(skus)
    order_raw = Decimal(0)
    if not blocked:
        for rule in rules.rules:
            if not rule.applies(data.channel, data.store_id):
                continue
            if isinstance(rule, SpendRule):
                if tier is not None and tier.earn_percent is not None:
                    continue  # the tier's % of spend, below, in place of the spend rules
                spend_points = _floor(base / rule.per) * rule.points
                line_total = sum(amounts, Decimal(0))
                if line_total > 0:
                    for i, amount in enumerate(amounts):
                        raw[i] += spend_points * amount / line_total
                else:
                    order_raw += spend_points
            elif isinstance(rule, ProductRule):
                for i, sku in enumerate(skus):
                    if sku in rule.skus:
                        raw[i] += rule.points_per_item * merged[sku][0]
            elif isinstance(rule, CategoryRule):
                wanted = {_category_key(c) for c in rule.categories}
                for i, sku in enumerate(skus):
                    if merged[sku][2] & wanted:
                        raw[i] += rule.points_per_item * merged[sku][0]
                        raw[i] += _floor(amounts[i] / rule.per) * rule.points
            else:
                order_raw += rule.points

    multiplier = tier.earn_multiplier if tier else Decimal(1)
    raw = [x * multiplier for x in raw]
    order_raw *= multiplier
    if not blocked and tier is not None and tier.earn_percent is not None:
        percent_points = _floor(base * tier.earn_percent / 100 / rules.point_value_for(lifetime_spend))
        _spread(raw, amounts, percent_points)
        if not any(amounts):
            order_raw += percent_points
    total = _floor(sum(raw, Decimal(0)) + order_raw)
    shares = _allocate(total, [*raw, order_raw])
    lines = tuple(
        LineEarn(sku=sku, quantity=merged[sku][0], points=shares[i], amount=amounts[i])
        for i, sku in enumerate(skus)
    )
    return Earn(
        points=total, lines=lines, order_points=shares[-1], base=base, tier=tier.name if tier else None
    )


def reversal_points(line: LineEarn, reversed_before: int, quantity: int) -> tuple[int, int]:
    """Points to take back when ``quantity`` more items of ``line`` are refunded.

    Cumulative, so several partial refunds never take back more than the line earned and
    a full refund takes back exactly that. Returns (points, quantity actually counted)."""
    counted = max(min(quantity, line.quantity - reversed_before), 0)
    after = reversed_before + counted
    points = (line.points * after) // line.quantity - (line.points * reversed_before) // line.quantity
    return points, counted


def refund_amount(line: LineEarn, reversed_before: int, counted: int) -> Decimal:
    """The spend taken off lifetime spend for refunded items (same cumulative split)."""
    after = reversed_before + counted
    return (line.amount * after / line.quantity) - (line.amount * reversed_before / line.quantity)


def merge_refund_lines(lines: Iterable[tuple[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for sku, quantity in lines:
        merged[sku] = merged.get(sku, 0) + max(quantity, 0)
    return merged


def load_rules(settings: Settings) -> ProgramRules:
    """Program rules from settings; a clear ValueError when the configuration is wrong."""
    try:
        raw = json.loads(settings.earn_rules_json) if settings.earn_rules_json.strip() else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"EARN_RULES_JSON is not valid JSON: {exc.msg} at {exc.pos}") from exc
    if isinstance(raw, list):  # a bare list of rules is accepted too
        raw = {"rules": raw}
    if not isinstance(raw, dict):
        raise ValueError("EARN_RULES_JSON must be an object or a list of rules")
    raw.setdefault("point_value", str(settings.point_value))
    raw.setdefault("max_redeem_share", str(settings.max_redeem_share))
    try:
        return ProgramRules.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ValueError(f"EARN_RULES_JSON is invalid: {problems}") from exc
