"""Membership worker (MembershipQueue): creates the loyalty account queued by signup or join,
or starts the attach of a card given at signup (A1, A2, A4, A5).

Policy (errors.is_retryable): technical failures raise, so the record goes back to the
queue (partial batch failure); on its last delivery the customer is marked not joined and a
New Account Registration Error is recorded instead. Refusals are recorded by the service and
the record is consumed. Messages that can never work (unknown customer or kind) are recorded
at once; unreadable bodies are left to the DLQ, whose monitor records them.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from loyalty_bridge import errors, wiring
from loyalty_bridge.models.messages import Envelope
from loyalty_bridge.observability import logger, metrics, tracer
from loyalty_bridge.services.enrolment import EnrolmentService

# MembershipQueue's redrive policy in template.yaml (maxReceiveCount).
MAX_RECEIVES = 5

processor = BatchProcessor(event_type=EventType.SQS)


def enrol_record(record: SQSRecord, service: EnrolmentService | None = None) -> None:
    enrolment = service or wiring.enrolment_service()
    try:
        message = Envelope.model_validate_json(record.body)
    except ValidationError as exc:
        logger.error(
            "unreadable membership message",
            extra={"message_id": record.message_id, "errors": exc.error_count()},
        )
        raise
    receives = int(record.attributes.approximate_receive_count or 1)
    logger.thread_safe_append_keys(message_id=message.message_id, kind=message.kind)
    try:
        enrolment.handle(message, last_attempt=receives >= MAX_RECEIVES)
    except Exception as exc:
        if errors.is_retryable(exc) and receives < MAX_RECEIVES:
            logger.warning(
                "membership message will be retried",
                extra={"receives": receives, "error_type": type(exc).__name__},
            )
            raise
        logger.error("membership message recorded as an error", extra={"error_type": type(exc).__name__})
        enrolment.give_up(message, exc)
    finally:
        logger.thread_safe_remove_keys(["message_id", "kind"])


def handle(
    event: dict[str, Any], context: LambdaContext, service: EnrolmentService | None = None
) -> dict[str, Any]:
    response = process_partial_response(
        event=event,
        record_handler=lambda record: enrol_record(record, service),
        processor=processor,
        context=context,
    )
    return dict(response)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, context)
