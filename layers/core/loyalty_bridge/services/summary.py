"""Login summary (A6) from the bridge's own store: no remote platform call on this path.

Reads: the customer record (one GetItem), then, for a joined customer, the balance from a
``BalanceSource`` (one more read):
- built-in ledger: the ledger adapter itself; its ``get_balance`` reads the member's own
  partition (one Query: balance, holds, pending lots), which every points movement updates
  in the same transaction, so it is never stale and there is no second copy to keep in step;
- REST platform: ``SnapshotBalances`` below, the balance the bridge read right after the
  last change it made or learnt of (services/balances.py: join, attach, merge, order,
  refund, cancel, hold, release, reward, each in the same step); only a missing snapshot
  costs one platform call, once.

The balance also says whether the member is accumulate-only (A9) and their referral code
(R5). Progress to the next reward (R4) prices the points against the reward catalogue
(``RewardCatalogue``: the ledger's configuration, or the REST adapter's cached copy of the
platform's); a catalogue that cannot be read leaves ``next_reward`` out, never the summary.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from loyalty_bridge import errors
from loyalty_bridge.models.api_membership import (
    CardView,
    Expiry,
    LoyaltySummary,
    NextRewardView,
    PointsView,
    ReferralView,
    TierView,
)
from loyalty_bridge.models.domain import Balance, CardKind, CardState, LoyaltyStatus, Reward
from loyalty_bridge.models.records import CustomerRecord, utcnow
from loyalty_bridge.observability import logger
from loyalty_bridge.ports import (
    BalanceSnapshots,
    BalanceSource,
    CustomerRepository,
    LoyaltyPlatform,
    ProgramSource,
)
from loyalty_bridge.program.earn_rules import ProgramRules
from loyalty_bridge.program.referrals import referral_link
from loyalty_bridge.program.rewards import next_reward
from loyalty_bridge.services.membership import REASON_ATTACH_EXPIRED, RecordUpdater
from loyalty_bridge.settings import Settings


def points_view(balance: Balance, point_value: Decimal) -> PointsView:
    """The points as the summary shows them (A6; R3: the next expiry)."""
    expiry = None
    if balance.next_expiry_on is not None and balance.next_expiry_points:
        expiry = Expiry(points=balance.next_expiry_points, on=balance.next_expiry_on)
    return PointsView(
        balance=balance.balance,
        pending=balance.pending,
        # A9: accumulate-only members cannot redeem yet.
        redeemable=0 if balance.accumulate_only else balance.available,
        point_value=point_value,
        next_expiry=expiry,
    )


def tier_view(balance: Balance, discount_percent: Decimal | None = None) -> TierView | None:
    if not balance.tier:
        return None
    return TierView(
        name=balance.tier,
        next=balance.next_tier,
        spend_to_next=balance.spend_to_next_tier,
        discount_percent=discount_percent,  # R9: a discount program's tier percentage
    )


class RewardCatalogue(Protocol):
    """The rewards priced in points (R4): ``LoyaltyPlatform.rewards``."""

    def rewards(self) -> list[Reward]: ...


class SnapshotBalances:
    """BalanceSource for platforms that must not be called on the login path."""

    def __init__(self, snapshots: BalanceSnapshots, platform: LoyaltyPlatform) -> None:
        self._snapshots = snapshots
        self._platform = platform

    def get_balance(self, member_id: str) -> Balance:
        snapshot = self._snapshots.get(member_id)
        if snapshot is not None:
            return snapshot
        balance = self._platform.get_balance(member_id)
        self._snapshots.put(balance)
        return balance


class SummaryService:
    def __init__(
        self,
        customers: CustomerRepository,
        balances: BalanceSource,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        rewards: RewardCatalogue | None = None,
        program: ProgramSource | None = None,
    ) -> None:
        # ``program``: the versioned program (R9) for the point value and a discount
        # program's percentage off; None: settings'.
        self._program = program
        self._updater = RecordUpdater(customers)
        self._balances = balances
        self._settings = settings
        self._clock = clock
        self._rewards = rewards

    def summary(self, customer_id: str) -> LoyaltySummary:
        return self.of(self._updater.load(customer_id))

    def of(self, record: CustomerRecord) -> LoyaltySummary:
        status, reason = record.status, record.status_reason
        if (
            status is LoyaltyStatus.VERIFYING
            and record.verifying_until is not None
            and record.verifying_until <= self._clock()
        ):
            # The emailed code lapsed unused: the customer may join or attach again.
            status, reason = LoyaltyStatus.NOT_JOINED, REASON_ATTACH_EXPIRED
        if status is not LoyaltyStatus.JOINED or not record.member_id or not record.card_number:
            not_joined = status is LoyaltyStatus.NOT_JOINED
            return LoyaltySummary(
                customer_id=record.customer_id,
                status=status,
                join_prompt=not_joined,
                reason=reason if not_joined else None,
            )
        try:
            balance = self._balances.get_balance(record.member_id)
        except errors.NotFound:
            balance = Balance(member_id=record.member_id, balance=0)
        referral = None
        if balance.referral_code:
            referral = ReferralView(
                code=balance.referral_code,
                link=referral_link(self._settings.referral_base_url, balance.referral_code),
            )
        rules = self._program.current()[1] if self._program is not None else None  # one read
        return LoyaltySummary(
            customer_id=record.customer_id,
            status=LoyaltyStatus.JOINED,
            join_prompt=False,
            card=CardView(
                number=record.card_number,
                kind=CardKind(record.card_kind or CardKind.VIRTUAL),
                state=CardState(record.card_state) if record.card_state else None,  # A10: blocked
            ),
            points=points_view(balance, self._settings.point_value if rules is None else rules.point_value),
            tier=tier_view(balance, _discount_percent(rules, balance.tier) if balance.tier else None),
            next_reward=self._next_reward(balance),
            referral=referral,
            accumulate_only=balance.accumulate_only,
        )

    def _next_reward(self, balance: Balance) -> NextRewardView | None:
        if self._rewards is None:
            return None
        try:
            catalogue = self._rewards.rewards()
        except errors.BridgeError as exc:
            logger.warning("reward catalogue unavailable", extra={"code": exc.code})
            return None
        found = next_reward(catalogue, balance.available)
        if found is None:
            return None
        return NextRewardView(
            name=found.reward.name,
            points_required=found.reward.points,
            points_needed=found.points_needed,
            progress=float(found.progress),
        )


def _discount_percent(rules: ProgramRules | None, tier_name: str) -> Decimal | None:
    """R9: the member's tier's percentage off, when the program is a discount program."""
    if rules is None:
        return None
    tier = next((tier for tier in rules.tiers if tier.name == tier_name), None)
    return rules.discount_percent_for(tier.min_spend if tier else Decimal(0))
