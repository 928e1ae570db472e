"""The balance the login summary reads on platforms it must not call (REST): one place.

The login summary (A6, services/summary.py ``SnapshotBalances``) reads a member's points from
a snapshot in BridgeTable. Every balance change the bridge makes or learns of goes through
``BalanceRecorder.moved`` in the same step, so the summary shows it at once (seed 000: "When
a web order is made, their points will update immediately"):

- join, attach, phone confirm, merge (A8): ``Linker.link`` / ``relink`` (services/membership.py);
- order (C4), refund and cancellation (C5), in the API and in the order worker:
  ``OrderService._credited`` / ``_reversed`` (services/orders.py);
- hold and release (C2): ``CheckoutService.hold`` / ``release`` (services/checkout.py);
- reward redeemed for a coupon (R4): ``RewardsService.redeem`` (services/rewards.py).

What is kept is the platform's own ``get_balance``, read once right after the change: the
answers of writes carry the new point balance (``OrderResult.balance``,
``ReversalResult.balance``) but not what moves with it (pending points, held points, tier and
the spend to the next one, the next expiry), and the summary shows all of those. The port
promises that a write's answered balance is what ``get_balance`` reads right after it (the
contract suite checks every adapter). When that read fails, the answered balance (if any) is
laid over the last snapshot, so the points at least are right; the rest catches up with the
next change. A failed refresh never fails the change itself: the points have moved.

The built-in ledger needs none of this (its summary reads the ledger, updated in the same
transaction as the points): wiring gives services no recorder there, unless Mailchimp is
on: ``on_moved`` is told of every change too (P6: services/loyalty_reach.py queues the
refresh of the member's loyalty merge fields), with no snapshots on the ledger.
"""

from __future__ import annotations

from collections.abc import Callable

from loyalty_bridge import errors
from loyalty_bridge.observability import logger
from loyalty_bridge.ports import BalanceSnapshots, LoyaltyPlatform
from loyalty_bridge.privacy import pseudonym


class BalanceRecorder:
    """Keeps ``snapshots`` in step with ``platform`` for the login summary."""

    def __init__(
        self,
        platform: LoyaltyPlatform,
        snapshots: BalanceSnapshots | None,
        *,
        on_moved: Callable[[str, str | None], None] | None = None,
    ) -> None:
        self._platform = platform
        self._snapshots = snapshots
        self._on_moved = on_moved

    def moved(
        self,
        member_id: str,
        *,
        balance: int | None = None,
        customer_id: str | None = None,
        announce: bool = True,
    ) -> None:
        """The member's points just changed (``balance``: the new balance the change
        answered, when it says one). Reads the balance once and keeps it; never raises.
        ``announce``: False when the caller's own full push carries the loyalty data (P6:
        a join's snapshot), so the move queues no refresh of its own."""
        if self._on_moved is not None and announce:
            try:
                self._on_moved(member_id, customer_id)
            except errors.BridgeError as exc:  # the points have moved: never fail the change
                logger.warning("points change not announced", extra={"code": exc.code})
        if self._snapshots is None:
            return
        try:
            self._snapshots.put(self._platform.get_balance(member_id))
            return
        except errors.BridgeError as exc:
            logger.warning(
                "balance snapshot not refreshed", extra={"code": exc.code, "member": pseudonym(member_id)}
            )
        if balance is not None:
            self._lay_over(member_id, balance)

    def _lay_over(self, member_id: str, balance: int) -> None:
        if self._snapshots is None:
            return
        try:
            last = self._snapshots.get(member_id)
            if last is not None and last.balance != balance:
                self._snapshots.put(last.model_copy(update={"balance": balance}))
        except errors.BridgeError as exc:
            logger.warning(
                "balance snapshot not updated", extra={"code": exc.code, "member": pseudonym(member_id)}
            )
