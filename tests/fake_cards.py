"""The card lifecycle (A10) of InMemoryPlatform (tests/fake_platform.py): block a card,
replace it by a stock card. Bookkeeping only: the rules are program/card_lifecycle.py, as
on the built-in ledger (adapters/ledger/lifecycle.py)."""

from __future__ import annotations

from loyalty_bridge.models.domain import Card, CardState, Member
from loyalty_bridge.program import card_lifecycle as lifecycle
from loyalty_bridge.program import card_numbers
from loyalty_bridge.program.account import Entry
from tests.fake_members import FakeMembers, _port


class FakeCards(FakeMembers):
    """Mixed into InMemoryPlatform, which holds ``replaced_by`` and ``ledger``."""

    replaced_by: dict[str, str]  # old card number -> the one that replaced it
    block_reasons: dict[str, str]  # card number -> why it was blocked
    ledger: dict[str, Entry]

    def _facts(self, number: str) -> lifecycle.CardFacts | None:
        found = self.cards.get(number)
        if found is None:
            return None
        kind, state, member_id = found
        replaced_by = self.replaced_by.get(number)
        return lifecycle.CardFacts(
            number=number, kind=kind, state=state, member_id=member_id, replaced_by=replaced_by
        )

    @_port
    def block_card(self, card_number: str, *, reason: str, idempotency_key: str) -> Member:
        key = f"block:{idempotency_key}"
        if key in self.requests:
            return self._member(self.requests[key])
        number = card_numbers.normalize(card_number)
        card = self._facts(number)
        member_id = lifecycle.member_of(card)
        if lifecycle.must_block(card):
            kind, _, _ = self.cards[number]
            self.cards[number] = (kind, CardState.BLOCKED, member_id)
            self.block_reasons[number] = lifecycle.block_reason(reason)
            self.requests[key] = member_id
        return self._member(member_id)

    @_port
    def replace_card(self, card_number: str, new_card_number: str, *, idempotency_key: str) -> Member:
        key = f"replace:{idempotency_key}"
        if key in self.requests:
            return self._member(self.requests[key])
        old_number = card_numbers.normalize(card_number)
        new_number = lifecycle.new_card_number(new_card_number)
        old = self._facts(old_number)
        member_id = lifecycle.member_of(old)
        account = self._account(member_id)
        new = self._facts(new_number)
        stock = lifecycle.must_replace(
            old, new_number, new, current=account.member.card.number, merged=account.merged_into is not None
        )
        if stock is not None:
            kind = stock.kind
            old_kind, _, _ = self.cards[old_number]
            self.cards[old_number] = (old_kind, CardState.BLOCKED, member_id)
            self.replaced_by[old_number] = new_number
            self.cards[new_number] = (kind, CardState.ACTIVE, member_id)
            account.member = account.member.model_copy(
                update={"card": Card(number=new_number, kind=kind, state=CardState.ACTIVE)}
            )
            entry = lifecycle.replaced_entry(member_id, old_number, new_number)
            self.ledger[entry.entry_id] = entry
            self.requests[key] = member_id
        return self._member(member_id)
