"""Order worker (OrderQueue): settles orders, refunds and cancellations the API could not
finish in time (C4-C6).

Policy (errors.is_retryable): technical failures raise, so the record goes back to the queue
(partial batch failure) and is tried again; what the platform refuses is a New Order Error
(recorded, emailed once, replayable) and the record is consumed. On its last delivery a
record that still fails becomes a New Order Error with the last answer instead of dying
silently in the DLQ.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from loyalty_bridge import errors, wiring
from loyalty_bridge.models.messages import Envelope
from loyalty_bridge.observability import logger, metrics, tracer
from loyalty_bridge.services.orders import OrderService

# OrderQueue's redrive policy in template.yaml (maxReceiveCount).
MAX_RECEIVES = 5

# Failed records are reported in batchItemFailures even when all of them failed, so only
# those go back to the queue (never the whole batch as an invocation error).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def settle_record(record: SQSRecord, service: OrderService | None = None) -> None:
    orders = service or wiring.order_service()
    try:
        envelope = Envelope.model_validate_json(record.body)
    except ValidationError as exc:
        # Not an order message at all: retrying cannot help; the DLQ monitor records it.
        logger.error(
            "unreadable order message", extra={"message_id": record.message_id, "errors": exc.error_count()}
        )
        raise
    logger.thread_safe_append_keys(message_id=envelope.message_id, kind=envelope.kind)
    try:
        orders.settle(envelope)
    except Exception as exc:
        receives = int(record.attributes.approximate_receive_count or 1)
        if errors.is_retryable(exc) and receives < MAX_RECEIVES:
            logger.warning(
                "order message will be retried",
                extra={"receives": receives, "error_type": type(exc).__name__},
            )
            raise
        orders.give_up(envelope, exc)
    finally:
        logger.thread_safe_remove_keys(["message_id", "kind"])


def handle(
    event: dict[str, Any], context: LambdaContext, service: OrderService | None = None
) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event,
        record_handler=lambda record: settle_record(record, service),
        processor=processor,
        context=context,
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return handle(event, context)
