"""LoyaltyPlatform over an external platform's HTTP API (contracts/platform-openapi.yaml).

Three parts: this module maps the port onto the platform's operations; the calls, with
the failure policy (retries, idempotency keys, the bearer token, refusals mapped to
errors), are adapters/rest_transport.py; the answers' pydantic models adapters/rest_wire.py.
Logs carry the operation, status, attempt and error type: never bodies, URLs (card
numbers, member ids) or the platform's messages (they may contain personal data).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final
from urllib.parse import quote as _quote
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ValidationError

from loyalty_bridge import errors
from loyalty_bridge.adapters.rest_transport import PlatformHttp, PlatformNotConfigured
from loyalty_bridge.adapters.rest_wire import (
    ActivityPageOut,
    AdjustmentOut,
    BalanceOut,
    CardImportOut,
    CouponListOut,
    CouponOut,
    HoldOut,
    LoyaltyProfileOut,
    MemberListOut,
    MemberOut,
    OrderResultOut,
    QuoteOut,
    ReversalResultOut,
    RewardListOut,
)
from loyalty_bridge.models.activity import (
    MAX_ACTIVITY_PAGE,
    ActivityPage,
    Adjustment,
    AdjustmentResult,
    StatsReport,
)
from loyalty_bridge.models.card_stock import CardImportResult
from loyalty_bridge.models.domain import (
    Balance,
    Basket,
    Consents,
    Coupon,
    Hold,
    Member,
    MemberProfile,
    OrderResult,
    PlatformOrder,
    ProfileChanges,
    Quote,
    Reversal,
    ReversalResult,
    Reward,
)
from loyalty_bridge.models.loyalty_profile import LoyaltyProfile
from loyalty_bridge.models.member_import import LineOutcome, MemberLine
from loyalty_bridge.ports import Metrics
from loyalty_bridge.program import history
from loyalty_bridge.program.stats import check_range
from loyalty_bridge.settings import Settings

_REWARDS_TTL_SECONDS: Final = 300.0  # the catalogue changes rarely; the summary reads it often


def _seg(value: str) -> str:
    """A path segment, escaped (ids and card numbers come from outside)."""
    return _quote(value, safe="")


def _dump(model: BaseModel, **kwargs: Any) -> Any:
    return model.model_dump(mode="json", **kwargs)


class RestPlatform:
    """``ports.LoyaltyPlatform`` over HTTP. One instance per warm container (thread-safe:
    httpx.Client is, and the adapter keeps no per-call state)."""

    def __init__(
        self,
        http: httpx.Client,
        base_url: str,
        token_provider: Callable[[], str],
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        metrics: Metrics,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not base_url:
            raise PlatformNotConfigured("PLATFORM_BASE_URL is not set")
        self._api = PlatformHttp(
            http, base_url, token_provider, settings, sleep=sleep, rng=rng, metrics=metrics, clock=clock
        )
        self._clock = clock
        self._rewards: tuple[float, list[Reward]] | None = None  # (read at, catalogue)

    # ------------------------------------------------------------ members

    def create_member(
        self,
        profile: MemberProfile,
        consents: Consents,
        *,
        idempotency_key: str,
        referral_code: str | None = None,
    ) -> Member:
        body: dict[str, Any] = {"profile": _dump(profile, exclude_none=True), "consents": _dump(consents)}
        if referral_code:
            body["referral_code"] = referral_code
        wire = self._api.call(
            "createMember",
            "POST",
            "/v1/members",
            MemberOut,
            expect=201,
            body=body,
            idempotency_key=idempotency_key,
        )
        return self._member(wire)

    def get_member(self, member_id: str) -> Member:
        wire = self._api.call("getMember", "GET", f"/v1/members/{_seg(member_id)}", MemberOut)
        return self._member(wire)

    def find_members(
        self, *, card_number: str | None = None, email: str | None = None, mobile: str | None = None
    ) -> list[Member]:
        criteria = {
            key: value
            for key, value in (("card_number", card_number), ("email", email), ("mobile", mobile))
            if value is not None
        }
        if not criteria:
            raise errors.InvalidInput("give a card number, an email or a mobile")
        wire = self._api.call("searchMembers", "POST", "/v1/members/search", MemberListOut, body=criteria)
        return [self._member(item) for item in wire.members]

    def attach_card(self, card_number: str, profile: MemberProfile, *, idempotency_key: str) -> Member:
        wire = self._api.call(
            "attachCard",
            "POST",
            f"/v1/cards/{_seg(card_number)}/attach",
            MemberOut,
            body={"profile": _dump(profile, exclude_none=True)},
            idempotency_key=idempotency_key,
        )
        return self._member(wire)

    def merge_cards(self, primary_card: str, cards: Sequence[str], *, idempotency_key: str) -> Member:
        wire = self._api.call(
            "mergeCards",
            "POST",
            f"/v1/cards/{_seg(primary_card)}/merge",
            MemberOut,
            body={"cards": list(cards)},
            idempotency_key=idempotency_key,
        )
        return self._member(wire)

    def get_balance(self, member_id: str) -> Balance:
        wire = self._api.call("getBalance", "GET", f"/v1/members/{_seg(member_id)}/balance", BalanceOut)
        return self._convert(Balance, wire, "getBalance")

    def update_profile(self, member_id: str, changes: ProfileChanges, *, idempotency_key: str) -> Member:
        patch = _dump(changes, exclude_none=True)
        if not patch:  # nothing to change: the contract wants at least one field
            return self.get_member(member_id)
        wire = self._api.call(
            "updateMember",
            "PATCH",
            f"/v1/members/{_seg(member_id)}",
            MemberOut,
            body=patch,
            idempotency_key=idempotency_key,
        )
        return self._member(wire)

    def set_consents(self, member_id: str, consents: Consents, *, idempotency_key: str) -> None:
        self._api.call(
            "setConsents",
            "PUT",
            f"/v1/members/{_seg(member_id)}/consents",
            None,
            expect=204,
            body=_dump(consents),
            idempotency_key=idempotency_key,
        )

    def erase_member(self, member_id: str, *, idempotency_key: str) -> None:
        self._api.call(
            "eraseMember",
            "DELETE",
            f"/v1/members/{_seg(member_id)}",
            None,
            expect=204,
            idempotency_key=idempotency_key,
        )

    # ------------------------------------------------------------ checkout and orders

    def quote(self, member_id: str | None, basket: Basket, *, redeem_points: int = 0) -> Quote:
        if redeem_points < 0:
            raise errors.InvalidInput("redeem_points must not be negative")
        wire = self._api.call(
            "quoteBasket",
            "POST",
            "/v1/quotes",
            QuoteOut,
            body={"member_id": member_id, "basket": _dump(basket), "redeem_points": redeem_points},
        )
        return self._convert(Quote, wire, "quoteBasket")

    def hold_points(
        self,
        member_id: str,
        redemption_id: str,
        points: int,
        *,
        order_total: Any,
        expires_at: datetime,
        currency: str | None = None,
    ) -> Hold:
        if points <= 0:
            raise errors.InvalidInput("points to hold must be positive")
        body = {
            "redemption_id": redemption_id,
            "points": points,
            "order_total": str(Decimal(str(order_total))),
            "expires_at": expires_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }
        wire = self._api.call(
            "createHold",
            "POST",
            f"/v1/members/{_seg(member_id)}/holds",
            HoldOut,
            expect=201,
            body=body,
            idempotency_key=f"hold:{redemption_id}",
        )
        return self._convert(Hold, wire, "createHold")

    def release_hold(self, member_id: str, redemption_id: str) -> None:
        self._api.call(
            "releaseHold",
            "DELETE",
            f"/v1/members/{_seg(member_id)}/holds/{_seg(redemption_id)}",
            None,
            expect=204,
            idempotency_key=f"release:{redemption_id}",
        )

    def post_order(self, member_id: str, order: PlatformOrder) -> OrderResult:
        wire = self._api.call(
            "postOrder",
            "POST",
            f"/v1/members/{_seg(member_id)}/orders",
            OrderResultOut,
            body=_dump(order),
            idempotency_key=f"order:{order.order_id}",
        )
        return self._convert(OrderResult, wire, "postOrder")

    def reverse(self, member_id: str, reversal: Reversal) -> ReversalResult:
        body = {
            "reversal_id": reversal.reversal_id,
            "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in reversal.lines],
            "cancel": reversal.cancel,
        }
        wire = self._api.call(
            "reverseOrder",
            "POST",
            f"/v1/members/{_seg(member_id)}/orders/{_seg(reversal.order_id)}/reversals",
            ReversalResultOut,
            body=body,
            idempotency_key=reversal.key,  # refund ids are only unique within their order
        )
        return self._convert(ReversalResult, wire, "reverseOrder")

    # ------------------------------------------------------------ rewards (R4)

    def rewards(self) -> list[Reward]:
        """The platform's catalogue, cached for a few minutes (the login summary's
        ``next_reward`` reads it; it changes rarely)."""
        cached = self._rewards
        if cached is not None and self._clock() - cached[0] < _REWARDS_TTL_SECONDS:
            return list(cached[1])
        wire = self._api.call("listRewards", "GET", "/v1/rewards", RewardListOut)
        catalogue = sorted(
            (self._convert(Reward, item, "listRewards") for item in wire.rewards),
            key=lambda reward: (reward.points, reward.reward_id),
        )
        self._rewards = (self._clock(), catalogue)
        return list(catalogue)

    def redeem_reward(self, member_id: str, reward_id: str, *, idempotency_key: str) -> Coupon:
        wire = self._api.call(
            "redeemReward",
            "POST",
            f"/v1/members/{_seg(member_id)}/rewards/{_seg(reward_id)}/redeem",
            CouponOut,
            expect=201,
            idempotency_key=f"reward:{idempotency_key}",
        )
        return self._convert(Coupon, wire, "redeemReward")

    def coupons(self, member_id: str) -> list[Coupon]:
        wire = self._api.call("listCoupons", "GET", f"/v1/members/{_seg(member_id)}/coupons", CouponListOut)
        return [self._convert(Coupon, item, "listCoupons") for item in wire.coupons]

    # ------------------------------------------------------------ card stock, profile read

    def import_cards(self, batch_id: str, numbers: Sequence[str]) -> CardImportResult:
        """Import is idempotent by number on the platform, so each call gets its own key:
        its retries are one write, and a later import of the same batch answers what it
        finds then (everything ``already_known``) rather than the first import's counts."""
        wire = self._api.call(
            "importCards",
            "POST",
            "/v1/cards/import",
            CardImportOut,
            body={"batch_id": batch_id, "cards": list(numbers)},
            idempotency_key=f"cards:{batch_id}:{uuid.uuid4().hex}",
        )
        return self._convert(CardImportResult, wire, "importCards")

    def import_members(self, import_id: str, lines: Sequence[tuple[int, MemberLine]]) -> list[LineOutcome]:
        """The platform contract has no member import: members and balances are the external
        platform's own data, imported with its own tools (README, member import)."""
        raise errors.NotSupportedByPlatform(
            "Member import is not offered on an external platform: import members with its own tools."
        )

    def member_profile(self, member_id: str) -> LoyaltyProfile:
        wire = self._api.call(
            "getMemberProfile", "GET", f"/v1/members/{_seg(member_id)}/profile", LoyaltyProfileOut
        )
        return self._convert(LoyaltyProfile, wire, "getMemberProfile")

    # ------------------------------------------------------------ adjustments (R7), history (R8), stats (R6)

    def adjust(self, member_id: str, adjustment: Adjustment) -> AdjustmentResult:
        wire = self._api.call(
            "adjustPoints",
            "POST",
            f"/v1/members/{_seg(member_id)}/adjustments",
            AdjustmentOut,
            body=adjustment.model_dump(mode="json"),
            expect=201,
            idempotency_key=f"adjust:{member_id}:{adjustment.adjustment_id}",
        )
        return self._convert(AdjustmentResult, wire, "adjustPoints")

    def activity(self, member_id: str, *, limit: int = 20, cursor: str | None = None) -> ActivityPage:
        query = urlencode(
            {"limit": max(1, min(limit, MAX_ACTIVITY_PAGE))} | ({"cursor": cursor} if cursor else {})
        )
        wire = self._api.call(
            "listActivity", "GET", f"/v1/members/{_seg(member_id)}/activity?{query}", ActivityPageOut
        )
        entries = [
            history.activity_entry(
                entry_id=item.entry_id,
                at=item.at,
                kind=item.kind,
                points_in=item.points_in,
                points_out=item.points_out,
                balance_after=item.balance_after,
                refs=item.model_dump(),
            )
            for item in wire.entries
        ]
        return ActivityPage(entries=entries, next_cursor=wire.next_cursor)

    def stats(self, store_id: str | None, start: date, end: date) -> StatsReport:
        """The contract has no statistics (an external platform reports on its own)."""
        check_range(start, end)
        return StatsReport(store_id=store_id, start=start, end=end, available=False)

    # ------------------------------------------------------------ card lifecycle (A10)

    def block_card(self, card_number: str, *, reason: str, idempotency_key: str) -> Member:
        wire = self._api.call(
            "blockCard",
            "POST",
            f"/v1/cards/{_seg(card_number)}/block",
            MemberOut,
            body={"reason": reason},
            idempotency_key=f"block:{idempotency_key}",
        )
        return self._member(wire)

    def replace_card(self, card_number: str, new_card_number: str, *, idempotency_key: str) -> Member:
        wire = self._api.call(
            "replaceCard",
            "POST",
            f"/v1/cards/{_seg(card_number)}/replace",
            MemberOut,
            body={"new_card_number": new_card_number},
            idempotency_key=f"replace:{idempotency_key}",
        )
        return self._member(wire)

    def _member(self, wire: MemberOut) -> Member:
        return self._convert(Member, wire, "member")

    def _convert[D: BaseModel](self, domain: type[D], wire: BaseModel, operation: str) -> D:
        """Wire -> domain (the domain model re-checks its own rules, e.g. field lengths)."""
        try:
            return domain.model_validate(wire.model_dump())
        except ValidationError as exc:
            self._api.malformed(operation, None, exc)
