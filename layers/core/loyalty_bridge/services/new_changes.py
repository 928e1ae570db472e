"""Orders and reversals the bridge has no record of asking for before (C4, C5, C6).

The built-in ledger writes each change once under its business id and, asked again,
answers what it answered the first time; to know, it reads for that earlier answer before
it computes. When the bridge has just stored the order record (or has no reversal record),
the change is new as far as the bridge knows, so a platform that offers it is asked
without that read (a replay the bridge did not know of is still found: the ledger's write
is refused on the entry and its retry reads the first answer).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from loyalty_bridge.models.domain import OrderResult, PlatformOrder, Reversal, ReversalResult
from loyalty_bridge.ports import LoyaltyPlatform


@runtime_checkable
class KnowsNewChanges(Protocol):
    def post_new_order(self, member_id: str, order: PlatformOrder) -> OrderResult: ...

    def reverse_new(self, member_id: str, reversal: Reversal) -> ReversalResult: ...


def post_order(platform: LoyaltyPlatform, member_id: str, order: PlatformOrder, *, new: bool) -> OrderResult:
    if new and isinstance(platform, KnowsNewChanges):
        return platform.post_new_order(member_id, order)
    return platform.post_order(member_id, order)


def reverse(platform: LoyaltyPlatform, member_id: str, reversal: Reversal, *, new: bool) -> ReversalResult:
    if new and isinstance(platform, KnowsNewChanges):
        return platform.reverse_new(member_id, reversal)
    return platform.reverse(member_id, reversal)
