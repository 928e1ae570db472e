"""Membership API (A1-A8): signup, join, attach a card by emailed code, phone code, merge,
login summary; rewards redeemed for coupons and the customer's coupons (R4); the loyalty
profile to prefill the storefront's form (seed 002); the history of the customer's points (R8);
the program in words (R11).

Thin: typed bodies in, one service call, status out. Signatures, Idempotency-Key and
problem+json come from make_resolver(); errors are raised as domain errors.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_bridge import errors, wiring
from loyalty_bridge.handler_services import HandlerServices, Wired
from loyalty_bridge.http_api import current_idempotency_key, make_resolver
from loyalty_bridge.models.activity import MAX_ACTIVITY_PAGE, ActivityPage
from loyalty_bridge.models.api_membership import (
    AttachCard,
    AttachStarted,
    ConfirmEmailCode,
    ConfirmSmsCode,
    CouponList,
    CouponView,
    CreateCustomer,
    CustomerAccepted,
    CustomerId,
    JoinAccepted,
    LoyaltyState,
    LoyaltySummary,
    MergeCards,
    PhoneCards,
    PhoneCodeSent,
    RewardId,
    StartPhone,
)
from loyalty_bridge.models.loyalty_profile import ProfilePrefill
from loyalty_bridge.models.program import StorefrontProgram
from loyalty_bridge.observability import logger, metrics

app = make_resolver()

JSON = "application/json"
CUSTOMER = "/v1/customers/<customer_id>"


class Services(HandlerServices):
    """The services the routes call: from wiring unless a test hands in fake-backed ones."""

    signup = Wired(wiring.signup_service)
    summary = Wired(wiring.summary_service)
    attach = Wired(wiring.attach_service)
    phone = Wired(wiring.phone_service)
    rewards = Wired(wiring.rewards_service)
    prefill = Wired(wiring.prefill_service)
    program = Wired(wiring.storefront_program)
    history = Wired(wiring.history_service)


services = Services()


def _accepted[T](body: T) -> Response[T]:
    return Response(status_code=202, content_type=JSON, body=body)


@app.post(
    "/v1/customers",
    responses={
        202: {
            "description": "Web account stored; loyalty account created in the background",
            "content": {JSON: {"model": CustomerAccepted}},
        }
    },
)
def create_customer(body: Annotated[CreateCustomer, Body()]) -> Response[CustomerAccepted]:
    record = services.signup.signup(body)
    return _accepted(
        CustomerAccepted(customer_id=record.customer_id, loyalty=LoyaltyState(status=record.status))
    )


@app.get(f"{CUSTOMER}/loyalty")
def loyalty_summary(customer_id: Annotated[CustomerId, Path()]) -> LoyaltySummary:
    return services.summary.summary(customer_id)


@app.post(
    f"{CUSTOMER}/loyalty/join",
    responses={202: {"description": "Join queued", "content": {JSON: {"model": JoinAccepted}}}},
)
def join(customer_id: Annotated[CustomerId, Path()]) -> Response[JoinAccepted]:
    record = services.signup.join(customer_id)
    return _accepted(JoinAccepted(status=record.status))


@app.post(
    f"{CUSTOMER}/loyalty/attach",
    responses={
        202: {
            "description": "A one-time code was mailed to the email of the card",
            "content": {JSON: {"model": AttachStarted}},
        }
    },
)
def attach(
    customer_id: Annotated[CustomerId, Path()], body: Annotated[AttachCard, Body()]
) -> Response[AttachStarted]:
    challenge = services.attach.start(customer_id, body.card_number, body.email)
    return _accepted(AttachStarted(expires_at=challenge.expires_at))


@app.post(f"{CUSTOMER}/loyalty/attach/confirm")
def attach_confirm(
    customer_id: Annotated[CustomerId, Path()], body: Annotated[ConfirmEmailCode, Body()]
) -> LoyaltySummary:
    record = services.attach.confirm(customer_id, body.code)
    return services.summary.of(record)


@app.post(
    f"{CUSTOMER}/loyalty/phone",
    responses={
        202: {"description": "A 4-digit code was sent by SMS", "content": {JSON: {"model": PhoneCodeSent}}}
    },
)
def phone(
    customer_id: Annotated[CustomerId, Path()], body: Annotated[StartPhone, Body()]
) -> Response[PhoneCodeSent]:
    challenge = services.phone.start(customer_id, body.mobile)
    return _accepted(PhoneCodeSent(expires_at=challenge.expires_at))


@app.post(f"{CUSTOMER}/loyalty/phone/confirm")
def phone_confirm(
    customer_id: Annotated[CustomerId, Path()], body: Annotated[ConfirmSmsCode, Body()]
) -> LoyaltySummary | PhoneCards:
    outcome = services.phone.confirm(customer_id, body.code)
    if outcome.cards is not None:
        return PhoneCards(
            status=outcome.record.status, cards=outcome.cards, others_on_phone=outcome.others_on_phone
        )
    return services.summary.of(outcome.record)


@app.post(f"{CUSTOMER}/loyalty/merge")
def merge(customer_id: Annotated[CustomerId, Path()], body: Annotated[MergeCards, Body()]) -> LoyaltySummary:
    record = services.phone.merge(customer_id, body.primary_card, list(body.cards))
    return services.summary.of(record)


@app.post(
    f"{CUSTOMER}/loyalty/rewards/<reward_id>/redeem",
    responses={
        201: {
            "description": "The reward's points were spent; apply the coupon code to a cart and "
            "send it as the order's promo_code (the order uses it)",
            "content": {JSON: {"model": CouponView}},
        }
    },
)
def redeem_reward(
    customer_id: Annotated[CustomerId, Path()], reward_id: Annotated[RewardId, Path()]
) -> Response[CouponView]:
    request_key = current_idempotency_key(app)
    if not request_key:  # make_resolver requires one on every POST; never redeem unkeyed
        raise errors.InvalidInput("An Idempotency-Key header is required.", code="idempotency_key_required")
    coupon = services.rewards.redeem(customer_id, reward_id, request_key=request_key)
    return Response(status_code=201, content_type=JSON, body=CouponView.of(coupon))


@app.get(f"{CUSTOMER}/loyalty/coupons")
def coupons(customer_id: Annotated[CustomerId, Path()]) -> CouponList:
    found = services.rewards.coupons(customer_id)
    return CouponList(coupons=[CouponView.of(coupon) for coupon in found])


@app.get(f"{CUSTOMER}/loyalty/activity")
def loyalty_activity(
    customer_id: Annotated[CustomerId, Path()],
    limit: Annotated[int, Query(ge=1, le=MAX_ACTIVITY_PAGE)] = 20,
    cursor: Annotated[str | None, Query(min_length=1, max_length=1024)] = None,
) -> ActivityPage:
    return services.history.activity(customer_id, limit=limit, cursor=cursor)


@app.get(f"{CUSTOMER}/loyalty/profile")
def loyalty_profile(customer_id: Annotated[CustomerId, Path()]) -> ProfilePrefill:
    return services.prefill.profile(customer_id)


# A storefront may cache the program this long; functions re-read it every 30 s too, so a
# change is on every storefront within a minute.
PROGRAM_CACHE_CONTROL = "private, max-age=30"


@app.get(
    "/v1/program",
    responses={
        200: {
            "description": "The program in force, in words (R11)",
            "content": {JSON: {"model": StorefrontProgram}},
        },
        304: {"description": "Not modified: the If-None-Match ETag is the program in force"},
    },
)
def program() -> Response[str]:
    body, etag = services.program.current()
    headers = {"ETag": etag, "Cache-Control": PROGRAM_CACHE_CONTROL}
    if etag_matches(app.current_event.headers.get("if-none-match"), etag):
        return Response(status_code=304, body="", headers=headers)  # no body: the storefront's copy holds
    return Response(status_code=200, content_type=JSON, body=body, headers=headers)


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: "*" or a list of tags, compared weakly (W/ ignored)."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag.removeprefix("W/") in tags


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
