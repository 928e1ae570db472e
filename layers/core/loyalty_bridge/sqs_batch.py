"""SQS partial batch responses for the queue workers (Lambda's ``ReportBatchItemFailures``).

Each record of an SQS event is handed to a record handler; a record whose handler raises is
reported in ``batchItemFailures`` so that only it comes back to the queue. This is what
Powertools' ``BatchProcessor`` / ``SqsFifoPartialProcessor`` with ``process_partial_response``
did here, with the same rules:

- a standard queue: every record is tried; when all of them fail, ``EntireBatchFailed`` is
  raised (the invocation fails and the whole batch comes back) unless the worker asks for
  the failures to be reported instead (``raise_on_entire_batch_failure=False``);
- a FIFO queue (``fifo=True``): once a record of a message group fails, the later records
  of that group are not tried and are reported too (their order is kept); other groups go on;
- an event without records is refused (``ValueError``): it is not an SQS batch.

Why not Powertools' batch utility: importing it costs about 100 ms of cold start (it brings
asyncio, every event data class and the batch processors' generic machinery) for the loop
below. The rest of Powertools (logger, metrics, event handler) stays.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from loyalty_bridge.observability import logger


class BatchItemFailure(TypedDict):
    itemIdentifier: str


class PartialItemFailureResponse(TypedDict):
    batchItemFailures: list[BatchItemFailure]


class EntireBatchFailed(Exception):
    """Every record of the batch failed: the invocation fails, the whole batch comes back."""

    def __init__(self, failures: list[tuple[str, BaseException]]) -> None:
        self.failures = failures
        details = "; ".join(f"{message_id}: {type(exc).__name__}: {exc}" for message_id, exc in failures)
        super().__init__(f"all {len(failures)} records failed: {details}")


@dataclass(frozen=True, slots=True)
class SqsRecord:
    """The fields of one SQS event record the workers read."""

    message_id: str
    body: str
    receive_count: str | None
    event_source_arn: str | None
    message_group_id: str | None
    raw: Mapping[str, Any]

    @classmethod
    def from_event(cls, record: Mapping[str, Any]) -> SqsRecord:
        if not isinstance(record, Mapping) or not isinstance(record.get("messageId"), str):
            raise ValueError("an SQS record needs a messageId")
        attributes = record.get("attributes")
        attributes = attributes if isinstance(attributes, Mapping) else {}
        body = record.get("body")
        return cls(
            message_id=record["messageId"],
            body=body if isinstance(body, str) else "",
            receive_count=attributes.get("ApproximateReceiveCount"),
            event_source_arn=record.get("eventSourceARN"),
            message_group_id=attributes.get("MessageGroupId"),
            raw=record,
        )


def process_batch(
    event: Mapping[str, Any],
    handle_record: Callable[[SqsRecord], object],
    *,
    fifo: bool = False,
    raise_on_entire_batch_failure: bool = True,
) -> PartialItemFailureResponse:
    """Run every record of ``event`` through ``handle_record``; the records that failed."""
    raw_records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(raw_records, list) or not raw_records:
        raise ValueError("not an SQS batch event: no Records")
    records = [SqsRecord.from_event(record) for record in raw_records]
    failures: list[tuple[str, BaseException]] = []
    failed_groups: set[str] = set()
    stopped = False  # FIFO: a record without a group failed, so nothing later may overtake it
    for record in records:
        group = record.message_group_id
        if fifo and (stopped or (group is not None and group in failed_groups)):
            failures.append((record.message_id, _SkippedAfterFailure(group or "")))
            continue
        try:
            handle_record(record)
        except Exception as exc:
            logger.debug("record failed", extra={"message_id": record.message_id}, exc_info=True)
            failures.append((record.message_id, exc))
            if group is None:
                stopped = True
            else:
                failed_groups.add(group)
    return _answer(records, failures, raise_on_entire_batch_failure)


class _SkippedAfterFailure(Exception):
    def __init__(self, group: str) -> None:
        super().__init__(f"not tried: an earlier message of group {group!r} failed")


def _answer(
    records: list[SqsRecord], failures: list[tuple[str, BaseException]], raise_on_entire_batch_failure: bool
) -> PartialItemFailureResponse:
    if failures and len(failures) == len(records) and raise_on_entire_batch_failure:
        raise EntireBatchFailed(failures)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id, _ in failures]}
