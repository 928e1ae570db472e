"""Rewards (R4) of the built-in ledger: the catalogue, redeeming points for a coupon and
the member's coupons (newest first). Using a coupon is part of its order (orders.py).
"""

from __future__ import annotations

from loyalty_bridge.adapters.ledger.accounts import LedgerAccounts
from loyalty_bridge.adapters.ledger.table import Item, iso
from loyalty_bridge.models.domain import Coupon, CouponCheck, Reward
from loyalty_bridge.program import rewards as reward_rules


class LedgerRewards(LedgerAccounts):
    """Rewards, coupons and the coupon a promo code names (quotes and orders check it)."""

    def rewards(self) -> list[Reward]:
        return sorted(self._rules.rewards, key=lambda reward: (reward.points, reward.reward_id))

    def redeem_reward(self, member_id: str, reward_id: str, *, idempotency_key: str) -> Coupon:
        entry_id = reward_rules.reward_entry_id(idempotency_key)

        def attempt() -> Coupon:
            first = self._get(f"ENTRY#{entry_id}", "ENTRY")
            if first is not None:
                return Coupon.model_validate_json(first["result"])
            program_version, rules = self._priced()
            reward = reward_rules.reward_to_redeem(rules, reward_id)
            acc, now = self._owner_now(member_id)
            coupon, entry = reward_rules.redeem_reward(
                acc, reward, code=reward_rules.new_coupon_code(), key=idempotency_key, now=now
            )
            items = [
                ("entry", self._entry(entry, now, program_version=program_version)),
                (
                    "coupon",
                    self._put_new(
                        {
                            "pk": f"COUPONS#{acc.member_id}",
                            # Newest last; the version orders coupons issued at the same instant.
                            "sk": f"{iso(now)}#{acc.version:012d}#{coupon.code}",
                            "coupon": coupon.model_dump_json(),
                        }
                    ),
                ),
                (
                    "code",
                    self._put_new(
                        {"pk": f"COUPON#{coupon.code}", "sk": "COUPON", "member_id": acc.member_id}
                    ),
                ),
            ]
            items.extend(self._account_items(acc, now))
            self._transact_or_retry(items)  # a twin request, a concurrent change or a code collision
            return coupon

        return self._retrying(attempt)

    def coupons(self, member_id: str) -> list[Coupon]:
        owner = self._owner_id(member_id)
        return [
            Coupon.model_validate_json(item["coupon"])
            for item in self._query_partition(f"COUPONS#{owner}", ScanIndexForward=False)
        ]

    def _coupon(self, promo_code: str | None) -> tuple[str, Item, Coupon] | None:
        """R4: the coupon a promo code names, if it is one: its holder's owner (A8), its row
        and the coupon. Any other promo code is not ours to track (C3 still applies to it)."""
        code = reward_rules.coupon_code(promo_code)
        owned = self._get(f"COUPON#{code}", "COUPON") if code else None
        if owned is None:
            return None
        holder = str(owned["member_id"])
        for item in self._query_partition(f"COUPONS#{holder}"):
            coupon = Coupon.model_validate_json(item["coupon"])
            if coupon.code == code:
                return self._owner_id(holder), item, coupon
        return None

    def _coupon_check(self, owner_id: str | None, promo_code: str | None) -> CouponCheck | None:
        found = self._coupon(promo_code)
        return None if found is None else reward_rules.coupon_check(found[2], yours=found[0] == owner_id)
