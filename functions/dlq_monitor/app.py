"""DLQ monitor (MembershipDLQ, ProfileSyncDLQ, OrderDLQ): every message that lands in a
dead-letter queue is recorded as an incident in its category and emailed once. Nothing is
dropped: if recording fails, the record is reported as failed and stays in the DLQ. A dead
replay opens its error again (services.dead_letters decides)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_bridge import wiring
from loyalty_bridge.observability import logger, metrics
from loyalty_bridge.services import dead_letters
from loyalty_bridge.services.incidents import IncidentReporter

processor = BatchProcessor(event_type=EventType.SQS)


def record_dead_letter(record: SQSRecord, incidents: IncidentReporter | None = None) -> None:
    receives = int(record.attributes.approximate_receive_count or 0)
    incident, new = dead_letters.record_dead_letter(
        incidents or wiring.incident_reporter(),
        record.body,
        record.message_id,
        record.event_source_arn,
        receives,
    )
    logger.warning(
        "dead letter recorded",
        extra={"error_id": incident.error_id, "category": incident.category.value, "new": new},
    )


def handle(
    event: dict[str, Any], context: LambdaContext, incidents: IncidentReporter | None = None
) -> dict[str, Any]:
    return process_partial_response(
        event=event,
        record_handler=lambda record: record_dead_letter(record, incidents),
        processor=processor,
        context=context,
    )


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, context)
