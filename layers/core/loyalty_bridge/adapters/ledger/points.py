"""Points of the built-in ledger: the balance, the checkout quote (C1, C3) and redemption
holds (C2) with their sweeper.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from loyalty_bridge.adapters.ledger.rewards import LedgerRewards
from loyalty_bridge.adapters.ledger.table import OPEN_HOLDS_INDEX, Recording, iso, member_pk
from loyalty_bridge.models.domain import Balance, Basket, Hold, Quote
from loyalty_bridge.program import account as account_rules
from loyalty_bridge.program.account import Account, HeldPoints

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


class LedgerPoints(LedgerRewards):
    # services/checkout.RefusesIncompleteHolds: place_hold checks may_redeem (A9) itself.
    refuses_holds_of_incomplete_profiles = True

    def get_balance(self, member_id: str) -> Balance:
        now = self._clock()
        return account_rules.balance(self._settled(member_id, now), self._rules, now)

    def quote(self, member_id: str | None, basket: Basket, *, redeem_points: int = 0) -> Quote:
        account_rules.check_redeem_points(redeem_points)
        acc = self._settled(member_id, self._clock()) if member_id is not None else None
        owner = acc.member_id if acc else None
        return account_rules.quote(
            acc, self._rules, basket, redeem_points, lambda: self._coupon_check(owner, basket.promo_code)
        )

    # ------------------------------------------------------------------ holds (C2)

    def hold_points(
        self,
        member_id: str,
        redemption_id: str,
        points: int,
        *,
        order_total: Any,
        expires_at: datetime,
        currency: str | None = None,
        recording: Recording[Hold] | None = None,
        cart: str | None = None,
        released: Callable[[str], Sequence[TransactWriteItemTypeDef]] | None = None,
    ) -> Hold:
        """``cart``: the checkout the hold is for; the cart's open hold, if any, is released
        in the same transaction (one hold per cart, C2), with ``released(its id)``'s items."""
        total = Decimal(str(order_total))

        def attempt() -> Hold:
            acc, now = self._owner_now(member_id)
            program_version, rules = self._priced()
            replaced = self._release_cart(acc, cart, redemption_id, now)
            row, new = account_rules.place_hold(
                acc,
                rules,
                redemption_id,
                points,
                order_total=total,
                expires_at=expires_at,
                now=now,
                currency=currency,
            )
            if not new:
                return row.hold()
            items = self._account_items(acc, now)
            hold = {**self._hold_item(row, now), "program_version": program_version, "cart": cart}  # R9
            items.append(("hold", self._put_new(hold)))
            for previous in replaced:
                items.extend(("released", item) for item in (released(previous) if released else []))
            return self._commit(items, row.hold(), recording, f"hold {redemption_id}")

        return self._retrying(attempt)

    def hold_points_recorded(
        self,
        member_id: str,
        redemption_id: str,
        points: int,
        *,
        order_total: Any,
        expires_at: datetime,
        currency: str | None = None,
        record: Callable[[Hold], Sequence[TransactWriteItemTypeDef]],
        cart: str | None = None,
        released: Callable[[str], Sequence[TransactWriteItemTypeDef]] | None = None,
    ) -> tuple[Hold, bool]:
        """``hold_points`` writing ``record(hold)`` (the bridge's redemption record) in the
        hold's transaction (services/new_changes.RecordsNewChanges), and replacing the
        cart's previous hold in it."""
        recording = Recording(record)
        hold = self.hold_points(
            member_id,
            redemption_id,
            points,
            order_total=order_total,
            expires_at=expires_at,
            currency=currency,
            recording=recording,
            cart=cart,
            released=released,
        )
        return hold, recording.written

    @staticmethod
    def _release_cart(acc: Account, cart: str | None, redemption_id: str, now: datetime) -> list[str]:
        """Release the cart's open holds on ``acc`` (in memory: the hold's transaction writes
        it) for a new hold ``redemption_id``; their ids (none for a replay of that hold)."""
        if cart is None or redemption_id in acc.holds:
            return []
        replaced = [
            row.redemption_id
            for row in list(acc.holds.values())
            if row.cart == cart and row.state == account_rules.OPEN
        ]
        return [rid for rid in replaced if account_rules.release_hold(acc, rid, now)]

    def _hold_item(self, row: HeldPoints, now: datetime) -> dict[str, Any]:
        return {
            "pk": member_pk(row.member_id),
            "sk": f"HOLD#{row.redemption_id}",
            "redemption_id": row.redemption_id,
            "points": row.points,
            "discount": row.discount,
            "expires_at": iso(row.expires_at),
            "state": "open",
            "created_at": iso(now),
            "gsi1pk": OPEN_HOLDS_INDEX,
            "gsi1sk": f"{iso(row.expires_at)}#{row.member_id}#{row.redemption_id}",
        }

    def _release(self, member_id: str, redemption_id: str, *, only_expired_at: datetime | None) -> bool:
        def attempt() -> bool:
            now = self._clock()
            acc = self._load(member_id)
            if not account_rules.release_hold(acc, redemption_id, now, only_expired_at=only_expired_at):
                return False
            self._transact_or_retry(self._account_items(acc, now))
            return True

        return self._retrying(attempt)

    def release_hold(self, member_id: str, redemption_id: str) -> None:
        self._release(self._owner_id(member_id), redemption_id, only_expired_at=None)

    def release_expired_holds(self, now: datetime | None = None) -> int:
        """The sweeper (hold_sweeper): give back the points of every hold expired by ``now``."""
        moment = now or self._clock()
        released = 0
        for item in list(self._query_index(OPEN_HOLDS_INDEX, until=iso(moment) + "~")):
            member_id = str(item["pk"]).removeprefix("MEMBER#")
            if self._release(member_id, str(item["redemption_id"]), only_expired_at=moment):
                released += 1
        return released
