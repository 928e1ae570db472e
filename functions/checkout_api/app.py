"""Checkout and orders API (C1-C6): quote, redemption holds, order push, refunds, cancel.

Thin: validate the body (typed routes), call the checkout or order service, pick the
status. Idempotency-Key, signatures and problem+json come from make_resolver().
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_bridge import wiring
from loyalty_bridge.handler_services import HandlerServices, Wired
from loyalty_bridge.http_api import make_resolver
from loyalty_bridge.models.api_checkout import (
    BusinessIdPath,
    CancelResponse,
    OrderRequest,
    OrderResponse,
    QuoteRequest,
    QuoteResponse,
    RedemptionRequest,
    RedemptionResponse,
    RefundRequest,
    RefundResponse,
)
from loyalty_bridge.observability import logger, metrics

# A quote changes nothing: asking again answers the same, with no idempotency record.
app = make_resolver(read_only_paths={"/v1/checkout/quote"})

JSON = "application/json"


class Services(HandlerServices):
    """The services the routes call: from wiring unless a test hands in fake-backed ones."""

    checkout = Wired(wiring.checkout_service)
    orders = Wired(wiring.order_service)


services = Services()


def _accepted_or_ok(queued: bool) -> int:
    # 202: the platform was slow or down; the order worker settles it from the queue.
    return 202 if queued else 200


@app.post("/v1/checkout/quote")
def quote(body: Annotated[QuoteRequest, Body()]) -> QuoteResponse:
    return services.checkout.quote(body)


@app.post(
    "/v1/checkout/redemptions",
    responses={
        201: {"description": "Points held for the cart", "content": {JSON: {"model": RedemptionResponse}}}
    },
)
def hold_points(body: Annotated[RedemptionRequest, Body()]) -> Response[RedemptionResponse]:
    return app.answer(_held, lambda: services.checkout.hold(body))


def _held(held: RedemptionResponse) -> Response[RedemptionResponse]:
    return Response(status_code=201, content_type=JSON, body=held)


@app.delete(
    "/v1/checkout/redemptions/<redemption_id>",
    responses={204: {"description": "Released (or already released or spent)"}},
)
def release_hold(redemption_id: Annotated[BusinessIdPath, Path()]) -> Response[None]:
    services.checkout.release(redemption_id)
    # An empty body is what Powertools sends as "no content" (None would be sent as "null").
    return Response(status_code=204, body="")  # type: ignore[arg-type]


@app.post(
    "/v1/orders",
    responses={
        200: {
            "description": "Credited, or accepted without points",
            "content": {JSON: {"model": OrderResponse}},
        },
        202: {
            "description": "The platform is slow: queued, settled later",
            "content": {JSON: {"model": OrderResponse}},
        },
    },
)
def post_order(body: Annotated[OrderRequest, Body()]) -> Response[OrderResponse]:
    return app.answer(_order_answer, lambda: services.orders.place(body))


def _order_answer(answer: OrderResponse) -> Response[OrderResponse]:
    return Response(status_code=_accepted_or_ok(answer.status == "queued"), content_type=JSON, body=answer)


@app.post(
    "/v1/orders/<order_id>/refunds",
    responses={
        200: {"description": "Points taken back", "content": {JSON: {"model": RefundResponse}}},
        202: {
            "description": "Queued until the platform answers",
            "content": {JSON: {"model": RefundResponse}},
        },
    },
)
def refund(
    order_id: Annotated[BusinessIdPath, Path()], body: Annotated[RefundRequest, Body()]
) -> Response[RefundResponse]:
    return app.answer(_refund_answer, lambda: services.orders.refund(order_id, body))


def _refund_answer(answer: RefundResponse) -> Response[RefundResponse]:
    return Response(status_code=_accepted_or_ok(answer.status == "queued"), content_type=JSON, body=answer)


@app.post(
    "/v1/orders/<order_id>/cancel",
    responses={
        200: {"description": "Points taken back and returned", "content": {JSON: {"model": CancelResponse}}},
        202: {
            "description": "Queued until the platform answers",
            "content": {JSON: {"model": CancelResponse}},
        },
    },
)
def cancel(order_id: Annotated[BusinessIdPath, Path()]) -> Response[CancelResponse]:
    return app.answer(_cancel_answer, lambda: services.orders.cancel(order_id))


def _cancel_answer(answer: CancelResponse) -> Response[CancelResponse]:
    return Response(status_code=_accepted_or_ok(answer.status == "queued"), content_type=JSON, body=answer)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
