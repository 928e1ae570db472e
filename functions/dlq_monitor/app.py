"""DLQ monitor (MembershipDLQ, ProfileSyncDLQ, OrderDLQ): every message that lands in a
dead-letter queue is recorded as an incident in its category and emailed once. Nothing is
dropped: if recording fails, the record is reported as failed and stays in the DLQ. A dead
replay opens its error again (services.dead_letters decides)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_bridge import wiring
from loyalty_bridge.observability import logger, metrics
from loyalty_bridge.services import dead_letters
from loyalty_bridge.services.incidents import IncidentReporter
from loyalty_bridge.sqs_batch import PartialItemFailureResponse, SqsRecord, process_batch


def record_dead_letter(record: SqsRecord, incidents: IncidentReporter | None = None) -> None:
    receives = int(record.receive_count or 0)
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
) -> PartialItemFailureResponse:
    return process_batch(event, lambda record: record_dead_letter(record, incidents))


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return handle(event, context)
