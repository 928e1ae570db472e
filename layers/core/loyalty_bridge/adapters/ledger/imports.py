"""Member import (seed 002) on the built-in ledger: ``DynamoDbLedger.import_members``.
The rules are program/member_import.py.

A line is ONE transaction: its card (a new physical card, or a stock card still
unregistered), its email (when the line has one), ACCOUNT (opening balance, dated lots,
lifetime spend; on the expiry index when a lot can expire), the referral code, PROFILE
(``imported_from``: not counted as a new member) and the opening entry
``ENTRY#opening:{card}``, each only if absent. A line is imported whole or not at all: a
crash or a retried chunk never leaves half a member, and nothing is ever undone.

A line whose opening entry exists answers from it (``created`` for the same line of the
same import, ``already_there`` for another import). A cancelled transaction names the
condition that failed: the card or the entry (unless the card's opening entry now exists,
the card is ``card_in_use``), the email (``email_in_use``), or the referral code (another
is drawn); a conflict with a concurrent transaction is tried again.

Lines go in chunks of 50: one BatchGetItem reads their opening entries and cards (a
repeated file costs reads only; a card someone holds is refused without a write), then the
new ones are written a few at a time in parallel (one at a time on a local emulator). The
day's ``opening`` counter (R6) is one ADD per chunk for the entries that chunk wrote, not
an item of each line's transaction (every line would conflict with every other on it); a
crash between the entries and that ADD loses those counts, the entries stay exact.

A transaction costs twice the writes of single puts (12 write units a member where
ordered single puts would cost 7): the price of never leaving half a member. It is also
one request a member instead of seven, which is what makes a 100,000-line file practical
on the local emulator.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

from loyalty_bridge.adapters.ledger.members import LedgerMembers
from loyalty_bridge.adapters.ledger.stats import counter_updates
from loyalty_bridge.adapters.ledger.table import EXPIRY_INDEX, Cancelled, Item, Retry, member_pk
from loyalty_bridge.errors import PlatformUnavailable
from loyalty_bridge.models.domain import CardKind, CardState, Consents
from loyalty_bridge.models.member_import import LineOutcome, MemberLine
from loyalty_bridge.program import member_import as rules
from loyalty_bridge.program.account import Account, Entry
from loyalty_bridge.program.members import normalize_email
from loyalty_bridge.program.referrals import new_referral_code

CHUNK = 50  # two keys a line: one BatchGetItem (at most 100 keys)
WRITERS = 8
_TRIES = 8


def _keys(line: MemberLine) -> tuple[tuple[str, str], tuple[str, str]]:
    """The (pk, sk) of the line's opening entry and of its card."""
    entry = (f"ENTRY#{rules.opening_entry_id(line.card_number)}", "ENTRY")
    return entry, (f"CARD#{line.card_number}", "CARD")


class LedgerImports(LedgerMembers):
    def import_members(self, import_id: str, lines: Sequence[tuple[int, MemberLine]]) -> list[LineOutcome]:
        outcomes: list[LineOutcome] = []
        workers = self._import_writers()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="member-import") as pool:
            for start in range(0, len(lines), CHUNK):
                outcomes.extend(self._import_chunk(pool, import_id, lines[start : start + CHUNK]))
        return sorted(outcomes, key=lambda o: o.line)

    def _import_chunk(
        self, pool: ThreadPoolExecutor, import_id: str, chunk: Sequence[tuple[int, MemberLine]]
    ) -> list[LineOutcome]:
        found = self._get_many(*(key for _, line in chunk for key in _keys(line)))
        now = self._clock()
        done = list(pool.map(lambda n: self._import_line(import_id, n[0], n[1], found, now), chunk))
        self._count_openings([entry for _, entry in done if entry is not None], now)
        return [outcome for outcome, _ in done]

    def _import_writers(self) -> int:
        """WRITERS on DynamoDB; one at a time on a local emulator (moto's tables are not
        thread-safe)."""
        endpoint = str(getattr(self._db.meta, "endpoint_url", "") or "")
        return WRITERS if ".amazonaws.com" in endpoint else 1

    def _import_line(
        self,
        import_id: str,
        number: int,
        line: MemberLine,
        found: dict[tuple[str, str], Item],
        now: datetime,
    ) -> tuple[LineOutcome, Entry | None]:
        """The line's outcome, and its opening entry when this call wrote it."""
        entry_key, card_key = _keys(line)
        card = found.get(card_key)
        first = found.get(entry_key)
        for tries in range(_TRIES):
            if first is not None and str(first.get("member_id") or ""):
                return self._from_entry(import_id, number, line, first), None
            if card is not None and card.get("state") != CardState.UNREGISTERED.value:
                return rules.refused(number, line.card_number, "card_in_use", "card_number"), None
            member_id = uuid.uuid4().hex
            acc = Account(member_id=member_id, expiry_months=self._rules.expiry_months)
            entry = rules.open_account(acc, line, import_id, number)
            try:
                items = self._line_items(acc, line, import_id, entry, now, new_card=card is None)
                self._transact(items, counted=False)
            except Cancelled as exc:
                if "email" in exc.failed and not exc.failed & {"card", "entry"}:
                    return rules.refused(number, line.card_number, "email_in_use", "email"), None
                if exc.failed & {"card", "entry"}:  # a concurrent import or signup took the card
                    first, card = self._get(*entry_key), self._get(*card_key)
                continue  # or the referral code was another member's: draw again
            except Retry:
                self._back_off(tries)
                continue
            return rules.created(number, line.card_number, member_id), entry
        raise PlatformUnavailable(f"ledger busy: member import line {number} not written; send it again")

    def _line_items(
        self, acc: Account, line: MemberLine, import_id: str, entry: Entry, now: datetime, *, new_card: bool
    ) -> list[tuple[str, TransactWriteItemTypeDef]]:
        member_id = acc.member_id
        profile = rules.profile_of(line)
        code = new_referral_code()
        profile_item = self._profile_item(
            member_id, line.card_number, CardKind.PHYSICAL, profile, Consents(), code, None
        )
        items: list[tuple[str, TransactWriteItemTypeDef]] = [
            (
                "card",
                self._new_card(line.card_number, CardKind.PHYSICAL, member_id)
                if new_card
                else self._register_card(line.card_number, member_id),
            ),
            ("account", self._put_new(self._opening_account(acc))),
            ("referral", self._put_new({"pk": f"REFERRAL#{code}", "sk": "REFERRAL", "member_id": member_id})),
            ("profile", self._put_new(profile_item | {"imported_from": import_id})),
            ("entry", self._entry(entry, now)),
        ]
        if line.email:
            email = {"pk": f"EMAIL#{normalize_email(profile.email)}", "sk": "EMAIL", "member_id": member_id}
            items.append(("email", self._put_new(email)))
        return items

    def _from_entry(self, import_id: str, number: int, line: MemberLine, entry: Item) -> LineOutcome:
        first = rules.first_import(str(entry.get("result") or ""))
        return rules.outcome_of_known(number, line.card_number, str(entry["member_id"]), first, import_id)

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

    def _count_openings(self, entries: list[Entry], now: datetime) -> None:
        """The chunk's opening points on the day's counters: one ADD (stats.py)."""
        if not entries:
            return
        for _, update in counter_updates(self._table, [self._entry(entry, now) for entry in entries]):
            try:
                self._db.update_item(**update["Update"])
            except (ClientError, BotoCoreError) as exc:
                self._fail(exc, "member import counters")
