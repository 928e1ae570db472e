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
from loyalty_bridge.observability import logger, metrics, tracer

app = make_resolver()

JSON = "application/json"


def _accepted_or_ok(queued: bool) -> int:
    # 202: the platform was slow or down; the order worker settles it from the queue.
    return 202 if queued else 200


@app.post("/v1/checkout/quote")
def quote(body: Annotated[QuoteRequest, Body()]) -> QuoteResponse:
    return wiring.checkout_service().quote(body)


@app.post("/v1/checkout/redemptions")
def hold_points(body: Annotated[RedemptionRequest, Body()]) -> Response[RedemptionResponse]:
    held = wiring.checkout_service().hold(body)
    return Response(status_code=201, content_type=JSON, body=held)


@app.delete("/v1/checkout/redemptions/<redemption_id>")
def release_hold(redemption_id: Annotated[BusinessIdPath, Path()]) -> Response[None]:
    wiring.checkout_service().release(redemption_id)
    return Response(status_code=204, content_type=JSON, body=None)


@app.post("/v1/orders")
def post_order(body: Annotated[OrderRequest, Body()]) -> Response[OrderResponse]:
    answer = wiring.order_service().place(body)
    return Response(status_code=_accepted_or_ok(answer.status == "queued"), content_type=JSON, body=answer)


@app.post("/v1/orders/<order_id>/refunds")
def refund(
    order_id: Annotated[BusinessIdPath, Path()], body: Annotated[RefundRequest, Body()]
) -> Response[RefundResponse]:
    answer = wiring.order_service().refund(order_id, body)
    return Response(status_code=_accepted_or_ok(answer.status == "queued"), content_type=JSON, body=answer)


@app.post("/v1/orders/<order_id>/cancel")
def cancel(order_id: Annotated[BusinessIdPath, Path()]) -> Response[CancelResponse]:
    answer = wiring.order_service().cancel(order_id)
    return Response(status_code=_accepted_or_ok(answer.status == "queued"), content_type=JSON, body=answer)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
