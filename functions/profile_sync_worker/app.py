"""Profile sync worker (FIFO ProfileSyncQueue, grouped by customer): applies each profile or
consent change to the loyalty platform, Mailchimp and the SMS opt-out list (P1-P5).

Order per customer is kept: ``SqsFifoPartialProcessor`` stops a customer's group at its first
failed message (the rest of the group returns to the queue with it) and carries on with other
customers. Failure policy (services.queue_policy, ``settings.queue_max_receives``
deliveries), applied by the service to each target: retryable failures raise (the message
comes back); refusals and the last allowed attempt are recorded as Account Update Errors. A
body that is not an Envelope is recorded at once (retrying cannot fix it) and consumed.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_bridge import wiring
from loyalty_bridge.observability import logger, metrics
from loyalty_bridge.services.incidents import IncidentReporter
from loyalty_bridge.services.profile_sync import ProfileSync
from loyalty_bridge.services.queue_policy import process_message
from loyalty_bridge.sqs_batch import PartialItemFailureResponse, SqsRecord, process_batch


def sync_record(
    record: SqsRecord, service: ProfileSync | None = None, incidents: IncidentReporter | None = None
) -> None:
    sync = service or wiring.profile_sync()
    process_message(
        record.body,
        record.message_id,
        record.receive_count,
        queue="profile_sync",
        policy=wiring.failure_policy(),
        handle=lambda message, delivery: sync.handle(message, receive_count=delivery.receives),
        give_up=lambda message, exc, delivery: sync.give_up(message, exc, receive_count=delivery.receives),
        report=lambda incident: (incidents or wiring.incident_reporter()).report(incident),
    )


def handle(
    event: dict[str, Any],
    context: LambdaContext,
    service: ProfileSync | None = None,
    incidents: IncidentReporter | None = None,
) -> PartialItemFailureResponse:
    return process_batch(event, lambda record: sync_record(record, service, incidents), fifo=True)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return handle(event, context)
