"""Rewards (R4), the program's side: coupon codes, the check of a promo code that is a
coupon (``coupon_check``, every platform applies it), progress to the next reward, and the
built-in platform's redemption of points for a coupon (pure, over ``program.account``).

Shared by the platforms (the built-in ledger, the test platform) and the login summary;
the storefront's use case (redeem, list coupons) is ``services/rewards.py``.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from loyalty_bridge.errors import InsufficientPoints, RewardNotFound
from loyalty_bridge.models.domain import (
    ActivityKind,
    Coupon,
    CouponCheck,
    CouponStanding,
    CouponStatus,
    Reward,
)
from loyalty_bridge.program.account import Account, Entry, check_card, debit, may_redeem
from loyalty_bridge.program.earn_rules import ProgramRules

# Crockford base32 without I, L, O, U: easy to read out and to type.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_COUPON_CHARS = 16  # 80 random bits: unguessable


def new_coupon_code() -> str:
    """An unguessable coupon code, e.g. ``LB-7K3M-Q9XD-2HVT-A8RC``."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(_COUPON_CHARS))
    return "LB-" + "-".join(raw[i : i + 4] for i in range(0, _COUPON_CHARS, 4))


def coupon_code(promo_code: str | None) -> str:
    """The coupon code a promo code would be ("" for none): matched trimmed, upper case."""
    return (promo_code or "").strip().upper()


def coupon_check(coupon: Coupon, *, yours: bool) -> CouponCheck:
    """R4, the rule every platform applies to a promo code that is a loyalty coupon: the
    member's own coupon is usable while available; one used already, or another member's
    (``yours`` False; a guest's basket too), is refused: the order that names it does not
    use it, and still earns nothing as with any promo code (C3)."""
    if not yours:
        status = CouponStanding.NOT_YOURS
    elif coupon.status is CouponStatus.USED:
        status = CouponStanding.USED
    else:
        status = CouponStanding.AVAILABLE
    return CouponCheck(
        code=coupon.code, status=status, reward=coupon.reward_id, kind=coupon.kind, value=coupon.value
    )


@dataclass(frozen=True)
class NextReward:
    reward: Reward
    points_needed: int
    progress: Decimal  # 0..1, two decimals


def next_reward(rewards: Sequence[Reward], points: int) -> NextReward | None:
    """The cheapest reward ``points`` cannot buy yet (the summary's progress bar); when every
    reward is within reach, the dearest one (needed 0, progress 1)."""
    if not rewards:
        return None
    by_price = sorted(rewards, key=lambda reward: (reward.points, reward.reward_id))
    target = next((reward for reward in by_price if reward.points > points), by_price[-1])
    needed = max(target.points - max(points, 0), 0)
    progress = min(Decimal(max(points, 0)) / Decimal(target.points), Decimal(1))
    return NextReward(
        reward=target, points_needed=needed, progress=progress.quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    )


# ---------------------------------------------------------------------------- redeeming (built-in platform)


def reward_to_redeem(rules: ProgramRules, reward_id: str) -> Reward:
    reward = rules.reward(reward_id)
    if reward is None:
        raise RewardNotFound("no such reward")
    return reward


def redeem_reward(
    acc: Account, reward: Reward, *, code: str, key: str, now: datetime
) -> tuple[Coupon, Entry]:
    """R4: spend the reward's points (oldest first) for a coupon with ``code``."""
    check_card(acc)
    may_redeem(acc)
    if reward.points > acc.available:
        raise InsufficientPoints("not enough points for this reward")
    debit(acc, reward.points)
    coupon = Coupon(
        code=code,
        member_id=acc.member_id,
        reward_id=reward.reward_id,
        name=reward.name,
        kind=reward.kind,
        value=reward.value,
        points=reward.points,
        issued_at=now,
    )
    entry = Entry(
        entry_id=reward_entry_id(key),
        member_id=acc.member_id,
        kind="reward",
        delta=-reward.points,
        result=coupon.model_dump_json(),
        activity=ActivityKind.REWARD,
        points_out=reward.points,
        balance_after=acc.balance,
        reward_id=reward.reward_id,
    )
    return coupon, entry


def reward_entry_id(key: str) -> str:
    return f"reward:{key}"
