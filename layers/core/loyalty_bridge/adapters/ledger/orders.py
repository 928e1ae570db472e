"""Orders (C4) and reversals (C5) of the built-in ledger. An order is one transaction: its
entry, the ORDER record, the account (hold captured, points credited or pending), the
referrer's bonus (R5) and the coupon it used (R4).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from loyalty_bridge.adapters.ledger.accounts import StoredAccount
from loyalty_bridge.adapters.ledger.rewards import LedgerRewards
from loyalty_bridge.adapters.ledger.table import Item, Labelled, Recording, from_av, key
from loyalty_bridge.models.domain import CouponStanding, OrderResult, PlatformOrder, Reversal, ReversalResult
from loyalty_bridge.observability import logger
from loyalty_bridge.program import orders as order_rules
from loyalty_bridge.program.account import settle
from loyalty_bridge.program.earn_rules import Earn
from loyalty_bridge.program.orders import REFERRER_SETTLE_LIMIT, OrderRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


def _order_record(item: Item) -> OrderRecord:
    return OrderRecord(
        member_id=str(item["member_id"]),
        earn=Earn.model_validate_json(item["earn"]),
        redeemed=int(item["redeemed"]),
        returned=int(item["returned"]),
        reversed_qty=json.loads(item["reversed"]),
        order_points_reversed=bool(item["order_points_reversed"]),
        version=int(item["version"]),
        store_id=item.get("store_id"),
    )


def _order_result(entry: Item) -> OrderResult:
    return OrderResult.model_validate_json(entry["result"])


def _reversal_result(entry: Item) -> ReversalResult:
    return ReversalResult.model_validate_json(entry["result"])


class LedgerOrders(LedgerRewards):
    def post_order(self, member_id: str, order: PlatformOrder) -> OrderResult:
        return self._post_order(member_id, order, new=False)

    def post_new_order(self, member_id: str, order: PlatformOrder) -> OrderResult:
        """``post_order`` of an order the bridge has no record of posting before (its order
        record was just created): no read for an earlier answer first (a replay is still
        answered as the first time: services/orders.KnowsNewChanges)."""
        return self._post_order(member_id, order, new=True)

    def post_new_order_recorded(
        self,
        member_id: str,
        order: PlatformOrder,
        record: Callable[[OrderResult], Sequence[TransactWriteItemTypeDef]],
    ) -> tuple[OrderResult, bool]:
        """``post_new_order`` writing ``record(result)`` (the bridge's order record, on
        BridgeTable) in the same transaction (services/new_changes.RecordsNewChanges)."""
        recording = Recording(record)
        result = self._post_order(member_id, order, new=True, recording=recording)
        return result, recording.written

    def _post_order(
        self,
        member_id: str,
        order: PlatformOrder,
        *,
        new: bool,
        recording: Recording[OrderResult] | None = None,
    ) -> OrderResult:
        entry_id = order_rules.order_entry_id(order.order_id)

        def attempt() -> OrderResult:
            acc, now = self._owner_now(member_id)
            program_version, rules = self._priced()
            credited = order_rules.credit_order(
                acc, rules, order, pending_days=self._settings.pending_days, now=now
            )
            items: Labelled = []
            if credited.captured is not None:
                row = credited.captured
                items.append(("hold", self._close_hold(acc.member_id, row.redemption_id, row.state, now)))
            if credited.lot is not None:
                items.append(("lot", self._put_new(self._lot_item(acc.member_id, credited.lot))))
            coupon_items, coupon_refused = self._coupon_items(acc.member_id, order)
            result, entry = credited.answer(coupon_refused)
            items.append(("entry", self._entry(entry, now, program_version=program_version)))
            order_item = self._order_item(order.order_id, credited.record)
            order_item["program_version"] = program_version  # its reversals are priced by it
            items.append(("order", self._put_new(order_item)))
            items.extend(self._account_items(acc, now))
            items.extend(self._referral_items(acc, now))
            items.extend(coupon_items)
            return self._commit(items, result, recording, f"order {order.order_id}")

        return self._once(f"ENTRY#{entry_id}", _order_result, attempt, new=new)

    def _order_item(self, order_id: str, record: OrderRecord) -> Item:
        return {
            "pk": f"ORDER#{order_id}",
            "sk": "ORDER",
            "member_id": record.member_id,
            "earn": record.earn.model_dump_json(),
            "redeemed": record.redeemed,
            "returned": record.returned,
            "reversed": json.dumps(record.reversed_qty, sort_keys=True),
            "order_points_reversed": record.order_points_reversed,
            "version": record.version,
            "store_id": record.store_id,  # None is left out
        }

    def _coupon_items(self, owner_id: str, order: PlatformOrder) -> tuple[Labelled, CouponStanding | None]:
        """R4: the coupon an order uses is spent in the order's own transaction (so a coupon
        is spent exactly once, with its order); one it may not use is answered as refused."""
        found = self._coupon(order.promo_code)
        if found is None:
            return [], None
        holder_owner, item, coupon = found
        used, refused = order_rules.use_coupon(coupon, yours=holder_owner == owner_id)
        if used is None:
            status = refused.value if refused else None
            logger.warning(
                "order named a coupon it may not use", extra={"order_id": order.order_id, "coupon": status}
            )
            return [], refused
        write = self._update(
            str(item["pk"]),
            str(item["sk"]),
            "SET coupon = :used",
            {":used": used.model_dump_json(), ":seen": item["coupon"]},
            condition="coupon = :seen",  # a concurrent use cancels: re-read
        )
        return [("coupon", write)], None

    def _referral_items(self, referred: StoredAccount, now: datetime) -> Labelled:
        """R5: the referrer's bonus, written with the referred member's first credited order."""
        referred_by = order_rules.referrer_owed_bonus(self._rules, referred)
        if referred_by is None:
            return []
        if self._get(f"ENTRY#{order_rules.referral_entry_id(referred.member_id)}", "ENTRY") is not None:
            return []
        referrer_id = self._owner_id(referred_by)
        referrer = (
            referred
            if referrer_id == referred.member_id
            else settle(self._load(referrer_id), now, limit=REFERRER_SETTLE_LIMIT)
        )
        program_version, rules = self._priced()
        entry = order_rules.credit_referral_bonus(rules, referrer, referred.member_id, now)
        if entry is None:
            return []
        referral = self._entry(entry, now, program_version=program_version)
        return [("referral", referral), *self._account_items(referrer, now)]

    def reverse(self, member_id: str, reversal: Reversal) -> ReversalResult:
        return self._reverse(member_id, reversal, new=False)

    def reverse_new(self, member_id: str, reversal: Reversal) -> ReversalResult:
        """``reverse`` of a refund or cancel the bridge has no record of (as post_new_order)."""
        return self._reverse(member_id, reversal, new=True)

    def reverse_new_recorded(
        self,
        member_id: str,
        reversal: Reversal,
        record: Callable[[ReversalResult], Sequence[TransactWriteItemTypeDef]],
        read: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> tuple[ReversalResult, bool]:
        """``reverse_new`` writing ``record(result)`` (the bridge's reversal record) in the
        same transaction, as ``post_new_order_recorded``. ``read``: the items at
        ``reversal_reads``, read by the caller with its own (services/new_changes.py)."""
        recording = Recording(record)
        ahead = (from_av(read[0]) if read[0] is not None else None,) if read else None
        result = self._reverse(member_id, reversal, new=True, recording=recording, read=ahead)
        return result, recording.written

    def reversal_reads(self, order_id: str) -> list[dict[str, Any]]:
        """What a reversal of ``order_id`` reads beside the member's account (its ORDER item),
        for a caller that reads it with its own record of the order in one call."""
        return [{"TableName": self._table, "Key": key(f"ORDER#{order_id}", "ORDER")}]

    def _reverse(
        self,
        member_id: str,
        reversal: Reversal,
        *,
        new: bool,
        recording: Recording[ReversalResult] | None = None,
        read: tuple[Item | None] | None = None,
    ) -> ReversalResult:
        """``read``: the ORDER item as read before this call (the first attempt uses it: the
        transaction's version check on it sends a stale one back to a fresh read)."""
        entry_id = reversal.key  # refund ids are only unique within their order
        ahead = [read] if read is not None else []

        def attempt() -> ReversalResult:
            acc, now = self._owner_now(member_id)
            found = ahead.pop()[0] if ahead else self._get(f"ORDER#{reversal.order_id}", "ORDER")
            stored = _order_record(found) if found is not None else None
            owner = self._owner_of(stored.member_id, acc) if stored is not None else None
            record = order_rules.order_of(acc, stored, owner)
            outcome = order_rules.reverse_order(acc, record, reversal, now)
            items: Labelled = []
            if outcome.lot is not None:
                lot = outcome.lot
                change = (
                    self._put(self._lot_item(acc.member_id, lot))
                    if lot.points
                    else self._delete_lot(acc.member_id, lot)
                )
                items.append(("lot", change))
            items.append(("order", self._order_update(reversal.order_id, record, outcome.result.shortfall)))
            # R9: a reversal takes back what the order's version priced.
            priced = found.get("program_version") if found is not None else None
            program_version = int(priced) if priced is not None else self._priced()[0]
            items.append(("entry", self._entry(outcome.entry, now, program_version=program_version)))
            items.extend(self._account_items(acc, now))
            return self._commit(items, outcome.result, recording, f"reversal {reversal.key}")

        return self._once(f"ENTRY#{entry_id}", _reversal_result, attempt, new=new)

    def _order_update(self, order_id: str, record: OrderRecord, shortfall: int) -> TransactWriteItemTypeDef:
        version = record.version
        return self._update(
            f"ORDER#{order_id}",
            "ORDER",
            "SET reversed = :r, order_points_reversed = :o, returned = :ret, version = :next, "
            "shortfall = if_not_exists(shortfall, :zero) + :short",
            {
                ":r": json.dumps(record.reversed_qty, sort_keys=True),
                ":o": record.order_points_reversed,
                ":ret": record.returned,
                ":next": version + 1,
                ":seen": version,
                ":zero": 0,
                ":short": shortfall,
            },
            condition="version = :seen",
        )
