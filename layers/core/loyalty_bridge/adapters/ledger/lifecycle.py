"""The card lifecycle (A10) on the built-in ledger: block a card, replace it by a stock card.

Blocking is one transaction: the CARD item and the member's PROFILE say ``blocked`` (with
the reason), so the next order, hold, reward or redeeming quote of the member is refused
(program/account.check_card reads the PROFILE's card state). Replacing is one transaction
too: the PROFILE takes the new card (the member, and so its ACCOUNT, lots and entries,
stays), the old CARD is blocked and says ``replaced_by``, the new stock CARD is registered
to the member, and a ``replaced`` entry is written. The rules: program/card_lifecycle.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loyalty_bridge.adapters.ledger.members import LedgerMembers
from loyalty_bridge.adapters.ledger.table import Cancelled, Item, Labelled, Retry, iso, member_pk
from loyalty_bridge.models.domain import CardKind, CardState, Member
from loyalty_bridge.program import card_lifecycle as lifecycle
from loyalty_bridge.program import card_numbers

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


def _facts(item: Item | None) -> lifecycle.CardFacts | None:
    if item is None:
        return None
    return lifecycle.CardFacts(
        number=str(item["number"]),
        kind=CardKind(item["kind"]),
        state=CardState(item["state"]),
        member_id=str(item["member_id"]) if item.get("member_id") else None,
        replaced_by=str(item["replaced_by"]) if item.get("replaced_by") else None,
    )


class LedgerLifecycle(LedgerMembers):
    def block_card(self, card_number: str, *, reason: str, idempotency_key: str) -> Member:
        request_pk = f"REQUEST#block#{idempotency_key}"
        number = card_numbers.normalize(card_number)

        def attempt() -> Member:
            first = self._get(request_pk, "REQUEST")
            if first is not None:
                return self._member(str(first["member_id"]))
            card = _facts(self._card(number))
            member_id = lifecycle.member_of(card)
            if not lifecycle.must_block(card):
                return self._member(member_id)
            now = iso(self._clock())
            why = lifecycle.block_reason(reason)
            items: Labelled = [
                ("card", self._block_card_item(number, member_id, why, now)),
                (
                    "profile",
                    self._update(
                        member_pk(member_id),
                        "PROFILE",
                        "SET card_state = :blocked, blocked_reason = :why, blocked_at = :at",
                        {":blocked": CardState.BLOCKED.value, ":why": why, ":at": now, ":n": number},
                        condition="card_number = :n",
                    ),
                ),
                ("request", self._request(request_pk, member_id)),
            ]
            self._transact_or_retry(items)  # a twin request or a concurrent change: read again
            return self._member(member_id)

        return self._retrying(attempt)

    def _block_card_item(self, number: str, member_id: str, why: str, at: str) -> TransactWriteItemTypeDef:
        return self._update(
            f"CARD#{number}",
            "CARD",
            "SET #state = :blocked, blocked_reason = :why, blocked_at = :at",
            {":blocked": CardState.BLOCKED.value, ":why": why, ":at": at, ":m": member_id},
            condition="member_id = :m",
            names={"#state": "state"},
        )

    def replace_card(self, card_number: str, new_card_number: str, *, idempotency_key: str) -> Member:
        request_pk = f"REQUEST#replace#{idempotency_key}"
        old_number = card_numbers.normalize(card_number)
        new_number = lifecycle.new_card_number(new_card_number)

        def attempt() -> Member:
            first = self._get(request_pk, "REQUEST")
            if first is not None:
                return self._member(str(first["member_id"]))
            old = _facts(self._card(old_number))
            member_id = lifecycle.member_of(old)
            profile = self._get(member_pk(member_id), "PROFILE") or {}
            new = _facts(self._card(new_number))
            stock = lifecycle.must_replace(
                old,
                new_number,
                new,
                current=profile.get("card_number"),
                merged=bool(profile.get("merged_into")),
            )
            if stock is None:
                return self._member(member_id)  # replaced already: a repeat answers the same
            try:
                self._transact(self._replace_items(member_id, old_number, stock, request_pk))
            except Cancelled as exc:
                raise Retry from exc  # a twin request, or a card changed under us: read again
            return self._member(member_id)

        return self._retrying(attempt)

    def _replace_items(
        self, member_id: str, old_number: str, new: lifecycle.CardFacts, request_pk: str
    ) -> Labelled:
        now = self._clock()
        at = iso(now)
        entry = lifecycle.replaced_entry(member_id, old_number, new.number)
        return [
            (
                "profile",
                self._update(
                    member_pk(member_id),
                    "PROFILE",
                    "SET card_number = :new, card_kind = :kind, card_state = :active, replaced_card = :old "
                    "REMOVE blocked_reason, blocked_at",
                    {
                        ":new": new.number,
                        ":kind": new.kind.value,
                        ":active": CardState.ACTIVE.value,
                        ":old": old_number,
                    },
                    condition="card_number = :old AND attribute_not_exists(merged_into)",
                ),
            ),
            (
                "old_card",
                self._update(
                    f"CARD#{old_number}",
                    "CARD",
                    "SET #state = :blocked, replaced_by = :new, blocked_at = if_not_exists(blocked_at, :at)",
                    {":blocked": CardState.BLOCKED.value, ":new": new.number, ":at": at, ":m": member_id},
                    condition="member_id = :m AND attribute_not_exists(replaced_by)",
                    names={"#state": "state"},
                ),
            ),
            ("new_card", self._register_card(new.number, member_id)),
            ("entry", self._entry(entry, now)),
            ("request", self._request(request_pk, member_id)),
        ]
