"""Profile sync worker (FIFO ProfileSyncQueue, grouped by customer): applies each profile or
consent change to the loyalty platform, Mailchimp and the SMS opt-out list (P1-P5).

Order per customer is kept: ``SqsFifoPartialProcessor`` stops a customer's group at its first
failed message (the rest of the group returns to the queue with it) and carries on with other
customers. Retryable failures raise (the message comes back); the service records refusals
and the last allowed attempt as Account Update Errors. A body that is not an Envelope is
recorded at once (retrying cannot fix it) and consumed.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from loyalty_bridge import wiring
from loyalty_bridge.models.messages import Envelope
from loyalty_bridge.observability import logger, metrics, tracer
from loyalty_bridge.services.dead_letters import unreadable_message_record
from loyalty_bridge.services.incidents import IncidentReporter
from loyalty_bridge.services.profile_sync import ProfileSync

processor = SqsFifoPartialProcessor(skip_group_on_error=True)


def sync_record(
    record: SQSRecord, service: ProfileSync | None = None, incidents: IncidentReporter | None = None
) -> None:
    try:
        message = Envelope.model_validate_json(record.body)
    except ValidationError as exc:
        logger.error("unreadable profile sync message", extra={"errors": exc.error_count()})
        (incidents or wiring.incident_reporter()).report(
            unreadable_message_record(record.body, record.message_id, "profile_sync")
        )
        return
    receives = int(record.attributes.approximate_receive_count or 1)
    logger.thread_safe_append_keys(message_id=message.message_id, kind=message.kind)
    try:
        (service or wiring.profile_sync()).handle(message, receive_count=receives)
    finally:
        logger.thread_safe_remove_keys(["message_id", "kind"])


def handle(
    event: dict[str, Any],
    context: LambdaContext,
    service: ProfileSync | None = None,
    incidents: IncidentReporter | None = None,
) -> dict[str, Any]:
    return process_partial_response(
        event=event,
        record_handler=lambda record: sync_record(record, service, incidents),
        processor=processor,
        context=context,
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, context)
