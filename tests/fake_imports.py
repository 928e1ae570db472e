"""The member import (seed 002) of InMemoryPlatform (tests/fake_platform.py). Bookkeeping
only: the rules are program/member_import.py, as on the built-in ledger
(adapters/ledger/imports.py)."""

from __future__ import annotations

from collections.abc import Sequence

from loyalty_bridge.models.domain import Card, CardKind, CardState
from loyalty_bridge.models.member_import import LineOutcome, MemberLine
from loyalty_bridge.program import member_import as rules
from loyalty_bridge.program.account import Entry
from loyalty_bridge.program.members import normalize_email
from tests.fake_members import FakeMembers, _port


class FakeImports(FakeMembers):
    """Mixed into InMemoryPlatform, which holds ``ledger`` and commits accounts."""

    ledger: dict[str, Entry]

    @_port
    def import_members(self, import_id: str, lines: Sequence[tuple[int, MemberLine]]) -> list[LineOutcome]:
        return [self._import_line(import_id, number, line) for number, line in lines]

    def _import_line(self, import_id: str, number: int, line: MemberLine) -> LineOutcome:
        opened = self.ledger.get(rules.opening_entry_id(line.card_number))
        if opened is not None:
            first = rules.first_import(opened.result)
            return rules.outcome_of_known(number, line.card_number, opened.member_id, first, import_id)
        kind, state, owner = self.cards.get(line.card_number) or (CardKind.PHYSICAL, None, None)
        if owner is not None or state not in (None, CardState.UNREGISTERED):
            return rules.refused(number, line.card_number, "card_in_use", "card_number")
        profile = rules.profile_of(line)
        email = normalize_email(profile.email)
        if email and email in self.emails:
            return rules.refused(number, line.card_number, "email_in_use", "email")
        member = self._store_new(
            profile, Card(number=line.card_number, kind=kind, state=CardState.ACTIVE), email
        )
        account = self._account(member.member_id)
        account.joined_at = None  # brought over, not a new member of the program (R6 stats)
        entry = rules.open_account(account, line, import_id, number)
        self._commit(account, entry)
        return rules.created(number, line.card_number, member.member_id)
