"""The profile read (seed 002, A9): what the loyalty account holds about the person, and
which of the program's required fields it still lacks, so the storefront can prefill its
profile form after an attach or a merge."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from loyalty_bridge.models.domain import Address, MemberProfile


class LoyaltyProfile(BaseModel):
    """What the platform answers (ports.LoyaltyPlatform.member_profile)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    member_id: str
    profile: MemberProfile
    missing_fields: list[str] = Field(
        default_factory=list, description="required profile fields (A9) the account lacks"
    )


class ProfilePrefill(BaseModel):
    """GET /v1/customers/{customer_id}/loyalty/profile."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    card_number: str | None = None
    email: str
    first_name: str = ""
    last_name: str = ""
    mobile: str | None = None
    birthday: date | None = None
    address: Address | None = None
    missing: list[str] = Field(
        description="the fields the program requires (A9) that the account still lacks; "
        "empty when the profile is complete (points can be redeemed)"
    )
    accumulate_only: bool = Field(description="true while anything is missing: points accrue, not redeemable")

    @classmethod
    def of(cls, read: LoyaltyProfile, card_number: str | None) -> ProfilePrefill:
        person = read.profile
        return cls(
            card_number=card_number,
            email=person.email,
            first_name=person.first_name,
            last_name=person.last_name,
            mobile=person.mobile,
            birthday=person.birthday,
            address=person.address,
            missing=list(read.missing_fields),
            accumulate_only=bool(read.missing_fields),
        )
