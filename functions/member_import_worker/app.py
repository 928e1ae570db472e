"""Member import worker (MemberImportQueue, issue 18): a member file put in the import bucket
is imported one chunk an invocation (services/bucket_import.py; a chunk is cut short when
the invocation has less than 30 s left). The bucket's ObjectCreated
notification starts a run; each chunk hands the next on through the same queue, so no
invocation runs long and a crash resumes from the last recorded offset.

Failure policy (``settings.queue_max_receives`` deliveries): a technical failure raises, so the
message comes back (partial batch failure) and the chunk starts again from its offset; on the
last delivery the run is failed with the reason and reported instead. What crashes past that
lands in MemberImportDLQ, where the DLQ monitor records it.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_bridge import wiring
from loyalty_bridge.observability import logger, metrics
from loyalty_bridge.services.bucket_import import BucketImport
from loyalty_bridge.sqs_batch import PartialItemFailureResponse, SqsRecord, process_batch


def import_record(record: SqsRecord, context: LambdaContext, service: BucketImport | None = None) -> None:
    delivery = wiring.failure_policy().delivery(record.receive_count)
    (service or wiring.bucket_import()).receive(
        record.body,
        last_delivery=delivery.last,
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
    )


def handle(
    event: dict[str, Any], context: LambdaContext, service: BucketImport | None = None
) -> PartialItemFailureResponse:
    return process_batch(event, lambda record: import_record(record, context, service))


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return handle(event, context)
