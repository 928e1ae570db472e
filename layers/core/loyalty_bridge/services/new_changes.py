"""Orders, reversals and holds the bridge has no record of asking for before (C2, C4-C6).

The built-in ledger writes each change once under its business id and, asked again,
answers what it answered the first time; to know, it reads for that earlier answer before
it computes. When the bridge has just stored the order record (or has no reversal record),
the change is new as far as the bridge knows, so a platform that offers it is asked
without that read (a replay the bridge did not know of is still found: the ledger's write
is refused on the entry and its retry reads the first answer).

A new order on the built-in ledger goes one step further (issue 19's AWS-call floor): the
ledger writes the bridge's order record, with its credit, in the order's own transaction
(``RecordsNewChanges`` + ``ChangeRecordItems``), so the record is never written apart from
the credit it records; a refund's or cancel's record likewise, and a new hold's
redemption record (C2), the hold releasing the cart's previous hold in the same
transaction (the ledger's hold items name their cart, so no cart pointer is kept). An
order's or reversal's record is put under ``attribute_not_exists``: a record already there
(a repeat, or an order queued meanwhile) cancels the transaction with
``errors.RecordExists``, and the caller goes the usual way (an order: create the record,
then post; a reversal: ask for its first answer). Each of these transactions may also
complete the request's idempotency record with its answer (answers.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from loyalty_bridge.models.checkout_records import OrderRecord, RedemptionRecord, ReversalRecord
from loyalty_bridge.models.domain import (
    Consents,
    Hold,
    Member,
    OrderResult,
    PlatformOrder,
    ProfileChanges,
    Reversal,
    ReversalResult,
)
from loyalty_bridge.ports import CheckoutStore, LoyaltyPlatform


@runtime_checkable
class KnowsNewChanges(Protocol):
    def post_new_order(self, member_id: str, order: PlatformOrder) -> OrderResult: ...

    def reverse_new(self, member_id: str, reversal: Reversal) -> ReversalResult: ...


@runtime_checkable
class RecordsNewChanges(Protocol):
    def post_new_order_recorded(
        self,
        member_id: str,
        order: PlatformOrder,
        record: Callable[[OrderResult], Sequence[Any]],
    ) -> tuple[OrderResult, bool]:
        """``post_new_order`` with ``record(result)``'s items (a CheckoutStore's, below) in
        the order's transaction. Answers the result and whether they were written with it
        (False: the answer of an earlier delivery, whose record this call did not write).
        Raises errors.RecordExists when the record's item is there already."""
        ...

    def reverse_new_recorded(
        self,
        member_id: str,
        reversal: Reversal,
        record: Callable[[ReversalResult], Sequence[Any]],
        read: Sequence[Any] | None = None,
    ) -> tuple[ReversalResult, bool]:
        """``reverse_new`` with the reversal's record, as ``post_new_order_recorded``.
        ``read``: the items at its ``reversal_reads`` (``ReadsForReversal``), read by the
        caller with the order's record."""
        ...

    def hold_points_recorded(
        self,
        member_id: str,
        redemption_id: str,
        points: int,
        *,
        order_total: Any,
        expires_at: datetime,
        currency: str | None = None,
        record: Callable[[Hold], Sequence[Any]],
        cart: str | None = None,
        released: Callable[[str], Sequence[Any]] | None = None,
    ) -> tuple[Hold, bool]:
        """``hold_points`` with the hold's redemption record (C2), as above. ``cart``: the
        cart's open hold is released in the same transaction, its record marked by
        ``released(its redemption id)``'s items (one hold per cart, no pointer kept)."""
        ...


@runtime_checkable
class ChangeRecordItems(Protocol):
    def credited_order_items(self, record: OrderRecord, member_id: str, result: OrderResult) -> list[Any]:
        """The transaction items of a new order record credited with ``result``."""
        ...

    def reversal_items(self, order_id: str, reversal: ReversalRecord) -> list[Any]:
        """The transaction items of a new reversal record of the order."""
        ...

    def redemption_items(self, record: RedemptionRecord) -> list[Any]:
        """The transaction items of a new hold's redemption record."""
        ...

    def released_redemption_items(self, redemption_id: str) -> list[Any]:
        """The transaction items marking a hold's redemption record released."""
        ...

    def captured_redemption_items(self, redemption_id: str, order_id: str) -> list[Any]:
        """The transaction items marking a hold's redemption record captured by its order."""
        ...


@runtime_checkable
class RecordsSyncState(Protocol):
    """A platform that writes the bridge's sync state of a profile change in the change's
    own transaction (the built-in ledger): the sync worker then makes no write of its own
    for it (issue 19). A state item whose condition fails is left out; ``False`` answers
    that the caller marks the fields itself."""

    def update_profile_recorded(
        self,
        member_id: str,
        changes: ProfileChanges,
        *,
        idempotency_key: str,
        record: Sequence[Any],
        read: Sequence[Any] | None = None,
    ) -> tuple[Member, bool]:
        """``read``: the items at ``ReadsForProfile.profile_reads(member_id)``, read by the
        caller with its own (the first attempt uses them)."""
        ...

    def set_consents_recorded(
        self, member_id: str, consents: Consents, *, idempotency_key: str, record: Sequence[Any]
    ) -> bool: ...


@runtime_checkable
class SyncStateItems(Protocol):
    def applied_items(self, customer_id: str, target: str, version: int, fields: Sequence[str]) -> list[Any]:
        """The transaction items of ``mark_applied`` (fields only)."""
        ...


@runtime_checkable
class ReadsForReversal(Protocol):
    def reversal_reads(self, order_id: str) -> list[dict[str, Any]]:
        """What a reversal of the order reads besides the member's account (``{"TableName",
        "Key"}`` each), for the caller to read with its record of the order."""
        ...


@runtime_checkable
class ReadsForProfile(Protocol):
    def profile_reads(self, member_id: str) -> list[dict[str, Any]]:
        """What a profile update of the member reads (``{"TableName", "Key"}`` each), for
        the sync worker to read with the customer's record and sync state."""
        ...


@runtime_checkable
class ReadsOrderWith(Protocol):
    def get_order_for_reversal(
        self, order_id: str, reversal_id: str, also: Sequence[Mapping[str, Any]] = ()
    ) -> tuple[OrderRecord | None, list[Any]]: ...


def order_for_reversal(
    platform: object, store: CheckoutStore, order_id: str, reversal_id: str
) -> tuple[OrderRecord | None, list[Any] | None]:
    """The order's record for a refund or cancel of it (its reversals: ``reversal_id``'s,
    if made) and, on the built-in ledger, the ledger's own read for the reversal, in one
    call; None for that read when the platform reads for itself."""
    if isinstance(platform, ReadsForReversal) and isinstance(store, ReadsOrderWith):
        return store.get_order_for_reversal(order_id, reversal_id, platform.reversal_reads(order_id))
    return store.get_order(order_id), None


def records_changes(platform: object, store: object) -> bool:
    """Whether the platform writes the store's records in its own transactions."""
    return isinstance(platform, RecordsNewChanges) and isinstance(store, ChangeRecordItems)


def post_order(platform: LoyaltyPlatform, member_id: str, order: PlatformOrder, *, new: bool) -> OrderResult:
    if new and isinstance(platform, KnowsNewChanges):
        return platform.post_new_order(member_id, order)
    return platform.post_order(member_id, order)


def reverse(platform: LoyaltyPlatform, member_id: str, reversal: Reversal, *, new: bool) -> ReversalResult:
    if new and isinstance(platform, KnowsNewChanges):
        return platform.reverse_new(member_id, reversal)
    return platform.reverse(member_id, reversal)
