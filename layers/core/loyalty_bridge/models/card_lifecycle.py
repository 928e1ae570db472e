"""A10, the card lifecycle's admin bodies: POST /v1/admin/cards/{card_number}/block and
/replace, and their answer (the member's summary with its active card)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from loyalty_bridge.models.activity import Reason
from loyalty_bridge.models.api_membership import CardView, PointsView, Reply, TierView

CardNumberPath = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class BlockCard(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    reason: Reason = Field(description="why, for the admins' record: e.g. lost, stolen")


class ReplaceCard(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    new_card_number: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="an unregistered card of the stock (POST /v1/admin/cards/import); spaces allowed"
    )


class CardSummary(Reply):
    """The member after a block or a replace: its active card (state ``blocked`` after a
    block), the points and tier that stay with the member, and the web customer linked."""

    member_id: str
    customer_id: str | None = Field(description="the web customer holding the account, if any")
    card: CardView
    replaced_card: str | None = Field(default=None, description="replace: the card blocked and replaced")
    points: PointsView
    tier: TierView | None = None
