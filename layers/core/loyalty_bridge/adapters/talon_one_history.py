"""The history of a member's points on Talon.One (R8), read from the card's loyalty
transactions (``getLoyaltyCardTransactions``).

Talon.One's transactions carry no order, refund or store ids, so the bridge labels the ones
its own writes made: after an order's session closes and after each return or cancel, the
session's transactions not yet labelled get the write's references (BridgeTable
``MOVE#{transactionUUID}``, adapters/talon_one_store.py). A read groups the labelled ones by
write (an order that earned and redeemed is one entry, as in the built-in ledger) and shows
every other one on its own: one of an order session as that order's, any other (a change
made in the Campaign Manager, an import) as an adjustment by the store.
Balances after each entry are walked back from the card's active points; the page is newest
first with the program's opaque cursor (program/history.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from loyalty_bridge.adapters.talon_one_store import TalonOneStore
from loyalty_bridge.adapters.talon_one_transport import TalonOneHttp
from loyalty_bridge.adapters.talon_one_wire import CardBalances, Transaction, Transactions
from loyalty_bridge.models.activity import MAX_ACTIVITY_PAGE, ActivityEntry, ActivityPage
from loyalty_bridge.models.domain import ActivityKind
from loyalty_bridge.program import history

ORDER_SESSION = "order-"


@dataclass
class _Group:
    first_id: int
    at: datetime
    label: Mapping[str, Any]
    points_in: int = 0
    points_out: int = 0

    @property
    def sort_key(self) -> str:
        return f"{self.at.astimezone(UTC).isoformat(timespec='microseconds')}#t1-{self.first_id:012d}"

    def kind(self) -> ActivityKind:
        gained, lost = bool(self.points_in), bool(self.points_out)
        match self.label.get("event"):
            case "order":
                return ActivityKind.EARNED if gained or not lost else ActivityKind.REDEEMED
            case "reversal":
                return ActivityKind.REVERSED if lost or not gained else ActivityKind.RETURNED
        return ActivityKind.ADJUSTED


def _unlabelled(move: Transaction) -> dict[str, Any]:
    session = move.customerSessionId or ""
    if not session.startswith(ORDER_SESSION):
        return {}
    event = "order" if move.type == "addition" else "reversal"
    return {"event": event, "order_id": session[len(ORDER_SESSION) :]}


def _groups(moves: list[Transaction], labels: Mapping[str, Mapping[str, Any]]) -> list[_Group]:
    groups: dict[str, _Group] = {}
    for move in sorted(moves, key=lambda m: (m.created, m.id)):
        label = labels.get(move.transactionUUID)
        key = f"write:{label['write']}" if label else f"move:{move.transactionUUID}"
        group = groups.setdefault(key, _Group(move.id, move.created, label or _unlabelled(move)))
        group.at = max(group.at, move.created)
        if move.type == "addition":
            group.points_in += move.amount
        else:
            group.points_out += move.amount
    return sorted(groups.values(), key=lambda g: g.sort_key, reverse=True)


def page(
    moves: list[Transaction],
    labels: Mapping[str, Mapping[str, Any]],
    *,
    balance: int,
    limit: int,
    cursor: str | None,
) -> ActivityPage:
    """The page after ``cursor`` of the history these transactions and labels make."""
    limit = max(1, min(limit, MAX_ACTIVITY_PAGE))
    after = history.decode_cursor(cursor) if cursor else None
    shown: list[tuple[str, ActivityEntry]] = []
    for group in _groups(moves, labels):  # newest first: walk the balance back
        entry = history.activity_entry(
            entry_id=group.sort_key.split("#", 1)[1],
            at=group.at,
            kind=group.kind(),
            points_in=group.points_in,
            points_out=group.points_out,
            balance_after=balance,
            refs={name: group.label.get(name) for name in history.REF_FIELDS},
        )
        balance -= entry.points
        if after is None or group.sort_key < after:
            shown.append((group.sort_key, entry))
    more = len(shown) > limit
    return ActivityPage(
        entries=[entry for _, entry in shown[:limit]],
        next_cursor=history.encode_cursor(shown[limit - 1][0]) if more else None,
    )


class TalonOneHistory:
    """TalonOnePlatform's ``activity`` and the labelling its writes do (see the module)."""

    PAGE_SIZE = 1000  # Talon.One's largest page of transactions
    _api: TalonOneHttp
    _store: TalonOneStore
    _program: int

    def _card_number(self, member_id: str) -> str:
        raise NotImplementedError

    def _card_balances(self, card_number: str) -> CardBalances | None:
        raise NotImplementedError

    def activity(self, member_id: str, *, limit: int = 20, cursor: str | None = None) -> ActivityPage:
        if cursor is not None:
            history.decode_cursor(cursor)  # a cursor it never answered is refused before any call
        card = self._card_number(member_id)
        labels = self._store.move_labels(member_id)
        moves = self._card_moves(card)
        balances = self._card_balances(card)
        active = balances.balance.activePoints if balances else 0
        return page(moves, labels, balance=active, limit=limit, cursor=cursor)

    def _card_moves(self, card: str, session_id: str | None = None) -> list[Transaction]:
        """Every transaction of the card (of one session), page after page."""
        only = f"&customerSessionIDs={quote(session_id, safe='')}" if session_id else ""
        moves: list[Transaction] = []
        while True:
            found = self._api.call(
                "getLoyaltyCardTransactions",
                "GET",
                f"/v1/loyalty_programs/{self._program}/cards/{quote(card, safe='')}/transactions"
                f"?pageSize={self.PAGE_SIZE}&skip={len(moves)}{only}",
                Transactions,
            )
            moves += found.data
            if not found.hasMore or not found.data:
                return moves

    def _label_session(
        self, member_id: str, card: str, session_id: str, label: dict[str, Any]
    ) -> list[Transaction]:
        """The session's transactions; those no write claimed yet are labelled as ``label``'s."""
        moves = self._card_moves(card, session_id)
        known = self._store.move_labels(member_id)
        fresh = [m.transactionUUID for m in moves if m.transactionUUID not in known]
        self._store.label_moves(member_id, fresh, label)
        return moves
