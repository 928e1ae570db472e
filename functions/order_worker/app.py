"""Order worker (OrderQueue): settles orders, refunds and cancellations the API could not
finish in time (C4-C6).

Failure policy (services.queue_policy, ``settings.queue_max_receives`` deliveries): technical
failures raise, so the record goes back to the queue (partial batch failure) and is tried
again; what the platform refuses is a New Order Error (recorded, emailed once, replayable)
and the record is consumed. On its last delivery a record that still fails becomes a New
Order Error with the last answer instead of dying silently in the DLQ. A body that is not an
Envelope is recorded at once (retrying cannot fix it) and consumed.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_bridge import wiring
from loyalty_bridge.observability import logger, metrics
from loyalty_bridge.services.incidents import IncidentReporter
from loyalty_bridge.services.orders import OrderService
from loyalty_bridge.services.queue_policy import process_message
from loyalty_bridge.sqs_batch import PartialItemFailureResponse, SqsRecord, process_batch


def settle_record(
    record: SqsRecord, service: OrderService | None = None, incidents: IncidentReporter | None = None
) -> None:
    orders = service or wiring.order_service()
    process_message(
        record.body,
        record.message_id,
        record.receive_count,
        queue="order",
        policy=wiring.failure_policy(),
        handle=lambda envelope, _delivery: orders.settle(envelope),
        give_up=lambda envelope, exc, _delivery: orders.give_up(envelope, exc),
        report=lambda incident: (incidents or wiring.incident_reporter()).report(incident),
    )


def handle(
    event: dict[str, Any],
    context: LambdaContext,
    service: OrderService | None = None,
    incidents: IncidentReporter | None = None,
) -> PartialItemFailureResponse:
    # Failed records are reported in batchItemFailures even when all of them failed, so only
    # those go back to the queue (never the whole batch as an invocation error).
    return process_batch(
        event, lambda record: settle_record(record, service, incidents), raise_on_entire_batch_failure=False
    )


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return handle(event, context)
