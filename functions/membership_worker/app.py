"""Membership worker (MembershipQueue): creates the loyalty account queued by signup or join,
or starts the attach of a card given at signup (A1, A2, A4, A5).

Failure policy (services.queue_policy, ``settings.queue_max_receives`` deliveries): technical
failures raise, so the record goes back to the queue (partial batch failure); on its last
delivery the customer is marked not joined and a New Account Registration Error is recorded
instead. Refusals are recorded by the service and the record is consumed. Messages that can
never work (unknown customer or kind, a body that is not an Envelope) are recorded at once.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_bridge import wiring
from loyalty_bridge.observability import logger, metrics
from loyalty_bridge.services.enrolment import EnrolmentService
from loyalty_bridge.services.incidents import IncidentReporter
from loyalty_bridge.services.queue_policy import process_message
from loyalty_bridge.sqs_batch import PartialItemFailureResponse, SqsRecord, process_batch


def enrol_record(
    record: SqsRecord, service: EnrolmentService | None = None, incidents: IncidentReporter | None = None
) -> None:
    enrolment = service or wiring.enrolment_service()
    process_message(
        record.body,
        record.message_id,
        record.receive_count,
        queue="membership",
        policy=wiring.failure_policy(),
        handle=lambda message, delivery: enrolment.handle(message, last_attempt=delivery.last),
        give_up=lambda message, exc, _delivery: enrolment.give_up(message, exc),
        report=lambda incident: (incidents or wiring.incident_reporter()).report(incident),
    )


def handle(
    event: dict[str, Any],
    context: LambdaContext,
    service: EnrolmentService | None = None,
    incidents: IncidentReporter | None = None,
) -> PartialItemFailureResponse:
    return process_batch(event, lambda record: enrol_record(record, service, incidents))


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return handle(event, context)
