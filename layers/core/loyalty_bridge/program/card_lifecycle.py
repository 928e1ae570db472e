"""A10, the card lifecycle's rules, once: which card may be blocked, which replacement is
allowed, and the ledger entry a replacement writes. Pure code; the built-in ledger
(adapters/ledger/lifecycle.py) and the test platform (tests/fake_cards.py) read the cards,
call these and write what they answer.

A replacement keeps the member and swaps its card: balance, point lots with their expiry
dates, lifetime spend (tier) and every ledger entry stay where they are, so they follow
the new card by construction, in the same single write that blocks the old card and
registers the new one. The new number must be an unregistered card of the stock (imported
with the card stock, seed 000): a number the shop never issued is refused, which also
catches the typing errors the check digit misses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from loyalty_bridge.errors import (
    CardNotFound,
    CardNotInStock,
    CardNotReplaceable,
    InvalidInput,
)
from loyalty_bridge.models.domain import CardKind, CardState
from loyalty_bridge.program import card_numbers
from loyalty_bridge.program.account import Entry

REPLACED = "replaced"  # the entry kind (models.domain's entry kinds, when there)
MAX_REASON = 200


@dataclass(frozen=True, kw_only=True)
class CardFacts:
    """A card as a platform holds it."""

    number: str
    kind: CardKind
    state: CardState
    member_id: str | None = None
    replaced_by: str | None = None  # the number that replaced it (A10)


def new_card_number(raw: str) -> str:
    """The replacement number, normalised; 422 ``invalid_card_number`` when it is no card number."""
    number = card_numbers.normalize(raw)
    if not card_numbers.is_valid(number):
        raise InvalidInput(
            "The new card number is not a valid card number (check digit).",
            code="invalid_card_number",
            errors=[{"field": "new_card_number", "message": "invalid card number"}],
        )
    return number


def _registered(card: CardFacts | None) -> tuple[CardFacts, str]:
    if card is None or not card.member_id or card.state is CardState.UNREGISTERED:
        raise CardNotFound("No member's card has this number.")
    return card, card.member_id


def member_of(card: CardFacts | None) -> str:
    """The member a card to block or replace belongs to; CardNotFound for stock never
    registered and numbers no card has."""
    return _registered(card)[1]


def must_block(card: CardFacts | None) -> bool:
    """Whether blocking ``card`` changes anything (False: blocked already, a repeat)."""
    member_of(card)
    return card is not None and card.state is CardState.ACTIVE


def must_replace(
    old_card: CardFacts | None, new_number: str, new: CardFacts | None, *, current: str | None, merged: bool
) -> CardFacts | None:
    """The stock card to write as ``old_card``'s replacement (None: done already, a repeat
    answers the same). ``current`` is the member's card now; ``merged`` whether the member
    was merged into another (A8)."""
    old, member_id = _registered(old_card)
    if old.replaced_by is not None:
        if old.replaced_by == new_number:
            return None
        raise CardNotReplaceable(
            f"This card was already replaced by the card ending {old.replaced_by[-4:]}.",
            code="card_already_replaced",
        )
    if merged:
        raise CardNotReplaceable(
            "This card was merged into another card (A8); replace that one.", code="card_merged"
        )
    if current != old.number:
        raise CardNotFound("No member's card has this number.")
    if new_number == old.number:
        raise InvalidInput(
            "The new card number is the card being replaced.",
            code="invalid_card_number",
            errors=[{"field": "new_card_number", "message": "same as the card replaced"}],
        )
    if new is None:
        raise CardNotInStock("The new card is not in the card stock: import it first.")
    if new.state is not CardState.UNREGISTERED or (new.member_id and new.member_id != member_id):
        raise CardNotReplaceable("The new card already belongs to a member.", code="card_in_use")
    return new


def replaced_entry(member_id: str, old: str, new: str) -> Entry:
    """The ledger entry of a replacement: no points move (delta 0); keyed by the new
    number, which can replace a card once only."""
    return Entry(
        entry_id=f"replace:{new}",
        member_id=member_id,
        kind=REPLACED,
        delta=0,
        result=json.dumps({"card_number": new, "replaced_card": old}, separators=(",", ":")),
    )


def block_reason(reason: str) -> str:
    return reason.strip()[:MAX_REASON]
