"""SQS event sources and schedules, driven by their settings in template.yaml.

An SQS poller behaves like Lambda's event source mapping: it receives up to BatchSize
messages (waiting up to MaximumBatchingWindowInSeconds to fill a batch), invokes the
function with a real SQS event, deletes what succeeded and, for what failed, shortens the
visibility timeout (``visibility_seconds``, default 2) so retries happen in seconds
locally. moto's redrive moves a message to the DLQ after maxReceiveCount receives.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from bridge_local.events import batch_failures, schedule_interval, scheduled_event, sqs_record
from bridge_local.resources import Provisioned, QueueInfo
from bridge_local.runtime import FunctionLoadError, Runtime
from bridge_local.template import ScheduleSource, SqsSource

log = logging.getLogger("bridge_local")

# moto's long poll busy-waits on FIFO queues whose message group is in flight, so FIFO
# queues are short-polled with a pause that grows while they stay empty (CPU stays low on
# 2 shared cores, a new message is still picked up within a second).
FIFO_PAUSE_MIN_SECONDS = 0.1
FIFO_PAUSE_MAX_SECONDS = 1.0
LONG_POLL_SECONDS = 2


class SqsPoller:
    def __init__(
        self,
        source: SqsSource,
        queue: QueueInfo,
        runtime: Runtime,
        provisioned: Provisioned,
        *,
        visibility_seconds: int,
        stop: threading.Event,
    ) -> None:
        self.source = source
        self.queue = queue
        self.runtime = runtime
        self.visibility_seconds = visibility_seconds
        self._stop = stop
        self._sqs = provisioned.client("sqs")
        self.busy = False
        self.batches = 0
        self._pause = FIFO_PAUSE_MIN_SECONDS
        self.thread = threading.Thread(
            target=self._run, name=f"sqs-{source.function}-{source.event}", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def _receive(self, count: int, wait: int) -> list[dict[str, Any]]:
        response = self._sqs.receive_message(
            QueueUrl=self.queue.url,
            MaxNumberOfMessages=min(10, count),
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def _collect(self) -> list[dict[str, Any]]:
        wait = 0 if self.queue.fifo else LONG_POLL_SECONDS
        messages = self._receive(self.source.batch_size, wait)
        if not messages:
            if self.queue.fifo:
                self._stop.wait(self._pause)
                self._pause = min(FIFO_PAUSE_MAX_SECONDS, self._pause * 2)
            return []
        self._pause = FIFO_PAUSE_MIN_SECONDS
        deadline = time.monotonic() + self.source.window_seconds
        while (
            len(messages) < self.source.batch_size and time.monotonic() < deadline and not self._stop.is_set()
        ):
            more = self._receive(self.source.batch_size - len(messages), 0)
            if not more:
                self._stop.wait(0.1)
            messages.extend(more)
        return messages

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self._collect()
                if messages:
                    self.busy = True
                    self._process(messages)
            except Exception:
                if not self._stop.is_set():
                    log.exception("poller %s.%s failed; retrying", self.source.function, self.source.event)
                    self._stop.wait(1)
            finally:
                self.busy = False

    def _process(self, messages: list[dict[str, Any]]) -> None:
        self.batches += 1
        event = {"Records": [sqs_record(m, self.queue.arn) for m in messages]}
        ids = [m["MessageId"] for m in messages]
        started = time.monotonic()
        try:
            result = self.runtime.invoke(self.source.function, event)
            failed = batch_failures(result, ids, report_failures=self.source.report_failures)
        except FunctionLoadError as exc:
            log.error("%s is not available: %s", self.source.function, exc)
            failed = set(ids)
        except Exception:
            log.exception(
                "%s failed on a batch of %d from %s", self.source.function, len(ids), self.queue.name
            )
            failed = set(ids)
        log.info(
            "%s <- %s: %d message(s), %d failed (%.0f ms)",
            self.source.function,
            self.queue.logical_id,
            len(ids),
            len(failed),
            (time.monotonic() - started) * 1000,
        )
        done = [m for m in messages if m["MessageId"] not in failed]
        retry = [m for m in messages if m["MessageId"] in failed]
        for chunk in _chunks(done, 10):
            self._sqs.delete_message_batch(
                QueueUrl=self.queue.url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        for chunk in _chunks(retry, 10):
            self._sqs.change_message_visibility_batch(
                QueueUrl=self.queue.url,
                Entries=[
                    {
                        "Id": str(i),
                        "ReceiptHandle": m["ReceiptHandle"],
                        "VisibilityTimeout": self.visibility_seconds,
                    }
                    for i, m in enumerate(chunk)
                ],
            )


def _chunks(items: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class ScheduleRunner:
    """Runs a Schedule event's function every rate(...) / speedup seconds."""

    def __init__(
        self, source: ScheduleSource, runtime: Runtime, *, speedup: float, stop: threading.Event
    ) -> None:
        self.source = source
        self.runtime = runtime
        interval = schedule_interval(source.expression) or 60
        self.interval = max(0.5, interval / max(speedup, 0.001))
        self._stop = stop
        self.runs = 0
        self.busy = False
        self.thread = threading.Thread(target=self._run, name=f"schedule-{source.function}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def run_once(self) -> Any:
        self.busy = True
        try:
            self.runs += 1
            result = self.runtime.invoke(self.source.function, scheduled_event(f"local-{self.source.event}"))
            log.info("%s <- schedule %s", self.source.function, self.source.expression)
            return result
        finally:
            self.busy = False

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:
                log.exception("scheduled %s failed", self.source.function)
