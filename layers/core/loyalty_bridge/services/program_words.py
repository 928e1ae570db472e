"""Ways to earn in words (R11, seed 004): the sentence a storefront shows as it is.

"1 point per £1 spent", "5 points for every COFFEE-1", "2 points per €1 spent on Garden
in store", "10 points for every order". Amounts in the program's currency, with its symbol
when it has a common one (else the ISO code: "CHF 5"). Sets are listed sorted.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from loyalty_bridge.models.domain import Channel
from loyalty_bridge.program.earn_rules import CategoryRule, EarnRule, ProductRule, SpendRule, VisitRule

SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$", "AUD": "A$", "CAD": "C$", "JPY": "¥", "INR": "₹"}
_CHANNEL_WORDS = {Channel.WEBSHOP: "online", Channel.STORE: "in store"}


def number(value: Decimal | int) -> str:
    """1, 2.5, 0.25: no trailing zeros, never an exponent."""
    return format(Decimal(value).normalize(), "f")


def points(value: Decimal | int) -> str:
    return f"{number(value)} {'point' if Decimal(value) == 1 else 'points'}"


def money(amount: Decimal, currency: str) -> str:
    exact = amount.normalize()
    shown = number(exact) if exact == exact.to_integral_value() else f"{amount:.2f}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{shown}" if symbol else f"{currency} {shown}"


def either(names: Iterable[str]) -> str:
    """ "A", "A or B", "A, B or C"."""
    ordered = sorted(names)
    return ordered[0] if len(ordered) == 1 else f"{', '.join(ordered[:-1])} or {ordered[-1]}"


def _where(rule: EarnRule) -> str:
    words = []
    if rule.channels and len(rule.channels) < len(Channel):
        words.append(" or ".join(_CHANNEL_WORDS[channel] for channel in sorted(rule.channels)))
    if rule.store_ids:
        words.append(f"at store{'s' if len(rule.store_ids) > 1 else ''} {either(rule.store_ids)}")
    return "".join(f" {word}" for word in words)


def describe(rule: EarnRule, currency: str) -> str:
    """The sentence for one earn rule."""
    if isinstance(rule, SpendRule):
        text = f"{points(rule.points)} per {money(rule.per, currency)} spent"
    elif isinstance(rule, ProductRule):
        text = f"{points(rule.points_per_item)} for every {either(rule.skus)}"
    elif isinstance(rule, CategoryRule):
        text = _category(rule, currency)
    elif isinstance(rule, VisitRule):
        text = f"{points(rule.points)} for every order"
    return text + _where(rule)


def _category(rule: CategoryRule, currency: str) -> str:
    names = either(rule.categories)
    parts = []
    if rule.points_per_item:
        parts.append(f"{points(rule.points_per_item)} for every item in {names}")
    if rule.points or not parts:
        parts.append(f"{points(rule.points)} per {money(rule.per, currency)} spent on {names}")
    return " and ".join(parts)
