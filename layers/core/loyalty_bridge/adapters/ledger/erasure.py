"""Erasure of a member of the built-in ledger (D2, GDPR Art. 17; rules: program/erasure.py).

One transaction: the PROFILE item loses the person (profile, consents, email, the mobile
index ``gsi1``) and is marked ``erased_at``; the ``EMAIL#`` claim goes, so the address can
join again as a new member. ACCOUNT, entries, lots, holds, ORDER items and the card stay
under the member id (a random id: with the bridge's link gone, a pseudonym), so balances,
statistics and audits add up as before. Then one paged scan finds what else names the
person: the answers kept for replays of profile updates (``REQUEST#update#...`` /
``result``, rewritten as the erased member) and the members merged into this one (A8: the
same person's other cards), erased alike. A repeat finds ``erased_at`` and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_bridge.adapters.ledger.accounts import LedgerAccounts
from loyalty_bridge.adapters.ledger.table import Item, from_av, iso, member_pk
from loyalty_bridge.program.erasure import erased_consents, erased_profile

_MAX_MERGED = 50  # members merged into one (A8): a guard, a phone rarely carries more


class LedgerErasure(LedgerAccounts):
    def erase_member(self, member_id: str, *, idempotency_key: str) -> None:
        self._erase_person(member_id)
        merged: list[str] = []
        for item in self._naming(member_id):
            if item["sk"] == "PROFILE":
                merged.append(str(item["member_id"]))
            else:
                self._rewrite_answer(item, member_id)
        for other in merged[:_MAX_MERGED]:
            if other != member_id:
                self._erase_person(other)

    def _erase_person(self, member_id: str) -> None:
        self._retrying(lambda: self._erase_profile(member_id))

    def _erase_profile(self, member_id: str) -> None:
        profile = self._get(member_pk(member_id), "PROFILE")
        if profile is None or profile.get("erased_at"):
            return
        forget = self._update(
            member_pk(member_id),
            "PROFILE",
            "SET profile = :p, consents = :c, email = :e, erased_at = :now REMOVE gsi1pk, gsi1sk",
            {
                ":p": erased_profile().model_dump_json(),
                ":c": erased_consents().model_dump_json(),
                ":e": "",
                ":now": iso(self._clock()),
            },
            condition="attribute_not_exists(erased_at)",
        )
        items = [("profile", forget)]
        email = str(profile.get("email") or "")
        claim = self._get(f"EMAIL#{email}", "EMAIL") if email else None
        if claim is not None and claim.get("member_id") == member_id:
            items.append(("email", self._delete(f"EMAIL#{email}", "EMAIL")))
        self._transact_or_retry(items)  # a concurrent write: read again (``_retrying``)

    def _naming(self, member_id: str) -> Iterator[Item]:
        """Kept answers of the member's profile updates, and the members merged into it."""
        scan: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "(begins_with(pk, :req) AND member_id = :m AND attribute_exists(#r))"
            " OR (sk = :profile AND merged_into = :m)",
            "ExpressionAttributeNames": {"#r": "result"},
            "ExpressionAttributeValues": {
                ":req": {"S": "REQUEST#update#"},
                ":m": {"S": member_id},
                ":profile": {"S": "PROFILE"},
            },
        }
        while True:
            try:
                page = self._db.scan(**scan)
            except (ClientError, BotoCoreError) as exc:
                self._fail(exc, "erasure scan")
            yield from (from_av(raw) for raw in page.get("Items", []))
            if not page.get("LastEvaluatedKey"):
                return
            scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _rewrite_answer(self, item: Item, member_id: str) -> None:
        """A replay of an erased member's profile update answers the erased member."""
        erased = self._member(member_id).model_dump_json()
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": str(item["pk"])}, "sk": {"S": str(item["sk"])}},
                UpdateExpression="SET #r = :r",
                ExpressionAttributeNames={"#r": "result"},
                ExpressionAttributeValues={":r": {"S": erased}},
            )
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, "erasure write")
