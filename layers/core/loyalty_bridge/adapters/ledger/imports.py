"""Member import (seed 002) on the built-in ledger: ``DynamoDbLedger.import_members``.

Each screened line's writes are all or nothing: the member's PROFILE (``imported_from``: the import
id, so the day's counters do not count it as a new member) and ACCOUNT (the opening
balance, its dated lots and lifetime spend, on the expiry index when a lot can expire),
its referral code, its EMAIL item when the line has an email, its card (a new physical
card, or a stock card registered to it) and the opening entry ``ENTRY#opening:{card}``,
put with ``attribute_not_exists``: the rules are program/member_import.py. Lines go in
chunks of 50: one BatchGetItem reads their opening entries and cards (a repeated file
costs reads only), then the new ones are written several lines to a transaction (up to
GROUP_ITEMS items), a few transactions at a time in parallel (one at a time on a local
emulator). A transaction that loses a race (another import, an attach) or meets an email
in use is done again line by line, each line its own transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from loyalty_bridge.adapters.ledger.cards import batch_items
from loyalty_bridge.adapters.ledger.members import LedgerMembers
from loyalty_bridge.adapters.ledger.table import (
    EXPIRY_INDEX,
    Cancelled,
    Item,
    Labelled,
    Retry,
    from_av,
    member_pk,
)
from loyalty_bridge.errors import PlatformUnavailable
from loyalty_bridge.models.domain import CardKind, CardState, Consents
from loyalty_bridge.models.member_import import LineOutcome, MemberLine
from loyalty_bridge.program import member_import as rules
from loyalty_bridge.program.account import Account
from loyalty_bridge.program.referrals import new_referral_code

CHUNK = 50  # two keys a line: BatchGetItem reads at most 100
WRITERS = 8
GROUP_ITEMS = 90  # a transaction holds 100 items: several lines (6-7 items each) and the day's counters


class LedgerImports(LedgerMembers):
    def import_members(self, import_id: str, lines: Sequence[tuple[int, MemberLine]]) -> list[LineOutcome]:
        outcomes: list[LineOutcome] = []
        with ThreadPoolExecutor(
            max_workers=self._import_writers(), thread_name_prefix="member-import"
        ) as pool:
            for start in range(0, len(lines), CHUNK):
                chunk = lines[start : start + CHUNK]
                found = self._import_state([line.card_number for _, line in chunk])
                groups: list[list[tuple[int, MemberLine, str, Labelled]]] = [[]]
                for number, line in chunk:
                    known = self._known_outcome(import_id, number, line, found)
                    if known is not None:
                        outcomes.append(known)
                        continue
                    member_id = uuid.uuid4().hex
                    new_card = f"CARD#{line.card_number}" not in found
                    items = self._imported_member_items(import_id, number, member_id, line, new_card=new_card)
                    if sum(len(group[3]) for group in groups[-1]) + len(items) > GROUP_ITEMS:
                        groups.append([])
                    groups[-1].append((number, line, member_id, items))
                for written in pool.map(lambda group: self._write_group(import_id, group), groups):
                    outcomes.extend(written)
        return sorted(outcomes, key=lambda o: o.line)

    def _write_group(
        self, import_id: str, group: list[tuple[int, MemberLine, str, Labelled]]
    ) -> list[LineOutcome]:
        """New members of several lines in one transaction; when any condition fails (a race,
        an email in use), each line again on its own."""
        if not group:
            return []
        try:
            self._transact([item for *_, items in group for item in items])
        except (Cancelled, PlatformUnavailable):
            return [self._import_line(import_id, number, line, None) for number, line, _, _ in group]
        return [rules.created(number, line.card_number, member_id) for number, line, member_id, _ in group]

    def _known_outcome(
        self, import_id: str, number: int, line: MemberLine, found: dict[str, Item]
    ) -> LineOutcome | None:
        """The outcome of a line whose card is opened or in use already, else None."""
        entry = found.get(f"ENTRY#{rules.opening_entry_id(line.card_number)}")
        if entry is not None:
            first = rules.first_import(str(entry.get("result") or ""))
            return rules.outcome_of_known(number, line.card_number, str(entry["member_id"]), first, import_id)
        card = found.get(f"CARD#{line.card_number}")
        if card is not None and (card.get("member_id") or card["state"] != CardState.UNREGISTERED.value):
            return rules.refused(number, line.card_number, "card_in_use", "card_number")
        return None

    def _import_writers(self) -> int:
        """WRITERS on DynamoDB; one at a time on a local emulator (moto applies a transaction
        item by item and rolls back by restoring a table snapshot, so concurrent transactions
        there undo each other; real DynamoDB isolates them)."""
        endpoint = str(getattr(self._db.meta, "endpoint_url", "") or "")
        return WRITERS if ".amazonaws.com" in endpoint else 1

    def _import_state(self, numbers: list[str]) -> dict[str, Item]:
        """The opening entries and cards of ``numbers`` that exist, by key."""
        keys = [(f"ENTRY#{rules.opening_entry_id(n)}", "ENTRY") for n in numbers]
        keys += [(f"CARD#{n}", "CARD") for n in numbers]
        items = (from_av(raw) for raw in batch_items(self._db, self._table, keys))
        return {str(item["pk"]): item for item in items}

    def _import_line(
        self, import_id: str, number: int, line: MemberLine, found: dict[str, Item] | None
    ) -> LineOutcome:
        def attempt() -> LineOutcome:
            state = found if found is not None else self._import_state([line.card_number])
            known = self._known_outcome(import_id, number, line, state)
            if known is not None:
                return known
            member_id = uuid.uuid4().hex
            new_card = f"CARD#{line.card_number}" not in state
            try:
                self._transact(
                    self._imported_member_items(import_id, number, member_id, line, new_card=new_card)
                )
            except Cancelled as exc:
                if exc.failed == {"email"}:
                    return rules.refused(number, line.card_number, "email_in_use", "email")
                raise Retry from exc  # another import or an attach took the card: read again
            return rules.created(number, line.card_number, member_id)

        return self._retrying(attempt)

    def _imported_member_items(
        self, import_id: str, number: int, member_id: str, line: MemberLine, *, new_card: bool
    ) -> Labelled:
        now = self._clock()
        acc = Account(member_id=member_id, expiry_months=self._rules.expiry_months)
        entry = rules.open_account(acc, line, import_id, number)
        referral_code = new_referral_code()
        profile = self._profile_item(
            member_id,
            line.card_number,
            CardKind.PHYSICAL,
            rules.profile_of(line),
            Consents(),
            referral_code,
            None,
        )
        profile["imported_from"] = import_id
        items: Labelled = [
            ("profile", self._put_new(profile)),
            ("account", self._put_new(self._opening_account(acc))),
            (
                "referral",
                self._put_new({"pk": f"REFERRAL#{referral_code}", "sk": "REFERRAL", "member_id": member_id}),
            ),
            (
                "card",
                self._new_card(line.card_number, CardKind.PHYSICAL, member_id)
                if new_card
                else self._register_card(line.card_number, member_id),
            ),
            ("entry", self._entry(entry, now)),
        ]
        if line.email:
            email_pk = f"EMAIL#{profile['email']}"
            items.append(("email", self._put_new({"pk": email_pk, "sk": "EMAIL", "member_id": member_id})))
        return items

    def _opening_account(self, acc: Account) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": member_pk(acc.member_id),
            "sk": "ACCOUNT",
            "available": acc.available,
            "held": 0,
            "lifetime_spend": acc.lifetime_spend,
            "points_by_day": acc.aged.to_json(),
            "version": 0,
        }
        first_expiry = acc.aged.first_expiry(acc.expiry_months)
        if first_expiry is not None:
            item |= {"gsi1pk": EXPIRY_INDEX, "gsi1sk": f"{first_expiry.isoformat()}#{acc.member_id}"}
        return item
