"""Member import (seed 002) on the built-in ledger: ``DynamoDbLedger.import_members``.

An imported member is a NEW partition, so its items are written one by one in an order
that makes every step idempotent and a crash resumable, instead of one transaction (a
transaction costs twice the writes, and moto copies the whole table for every item of
one: 100,000 members would take days locally). The rules are program/member_import.py.

1. The card is claimed: ``CARD#{number}`` put as a new physical card, or (it exists) a
   stock card still unregistered registered by one UpdateItem, recording ``member_id``
   and the claim ``{import_id}#{line}``; a card someone else holds fails the condition: ``card_in_use``.
   The same line again (a retried chunk) passes the condition and gets the member id the
   first attempt chose.
2. The email (when the line has one): ``EMAIL#{email}`` put unless another member has it;
   then the card claim is undone (a card it made is deleted, a stock card goes back to the
   stock) and the line is ``email_in_use``.
3. ACCOUNT (opening balance, dated lots, lifetime spend; on the expiry index when a lot can
   expire), the referral code, PROFILE (``imported_from``: not counted as a new member),
   each put only if absent.
4. The opening entry ``ENTRY#opening:{card}`` last, only if absent: a line is imported once
   its entry exists; a line whose entry exists answers from it (``created`` for the same
   line of the same import, ``already_there`` for another import).

The day's ``opening`` counter (R6) is one ADD per chunk for the entries that chunk wrote
(a crash between the entries and that ADD loses those counts; the entries stay exact).
Lines go in chunks of 50: one BatchGetItem reads their opening entries (a repeated file
costs reads only), then the new ones are written a few at a time in parallel (one at a time
on a local emulator, whose DynamoDB is not thread-safe).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_bridge.adapters.aws_errors import unless_condition_failed
from loyalty_bridge.adapters.ledger.cards import batch_items
from loyalty_bridge.adapters.ledger.members import LedgerMembers
from loyalty_bridge.adapters.ledger.stats import counter_updates
from loyalty_bridge.adapters.ledger.table import EXPIRY_INDEX, Item, from_av, member_pk, to_av
from loyalty_bridge.errors import PlatformError
from loyalty_bridge.models.domain import CardKind, CardState, Consents
from loyalty_bridge.models.member_import import LineOutcome, MemberLine
from loyalty_bridge.program import member_import as rules
from loyalty_bridge.program.account import Account, Entry
from loyalty_bridge.program.members import normalize_email
from loyalty_bridge.program.referrals import new_referral_code

CHUNK = 50
WRITERS = 8
_REFERRAL_TRIES = 5


class _Taken(Exception):
    """A conditional put found the item there already."""


class LedgerImports(LedgerMembers):
    def import_members(self, import_id: str, lines: Sequence[tuple[int, MemberLine]]) -> list[LineOutcome]:
        outcomes: list[LineOutcome] = []
        workers = self._import_writers()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="member-import") as pool:
            for start in range(0, len(lines), CHUNK):
                chunk = lines[start : start + CHUNK]
                keys = [(f"ENTRY#{rules.opening_entry_id(line.card_number)}", "ENTRY") for _, line in chunk]
                opened = {
                    str(item["pk"]): item for item in map(from_av, batch_items(self._db, self._table, keys))
                }
                now = self._clock()
                size = len(chunk)
                done = list(
                    pool.map(
                        self._import_line,
                        [import_id] * size,
                        [n for n, _ in chunk],
                        [line for _, line in chunk],
                        [opened] * size,
                        [now] * size,
                    )
                )
                self._count_openings([entry for _, entry in done if entry is not None], now)
                outcomes.extend(outcome for outcome, _ in done)
        return sorted(outcomes, key=lambda o: o.line)

    def _import_writers(self) -> int:
        """WRITERS on DynamoDB; one at a time on a local emulator (moto's tables are not
        thread-safe)."""
        endpoint = str(getattr(self._db.meta, "endpoint_url", "") or "")
        return WRITERS if ".amazonaws.com" in endpoint else 1

    def _import_line(
        self, import_id: str, number: int, line: MemberLine, opened: dict[str, Item], now: datetime
    ) -> tuple[LineOutcome, Entry | None]:
        """The line's outcome, and its opening entry when this call wrote it."""
        entry_pk = f"ENTRY#{rules.opening_entry_id(line.card_number)}"
        first = opened.get(entry_pk)
        if first is not None:
            return self._from_entry(import_id, number, line, first), None
        claim = f"{import_id}#{number}"
        member_id = self._claim_card(line.card_number, claim)
        if member_id is None:
            found = self._get(entry_pk, "ENTRY")  # another import's line: opened, or opening now
            if found is not None and str(found.get("member_id")):
                return self._from_entry(import_id, number, line, found), None
            return rules.refused(number, line.card_number, "card_in_use", "card_number"), None
        acc = Account(member_id=member_id, expiry_months=self._rules.expiry_months)
        entry = rules.open_account(acc, line, import_id, number)
        profile = rules.profile_of(line)
        if line.email:
            try:
                self._put_if_absent(
                    {"pk": f"EMAIL#{normalize_email(profile.email)}", "sk": "EMAIL", "member_id": member_id},
                    member_id,
                )
            except _Taken:
                self._release_card(line.card_number, claim)
                return rules.refused(number, line.card_number, "email_in_use", "email"), None
        self._put_quietly(self._opening_account(acc))
        self._put_profile(member_id, line, import_id)
        try:
            self._put_if_absent(self._entry_item(entry, now))
        except _Taken:
            return rules.created(number, line.card_number, member_id), None  # a retried line
        return rules.created(number, line.card_number, member_id), entry

    def _from_entry(self, import_id: str, number: int, line: MemberLine, entry: Item) -> LineOutcome:
        first = rules.first_import(str(entry.get("result") or ""))
        return rules.outcome_of_known(number, line.card_number, str(entry["member_id"]), first, import_id)

    # ------------------------------------------------------------------ single-item writes

    def _conditionally(self, call: Callable[..., Any], **request: Any) -> dict[str, Any] | None:
        """DynamoDB's answer, or None when the request's condition failed."""
        answer: dict[str, Any] | None = unless_condition_failed(
            lambda: call(TableName=self._table, **request), lambda exc: self._fail(exc, "member import")
        )
        return answer

    def _claim_card(self, number: str, claim: str) -> str | None:
        """Step 1: the member id the card now belongs to for ``claim``, or None when the card
        is another member's (or another import line's). A number that is no card yet
        becomes a new physical card (``import_new``); a stock card is registered."""
        member_id = uuid.uuid4().hex
        card = {
            "pk": f"CARD#{number}",
            "sk": "CARD",
            "number": number,
            "kind": CardKind.PHYSICAL.value,
            "state": CardState.ACTIVE.value,
            "member_id": member_id,
            "import_claim": claim,
            "import_new": True,
        }
        if self._conditionally(
            self._db.put_item, Item=to_av(card), ConditionExpression="attribute_not_exists(pk)"
        ):
            return member_id
        answer = self._conditionally(
            self._db.update_item,
            Key={"pk": {"S": f"CARD#{number}"}, "sk": {"S": "CARD"}},
            UpdateExpression=(
                "SET #state = :active, member_id = if_not_exists(member_id, :m), import_claim = :claim"
            ),
            ConditionExpression=(
                "import_claim = :claim OR (#state = :unregistered AND attribute_not_exists(member_id))"
            ),
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=to_av(
                {
                    ":active": CardState.ACTIVE.value,
                    ":unregistered": CardState.UNREGISTERED.value,
                    ":m": member_id,
                    ":claim": claim,
                }
            ),
            ReturnValues="ALL_NEW",
        )
        return None if answer is None else str(answer["Attributes"]["member_id"]["S"])

    def _release_card(self, number: str, claim: str) -> None:
        """Undo step 1 (the email is another member's): a card the claim made is deleted, a
        stock card goes back to the stock."""
        key = {"pk": {"S": f"CARD#{number}"}, "sk": {"S": "CARD"}}
        values = to_av({":claim": claim, ":yes": True})
        if self._conditionally(
            self._db.delete_item,
            Key=key,
            ConditionExpression="import_claim = :claim AND import_new = :yes",
            ExpressionAttributeValues=values,
        ):
            return
        self._conditionally(
            self._db.update_item,
            Key=key,
            UpdateExpression="SET #state = :unregistered REMOVE member_id, import_claim",
            ConditionExpression="import_claim = :claim",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=to_av({":unregistered": CardState.UNREGISTERED.value, ":claim": claim}),
        )

    def _put_if_absent(self, item: dict[str, Any], owner: str | None = None) -> None:
        """Put ``item`` unless its key exists (with ``owner``: unless another member's)."""
        condition = "attribute_not_exists(pk)"
        values: dict[str, Any] = {}
        if owner is not None:
            condition += " OR member_id = :owner"
            values = {"ExpressionAttributeValues": to_av({":owner": owner})}
        if (
            self._conditionally(self._db.put_item, Item=to_av(item), ConditionExpression=condition, **values)
            is None
        ):
            raise _Taken

    def _put_quietly(self, item: dict[str, Any]) -> None:
        with contextlib.suppress(_Taken):  # written by an earlier attempt of this line
            self._put_if_absent(item)

    def _put_profile(self, member_id: str, line: MemberLine, import_id: str) -> None:
        if self._get(member_pk(member_id), "PROFILE") is not None:
            return  # an earlier attempt of this line wrote it
        for _ in range(_REFERRAL_TRIES):
            code = new_referral_code()
            try:
                self._put_if_absent({"pk": f"REFERRAL#{code}", "sk": "REFERRAL", "member_id": member_id})
            except _Taken:
                continue  # another member's code: draw again
            profile = self._profile_item(
                member_id, line.card_number, CardKind.PHYSICAL, rules.profile_of(line), Consents(), code, None
            )
            self._put_quietly(profile | {"imported_from": import_id})
            return
        raise PlatformError("member import: no free referral code", code="ledger_error")

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

    def _entry_item(self, entry: Entry, now: datetime) -> dict[str, Any]:
        put = self._entry(entry, now)["Put"]
        return from_av(put["Item"])

    def _count_openings(self, entries: list[Entry], now: datetime) -> None:
        """The chunk's opening points on the day's counters: one ADD (stats.py)."""
        if not entries:
            return
        for _, update in counter_updates(self._table, [self._entry(entry, now) for entry in entries]):
            try:
                self._db.update_item(**update["Update"])
            except (ClientError, BotoCoreError) as exc:
                self._fail(exc, "member import counters")
