"""The member side of InMemoryPlatform (tests/fake_platform.py): members, cards (A4
stock, A8 merges), emails and the keyed requests that replay; ``_port`` records calls.

Bookkeeping only: the rules come from program/ (card numbers, referral codes, email
comparison, profile changes, the A8 merge checks and arithmetic).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from loyalty_bridge import errors
from loyalty_bridge.models import domain
from loyalty_bridge.models.card_stock import CardImportResult
from loyalty_bridge.models.domain import Card, CardKind, CardState, Consents, Coupon, Member, MemberProfile
from loyalty_bridge.models.loyalty_profile import LoyaltyProfile
from loyalty_bridge.program import account as rules
from loyalty_bridge.program import card_numbers
from loyalty_bridge.program.account import Account
from loyalty_bridge.program.card_stock import result as card_stock_result
from loyalty_bridge.program.card_stock import screen
from loyalty_bridge.program.earn_rules import ProgramRules
from loyalty_bridge.program.erasure import erased_consents, erased_profile
from loyalty_bridge.program.members import changed_profile, normalize_email
from loyalty_bridge.program.referrals import new_referral_code, normalize_referral_code


def _port[F: Callable[..., Any]](method: F) -> F:
    """A port method: the call is recorded in ``calls`` (its arguments by name) and a failure
    queued by ``fail_next`` is raised before it does anything."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        self.calls.append((method.__name__, {k: v for k, v in bound.arguments.items() if k != "self"}))
        queued = self._failures.get(method.__name__)
        if queued:
            raise queued.pop(0)
        return method(self, *args, **kwargs)

    return call  # type: ignore[return-value]


@dataclass(kw_only=True)
class MemberAccount(Account):
    """A member and the account of its points (program.account)."""

    member: Member
    merged_into: str | None = None
    coupons: list[Coupon] = field(default_factory=list)  # oldest first (R4)
    joined_at: datetime | None = None  # when the member was created (R6 stats: new members)


class FakeMembers:
    """Mixed into InMemoryPlatform, which holds the state and settles accounts."""

    rules: ProgramRules
    accounts: dict[str, MemberAccount]
    cards: dict[str, tuple[CardKind, CardState, str | None]]  # number -> kind, state, member
    emails: dict[str, str]
    requests: dict[str, Any]  # idempotency key -> first answer
    referral_codes: dict[str, str]  # code -> member id (R5)
    create_bodies: dict[str, tuple[MemberProfile, Consents]]  # key -> first body
    _lost_replies: dict[str, int]
    _ids: int
    _load: Callable[[str], MemberAccount]
    _commit: Callable[..., None]
    clock: Callable[[], datetime]

    def _account(self, member_id: str) -> MemberAccount:
        account = self.accounts.get(member_id)
        if account is None:
            raise errors.MemberNotFound(code="member_not_found")
        return account

    # ------------------------------------------------------------------ members

    @_port
    def create_member(
        self,
        profile: MemberProfile,
        consents: Consents,
        *,
        idempotency_key: str,
        referral_code: str | None = None,
    ) -> Member:
        key = f"create:{idempotency_key}"
        if key in self.requests:
            body = self.create_bodies.get(key)
            if body is not None and body != (profile, consents):
                # As the REST platform: one key, one request body.
                raise errors.PlatformRefused(
                    "This key was used for another request.", code="idempotency_key_reused"
                )
            return self._member(self.requests[key].member_id)
        email = normalize_email(profile.email)
        if not email:
            raise errors.InvalidInput("email is required")
        if email in self.emails:
            raise errors.DuplicateMember(field="email")
        number = card_numbers.new_virtual_number()
        while number in self.cards:
            number = card_numbers.new_virtual_number()
        card = Card(number=number, kind=CardKind.VIRTUAL, state=CardState.ACTIVE)
        member = self._store_new(profile, card, email, consents)
        self._account(member.member_id).referred_by = self.referral_codes.get(
            normalize_referral_code(referral_code or "")
        )
        self.requests[key] = member
        self.create_bodies[key] = (profile, consents)
        if self._lost_replies.get("create_member", 0) > 0:
            self._lost_replies["create_member"] -= 1
            raise errors.PlatformUnavailable("the reply was lost")
        return self._member(member.member_id)

    def _store_new(
        self, profile: MemberProfile, card: Card, email: str, consents: Consents | None = None
    ) -> Member:
        self._ids += 1
        code = new_referral_code()
        while code in self.referral_codes:
            code = new_referral_code()
        member = Member(
            member_id=f"m{self._ids:06d}",
            profile=profile,
            consents=consents or Consents(),
            card=card,
            referral_code=code,
        )
        self.referral_codes[code] = member.member_id
        self.accounts[member.member_id] = MemberAccount(
            member_id=member.member_id,
            member=member,
            expiry_months=self.rules.expiry_months,
            referral_code=code,
            joined_at=self.clock(),
        )
        self.cards[card.number] = (card.kind, CardState.ACTIVE, member.member_id)
        if email:  # an imported member may have none (seed 002)
            self.emails[email] = member.member_id
        return member

    @_port
    def get_member(self, member_id: str) -> Member:
        return self._member(member_id)

    @_port
    def find_members(
        self, *, card_number: str | None = None, email: str | None = None, mobile: str | None = None
    ) -> list[Member]:
        if card_number is None and email is None and mobile is None:
            raise errors.InvalidInput("give a card number, an email or a mobile")
        found: set[str] | None = None
        if card_number is not None:
            entry = self.cards.get(card_numbers.normalize(card_number))
            found = {entry[2]} if entry and entry[2] else set()
        if email is not None:
            owner = self.emails.get(normalize_email(email))
            ids = {owner} if owner else set()
            found = ids if found is None else found & ids
        if mobile is not None:
            ids = {mid for mid, acc in self.accounts.items() if acc.member.profile.mobile == mobile}
            found = ids if found is None else found & ids
        return [self._member(mid) for mid in sorted(found or set())]

    @_port
    def attach_card(self, card_number: str, profile: MemberProfile, *, idempotency_key: str) -> Member:
        key = f"attach:{idempotency_key}"
        if key in self.requests:
            return self._member(self.requests[key])
        number = card_numbers.normalize(card_number)
        kind, state, member_id = self.cards.get(number) or (None, None, None)
        email = normalize_email(profile.email)
        if kind is not None and state == CardState.UNREGISTERED and email and email not in self.emails:
            member_id = self._store_new(
                profile, Card(number=number, kind=kind, state=CardState.ACTIVE), email
            ).member_id
        elif (
            state != CardState.ACTIVE
            or member_id is None
            or normalize_email(self._account(member_id).member.profile.email) != email
        ):
            raise errors.CardNotAttachable()
        self.requests[key] = member_id
        return self._member(member_id)

    @_port
    def merge_cards(self, primary_card: str, cards: Sequence[str], *, idempotency_key: str) -> Member:
        key = f"merge:{idempotency_key}"
        if key in self.requests:
            return self._member(self.requests[key])
        primary = self._load(self._card_member(primary_card))
        others: list[MemberAccount] = []
        for raw in cards:
            other = self._load(self._card_member(raw))
            if other is primary or any(other is seen for seen in others):
                continue
            rules.check_mergeable(primary.member.profile.mobile, other, other.member.profile.mobile)
            others.append(other)
        rules.check_merge_size(others)
        for other in others:
            move = rules.merge_into(primary, other, idempotency_key)
            kind, _, mid = self.cards[other.member.card.number]
            self.cards[other.member.card.number] = (kind, CardState.BLOCKED, mid)
            other.merged_into = primary.member_id
            self.emails.pop(normalize_email(other.member.profile.email), None)  # A8: frees the address
            self._commit(other, *move.entries)
        self._commit(primary)
        self.requests[key] = primary.member_id
        return self._member(primary.member_id)

    def _card_member(self, raw: str) -> str:
        entry = self.cards.get(card_numbers.normalize(raw))
        if entry is None or entry[1] != CardState.ACTIVE or entry[2] is None:
            raise errors.CardNotAttachable()
        return entry[2]

    @_port
    def update_profile(
        self, member_id: str, changes: domain.ProfileChanges, *, idempotency_key: str
    ) -> Member:
        key = f"update:{idempotency_key}"
        if key in self.requests:
            first: Member = self.requests[key]
            return first
        account = self._account(member_id)
        profile = changed_profile(account.member.profile, changes)
        old_email, new_email = normalize_email(account.member.profile.email), normalize_email(profile.email)
        if self.emails.get(new_email, member_id) != member_id:
            raise errors.DuplicateMember(field="email")
        self.emails.pop(old_email, None)
        self.emails[new_email] = member_id
        account.member = account.member.model_copy(update={"profile": profile})
        self.requests[key] = self._member(member_id)
        return self.requests[key]

    @_port
    def set_consents(self, member_id: str, consents: Consents, *, idempotency_key: str) -> None:
        account = self._account(member_id)
        if f"consents:{idempotency_key}" not in self.requests:
            account.member = account.member.model_copy(update={"consents": consents})
            self.requests[f"consents:{idempotency_key}"] = True

    def import_physical_cards(self, numbers: Sequence[str]) -> int:
        added = 0
        for raw in numbers:
            number = card_numbers.normalize(raw)
            if not card_numbers.is_valid(number):
                raise errors.InvalidInput("card number fails the check digit", code="invalid_card_number")
            if number not in self.cards:
                self.cards[number] = (CardKind.PHYSICAL, CardState.UNREGISTERED, None)
                added += 1
        return added

    def _member(self, member_id: str) -> Member:
        account = self._account(member_id)
        tier = self.rules.tier_for(account.lifetime_spend)
        kind, state, _ = self.cards[account.member.card.number]
        return account.member.model_copy(
            update={
                "card": Card(number=account.member.card.number, kind=kind, state=state),
                "tier": tier.name if tier else None,
                "accumulate_only": account.member.accumulate_only
                or self.rules.accumulate_only(account.member.profile),
            }
        )

    @_port
    def erase_member(self, member_id: str, *, idempotency_key: str) -> None:
        """D2: the person goes (program.erasure), the points and entries stay."""
        account = self.accounts.get(member_id)
        if account is None:
            return
        account.member = account.member.model_copy(
            update={"profile": erased_profile(), "consents": erased_consents()}
        )
        for email in [email for email, owner in self.emails.items() if owner == member_id]:
            del self.emails[email]

    # ------------------------------------------------------------------ card stock, profile read

    @_port
    def import_cards(self, batch_id: str, numbers: Sequence[str]) -> CardImportResult:
        """Card stock, idempotent by number (program.card_stock.screen decides validity)."""
        screened = screen(numbers)
        imported = 0
        for number in screened.valid:
            if number not in self.cards:
                self.cards[number] = (CardKind.PHYSICAL, CardState.UNREGISTERED, None)
                imported += 1
        return card_stock_result(batch_id, imported, len(screened.valid) - imported, screened.invalid)

    @_port
    def member_profile(self, member_id: str) -> LoyaltyProfile:
        member = self.get_member(member_id)
        missing = self.rules.missing_profile_fields(member.profile)
        return LoyaltyProfile(member_id=member.member_id, profile=member.profile, missing_fields=missing)
