"""Merging cards (A8): other cards of the same verified mobile give their points, pending
points and spend to the primary card's account, in one transaction; their cards are
blocked, their profiles lead to the primary member and their emails are freed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from loyalty_bridge.adapters.ledger.accounts import StoredAccount
from loyalty_bridge.adapters.ledger.members import LedgerMembers
from loyalty_bridge.adapters.ledger.table import Labelled, member_pk
from loyalty_bridge.errors import CardNotAttachable
from loyalty_bridge.models.domain import CardState, Member, MemberProfile
from loyalty_bridge.program.account import check_merge_size, check_mergeable, merge_into, settle
from loyalty_bridge.program.members import normalize_email

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


def _mobile(acc: StoredAccount) -> str | None:
    return MemberProfile.model_validate_json(acc.profile["profile"]).mobile


class LedgerMerges(LedgerMembers):
    def merge_cards(self, primary_card: str, cards: Sequence[str], *, idempotency_key: str) -> Member:
        request_pk = f"REQUEST#merge#{idempotency_key}"

        def attempt() -> Member:
            first = self._get(request_pk, "REQUEST")
            if first is not None:
                return self._member(str(first["member_id"]))
            now = self._clock()
            primary = settle(self._load(self._card_member(primary_card)), now)
            others = self._merge_sources(primary, cards, now)
            items: Labelled = []
            for other in others:
                items.extend(self._merge_items(primary, other, idempotency_key, now))
            items.extend(self._account_items(primary, now))
            items.append(("request", self._request(request_pk, primary.member_id)))
            self._transact_or_retry(items)  # anything moved under us: start again from fresh reads
            return self._member(primary.member_id)

        return self._retrying(attempt)

    def _card_member(self, raw: str) -> str:
        card = self._card(raw)
        if card is None or card["state"] != CardState.ACTIVE.value or not card.get("member_id"):
            raise CardNotAttachable()
        return str(card["member_id"])

    def _merge_sources(
        self, primary: StoredAccount, cards: Sequence[str], now: datetime
    ) -> list[StoredAccount]:
        """The accounts of ``cards`` other than the primary one, settled, each checked."""
        mobile = _mobile(primary)
        others: list[StoredAccount] = []
        for raw in cards:
            other_id = self._card_member(raw)
            if other_id == primary.member_id or any(o.member_id == other_id for o in others):
                continue
            other = settle(self._load(other_id), now)
            check_mergeable(mobile, other, _mobile(other))
            others.append(other)
        check_merge_size(others)
        return others

    def _merge_items(self, primary: StoredAccount, other: StoredAccount, key: str, now: datetime) -> Labelled:
        move = merge_into(primary, other, key)
        items: Labelled = [("entry", self._entry(entry, now)) for entry in move.entries]
        for lot in move.lots:
            items.append(("lot", self._delete_lot(other.member_id, lot)))
            items.append(("lot", self._put_new(self._lot_item(primary.member_id, lot))))
        items.append(("card", self._block_card(str(other.profile["card_number"]))))
        items.append(
            (
                "profile",
                self._update(
                    member_pk(other.member_id),
                    "PROFILE",
                    "SET card_state = :blocked, merged_into = :p",
                    {":blocked": CardState.BLOCKED.value, ":p": primary.member_id},
                ),
            )
        )
        # A merged account gives up its email, so the customer's details can move to
        # the primary card (A8) and a new account may use that address later.
        other_email = normalize_email(MemberProfile.model_validate_json(other.profile["profile"]).email)
        if other_email:
            items.append(("email", self._delete(f"EMAIL#{other_email}", "EMAIL")))
        items.extend(self._account_items(other, now))
        return items

    def _block_card(self, number: str) -> TransactWriteItemTypeDef:
        return self._update(
            f"CARD#{number}",
            "CARD",
            "SET #state = :blocked",
            {":blocked": CardState.BLOCKED.value, ":active": CardState.ACTIVE.value},
            condition="#state = :active",
            names={"#state": "state"},
        )
