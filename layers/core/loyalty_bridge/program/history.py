"""The history of a member's points (R8), the program's side: the sentence each movement
shows (``describe``), a stored entry as the port answers it (``activity_entry``) and the
opaque cursor of a page (``encode_cursor`` / ``decode_cursor``).

Every platform that keeps its own entries (the built-in ledger, the test platform) and the
REST adapter (whose contract carries no sentence) use these, so a storefront shows the same
words whichever platform runs the program.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from loyalty_bridge.errors import InvalidInput
from loyalty_bridge.models.activity import ActivityEntry
from loyalty_bridge.models.domain import ActivityKind

_CURSOR_VERSION = 1
_SORT_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}T[0-9:.+-]{8,40}#[\x21-\x7e]{1,300}$")


def _points(n: int) -> str:
    return f"{n:,} point" + ("" if n == 1 else "s")


def _order(order_id: str | None) -> str:
    return f"Order {order_id}" if order_id else "An order"


def describe(kind: ActivityKind, *, points_in: int, points_out: int, refs: Mapping[str, str | None]) -> str:
    """A short sentence a storefront shows as it is, e.g. ``Order o-1: 39 points earned``."""
    order = _order(refs.get("order_id"))
    match kind:
        case ActivityKind.EARNED | ActivityKind.REDEEMED:
            parts = [f"{_points(points_in)} earned"] if points_in or not points_out else []
            if points_out:
                parts.append(f"{_points(points_out)} redeemed")
            return f"{order}: {', '.join(parts)}"
        case ActivityKind.REVERSED | ActivityKind.RETURNED:
            what = f"refund {refs['refund_id']}" if refs.get("refund_id") else "cancelled"
            parts = [f"{_points(points_out)} taken back"] if points_out or not points_in else []
            if points_in:
                parts.append(f"{_points(points_in)} given back")
            return f"{order} {what}: {', '.join(parts)}"
        case ActivityKind.EXPIRED:
            return f"{_points(points_out)} expired"
        case ActivityKind.ADJUSTED:
            return (
                f"{_points(points_in)} added by the store"
                if points_in
                else f"{_points(points_out)} deducted by the store"
            )
        case ActivityKind.REFERRAL_BONUS:
            return f"Referral bonus: {_points(points_in)} for a friend's first order"
        case ActivityKind.REWARD:
            reward = f"Reward {refs['reward_id']}" if refs.get("reward_id") else "A reward"
            return f"{reward}: {_points(points_out)} spent"
        case ActivityKind.MERGED_IN:
            return f"{_points(points_in)} moved in from another card"
        case ActivityKind.MERGED_OUT:
            return f"{_points(points_out)} moved to your main card"
        case ActivityKind.REPLACED:
            moved = points_in or points_out
            return f"Card replaced: {_points(moved)} moved to the new card" if moved else "Card replaced"
        case ActivityKind.OPENING:
            return f"Opening balance: {_points(points_in)} brought over from your earlier card"
    return f"{_points(points_in - points_out)}"  # pragma: no cover - every kind is matched


REF_FIELDS = ("order_id", "refund_id", "redemption_id", "reward_id", "store_id", "staff_id")


def activity_entry(
    *,
    entry_id: str,
    at: datetime,
    kind: ActivityKind,
    points_in: int,
    points_out: int,
    balance_after: int,
    refs: Mapping[str, Any],
) -> ActivityEntry:
    """A stored movement as the history answers it, with its sentence."""
    ids = {name: (str(refs[name]) if refs.get(name) else None) for name in REF_FIELDS}
    return ActivityEntry(
        entry_id=entry_id,
        at=at,
        kind=kind,
        points=points_in - points_out,
        points_in=points_in,
        points_out=points_out,
        balance_after=max(balance_after, 0),
        description=describe(kind, points_in=points_in, points_out=points_out, refs=ids),
        **ids,
    )


def encode_cursor(sort_key: str) -> str:
    """The next page starts after the entry whose sort key (``{at}#{entry_id}``) is this."""
    raw = json.dumps({"v": _CURSOR_VERSION, "after": sort_key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The sort key a cursor names; InvalidInput (422 ``invalid_cursor``) for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        sort_key = data["after"] if isinstance(data, dict) and data.get("v") == _CURSOR_VERSION else None
    except (ValueError, binascii.Error, UnicodeError, KeyError, TypeError):
        sort_key = None
    if not isinstance(sort_key, str) or not _SORT_KEY.match(sort_key):
        raise InvalidInput(
            "The cursor is not one this history answered.",
            code="invalid_cursor",
            errors=[{"field": "cursor", "message": "invalid cursor"}],
        )
    return sort_key
