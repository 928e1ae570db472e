"""SQS event sources and schedules, driven by their settings in template.yaml.

An SQS poller behaves like Lambda's event source mapping: it receives up to BatchSize
messages (waiting up to MaximumBatchingWindowInSeconds to fill a batch), invokes the
function with a real SQS event, deletes what succeeded and, for what failed, shortens the
visibility timeout (``visibility_seconds``, default 2) so retries happen in seconds
locally. moto's redrive moves a message to the DLQ after maxReceiveCount receives.

Like the event source mapping, which scales its pollers out with the queue's backlog, an
SqsPoller runs up to ``concurrency`` receive-and-invoke loops on its queue (``--containers``,
default 4), so up to that many batches are in flight at once, each in its own warm
container. An idle queue is polled by one loop at a time: the others wait until a receive
brings messages, and go back to waiting after one that brings none while another loop is
polling (a dozen idle stacks of 8 queues x 4 loops were a core's worth of polling). On a
FIFO queue SQS itself keeps a message group to one batch in flight, so order is kept.
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
HELPER_WAIT_SECONDS = 0.5  # how often a waiting loop looks at the stop flag


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
        concurrency: int = 1,
    ) -> None:
        self.source = source
        self.queue = queue
        self.runtime = runtime
        self.visibility_seconds = visibility_seconds
        self._stop = stop
        self._sqs = provisioned.client("sqs")
        self.batches = 0
        self._in_hand = 0  # loops holding a batch
        self._lock = threading.Lock()
        # Set while receives bring messages; while it is clear and a loop is polling, the
        # other loops wait (one loop polls an idle queue; all do while it has a backlog).
        self._backlog = threading.Event()
        self._polling = 0  # loops inside a receive
        self.threads = [
            threading.Thread(target=self._run, name=f"sqs-{source.function}-{source.event}-{i}", daemon=True)
            for i in range(max(1, concurrency))
        ]
        self.thread = self.threads[0]

    @property
    def busy(self) -> bool:
        return self._in_hand > 0

    @property
    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self.threads)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self, timeout: float) -> None:
        """Wait (up to ``timeout`` s in all) for the loops to finish the batches in hand."""
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

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

    def _collect(self, pause: list[float]) -> list[dict[str, Any]]:
        wait = 0 if self.queue.fifo else LONG_POLL_SECONDS
        messages = self._receive(self.source.batch_size, wait)
        if not messages:
            if self.queue.fifo:
                self._stop.wait(pause[0])
                pause[0] = min(FIFO_PAUSE_MAX_SECONDS, pause[0] * 2)
            return []
        pause[0] = FIFO_PAUSE_MIN_SECONDS
        deadline = time.monotonic() + self.source.window_seconds
        while (
            len(messages) < self.source.batch_size and time.monotonic() < deadline and not self._stop.is_set()
        ):
            more = self._receive(self.source.batch_size - len(messages), 0)
            if not more:
                self._stop.wait(0.1)
            messages.extend(more)
        return messages

    def _polled_by_another(self) -> bool:
        """Another loop is polling and the last receive brought nothing: wait."""
        with self._lock:
            return self._polling > 0 and not self._backlog.is_set()

    def _run(self) -> None:
        pause = [FIFO_PAUSE_MIN_SECONDS]  # this loop's FIFO pause
        while not self._stop.is_set():
            if self._polled_by_another():
                self._backlog.wait(HELPER_WAIT_SECONDS)
                continue
            holding = False
            try:
                with self._lock:
                    self._polling += 1
                try:
                    messages = self._collect(pause)
                finally:
                    with self._lock:
                        self._polling -= 1
                if not messages:
                    self._backlog.clear()
                else:
                    self._backlog.set()  # the waiting loops poll too while receives bring messages
                    with self._lock:
                        self._in_hand += 1
                        self.batches += 1
                    holding = True
                    self._process(messages)
            except Exception:
                if not self._stop.is_set():
                    log.exception("poller %s.%s failed; retrying", self.source.function, self.source.event)
                    self._stop.wait(1)
            finally:
                if holding:
                    with self._lock:
                        self._in_hand -= 1

    def _process(self, messages: list[dict[str, Any]]) -> None:
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

    def join(self, timeout: float) -> None:
        self.thread.join(timeout=timeout)

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
