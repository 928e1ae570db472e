"""Referral codes (R5) on Talon.One, through the Integration API's referrals.

- Every member gets a referral code of the retailer's referral campaign
  (``TalonOneReferralCampaignId``) when joining: ``createReferral`` with the member's profile
  as the advocate. It is read back from the profile's inventory (``referrals=true``: the
  referrals the profile advocates), so a retried join finds the code it made and makes no
  second one, and the member and balance show it.
- A customer who joins with someone's code is that referral's friend: the code is kept in
  BridgeTable and sent as the session's ``referralCode`` with the member's orders until
  Talon.One accepts or rejects it (``acceptReferral`` / ``rejectReferral`` effects), as a
  referral campaign expects. An unknown code is rejected by Talon.One and joining never
  fails because of it. The bonus is the referral campaign's rules on Talon.One, not the
  bridge's (README "Using Talon.One").

With no referral campaign configured (0) members have no code and a code given at joining
is ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loyalty_bridge.adapters.talon_one_wire import IntegrationState, Inventory, Referral

if TYPE_CHECKING:
    from loyalty_bridge.adapters.talon_one_store import TalonOneStore
    from loyalty_bridge.adapters.talon_one_transport import TalonOneHttp

REFERRED_WITH = "referred_with"  # BridgeTable: the code the member joined with
REFERRAL_SETTLED = "referral_settled"  # BridgeTable: Talon.One accepted or rejected it
MAX_CODE = 100  # NewCustomerSessionV2.referralCode maxLength


class TalonOneReferrals:
    """The referral part of TalonOnePlatform (which sets these attributes)."""

    _api: TalonOneHttp
    _store: TalonOneStore
    _referral_campaign: int

    def _inventory(self, member_id: str, *, profile: bool = False) -> Inventory:
        raise NotImplementedError  # TalonOnePlatform's

    def _referral_code(self, member_id: str, inventory: Inventory) -> str | None:
        """The member's own code: the first referral of the campaign the profile advocates."""
        if not self._referral_campaign:
            return None
        return next(
            (
                r.code
                for r in inventory.referrals
                if r.campaignId == self._referral_campaign and r.advocateProfileIntegrationId == member_id
            ),
            None,
        )

    def _give_referral_code(self, member_id: str, referred_with: str | None) -> None:
        """At joining: the member's own code (once), and the code they joined with, kept."""
        if not self._referral_campaign:
            return
        code = (referred_with or "").strip()
        if code and len(code) <= MAX_CODE:
            self._store.remember(member_id, REFERRED_WITH, {"code": code})
        if self._referral_code(member_id, self._inventory(member_id)) is None:
            self._api.call(
                "createReferral",
                "POST",
                "/v1/referrals",
                Referral,
                expect=201,
                body={"campaignId": self._referral_campaign, "advocateProfileIntegrationId": member_id},
            )

    def _friend_referral(self, member_id: str) -> str | None:
        """The code to send with this member's next closed session, if any is still due."""
        if not self._referral_campaign or self._store.done(member_id, REFERRAL_SETTLED) is not None:
            return None
        kept = self._store.done(member_id, REFERRED_WITH)
        return str(kept["code"]) if kept else None

    def _referral_answered(self, member_id: str, code: str | None, state: IntegrationState) -> None:
        """Talon.One accepted or rejected the code: it is not sent again."""
        if code is not None and state.has("acceptReferral", "rejectReferral"):
            accepted = state.has("acceptReferral")
            self._store.remember(member_id, REFERRAL_SETTLED, {"code": code, "accepted": accepted})
