"""DLQ monitor (MembershipDLQ, ProfileSyncDLQ, OrderDLQ): every message that lands in a
dead-letter queue is recorded as an incident in its category and emailed once. Nothing is
dropped: if recording fails, the record is reported as failed and stays in the DLQ."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_bridge import wiring
from loyalty_bridge.models.messages import Envelope
from loyalty_bridge.observability import logger, metrics, tracer
from loyalty_bridge.services.dead_letters import dead_letter_record
from loyalty_bridge.services.incidents import IncidentReporter

processor = BatchProcessor(event_type=EventType.SQS)


def record_dead_letter(record: SQSRecord, incidents: IncidentReporter | None = None) -> None:
    reporter = incidents or wiring.incident_reporter()
    receives = int(record.attributes.approximate_receive_count or 0)
    incident = dead_letter_record(record.body, record.message_id, record.event_source_arn, receives)
    new = reporter.report(incident)
    logger.warning(
        "dead letter recorded",
        extra={"error_id": incident.error_id, "category": incident.category.value, "new": new},
    )
    body = incident.replay.get("body")
    if isinstance(body, dict):
        # A replay that died again: its error is open again.
        replay_of = Envelope.model_validate_json(record.body).replay_of
        reporter.replay_failed(
            replay_of, note=f"the replay ended in a dead-letter queue ({incident.error_id})"
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
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, context)
