"""What the bridge does not offer on Talon.One, answered as the port says (README "Using
Talon.One"): the bridge's reward catalogue (none, so no coupons either); merging,
blocking and replacing cards, staff adjustments and member imports are refused as not supported; there are
no statistics to read (``available=False``), as for any platform that counts none. The
history is read from the card's transactions (talon_one_history.py); referral codes are
talon_one_referrals.py's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from loyalty_bridge import errors
from loyalty_bridge.models.activity import Adjustment, AdjustmentResult, StatsReport
from loyalty_bridge.models.domain import Coupon, Member, Reward
from loyalty_bridge.models.member_import import LineOutcome, MemberLine
from loyalty_bridge.program.stats import check_range


class NotSupportedByTalonOne(errors.PlatformRefused):
    """The bridge does not offer this on Talon.One (README "Using Talon.One")."""

    code = "not_supported_by_platform"


class TalonOneUnsupported:
    """The port methods TalonOnePlatform answers without calling Talon.One."""

    def rewards(self) -> list[Reward]:
        return []  # the catalogue is not offered through the bridge on Talon.One (README)

    def redeem_reward(self, member_id: str, reward_id: str, *, idempotency_key: str) -> Coupon:
        raise errors.RewardNotFound("No such reward.")

    def coupons(self, member_id: str) -> list[Coupon]:
        return []

    def merge_cards(self, primary_card: str, cards: Sequence[str], *, idempotency_key: str) -> Member:
        raise NotSupportedByTalonOne("Merging cards is not offered on Talon.One.")

    def block_card(self, card_number: str, *, reason: str, idempotency_key: str) -> Member:
        raise NotSupportedByTalonOne("Block a card in the Talon.One Campaign Manager.")

    def replace_card(self, card_number: str, new_card_number: str, *, idempotency_key: str) -> Member:
        raise NotSupportedByTalonOne("Replace a card in the Talon.One Campaign Manager.")

    def adjust(self, member_id: str, adjustment: Adjustment) -> AdjustmentResult:
        raise NotSupportedByTalonOne("Adjust points in the Talon.One Campaign Manager.")

    def import_members(self, import_id: str, lines: Sequence[tuple[int, MemberLine]]) -> list[LineOutcome]:
        raise NotSupportedByTalonOne(
            "Member import is not offered on Talon.One: import customer profiles and loyalty cards "
            "with the Campaign Manager's import."
        )

    def stats(self, store_id: str | None, start: date, end: date) -> StatsReport:
        check_range(start, end)
        return StatsReport(store_id=store_id, start=start, end=end, available=False)
