"""The local stack's SQS pollers scale with the queue's backlog, as Lambda's event source
mapping does: one loop polls an idle queue, all of them work through a backlog."""

from __future__ import annotations

import threading
import time
from typing import Any

from bridge_local.pollers import SqsPoller
from bridge_local.resources import QueueInfo
from bridge_local.template import SqsSource

RECEIVE_SECONDS = 0.1  # a long poll that comes back empty, shortened


class FakeSqs:
    """ReceiveMessage / DeleteMessageBatch on a list, counting receives in progress."""

    def __init__(self, messages: int = 0) -> None:
        self.waiting = [
            {"MessageId": f"m-{i}", "ReceiptHandle": f"r-{i}", "Body": "{}"} for i in range(messages)
        ]
        self.deleted: list[str] = []
        self.receives = 0
        self._in_receive = 0
        self.most_in_receive = 0
        self._lock = threading.Lock()

    def receive_message(self, MaxNumberOfMessages: int, **_: Any) -> dict[str, Any]:
        with self._lock:
            self.receives += 1
            self._in_receive += 1
            self.most_in_receive = max(self.most_in_receive, self._in_receive)
            taken, self.waiting = self.waiting[:MaxNumberOfMessages], self.waiting[MaxNumberOfMessages:]
        if not taken:
            time.sleep(RECEIVE_SECONDS)
        with self._lock:
            self._in_receive -= 1
        return {"Messages": taken}

    def delete_message_batch(self, Entries: list[dict[str, str]], **_: Any) -> None:
        with self._lock:
            self.deleted.extend(entry["ReceiptHandle"] for entry in Entries)


class FakeRuntime:
    """Invocations that take a while, counting how many run at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()

    def invoke(self, function: str, event: dict[str, Any]) -> None:
        with self._lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        time.sleep(self.seconds)
        with self._lock:
            self.running -= 1


class FakeProvisioned:
    def __init__(self, sqs: FakeSqs) -> None:
        self.sqs = sqs

    def client(self, service: str) -> FakeSqs:
        assert service == "sqs"
        return self.sqs


def _poller(sqs: FakeSqs, runtime: FakeRuntime, stop: threading.Event) -> SqsPoller:
    source = SqsSource(
        function="WorkerFunction",
        event="Jobs",
        queue="JobsQueue",
        batch_size=1,
        window_seconds=0,
        report_failures=True,
    )
    queue = QueueInfo(logical_id="JobsQueue", name="jobs", url="http://sqs/jobs", arn="arn:jobs", fifo=False)
    return SqsPoller(
        source,
        queue,
        runtime,  # type: ignore[arg-type]
        FakeProvisioned(sqs),  # type: ignore[arg-type]
        visibility_seconds=1,
        stop=stop,
        concurrency=4,
    )


def _run_for(poller: SqsPoller, stop: threading.Event, seconds: float) -> None:
    poller.start()
    time.sleep(seconds)
    stop.set()
    poller.join(5)
    assert not poller.alive


def test_an_idle_queue_is_polled_by_one_loop_not_four() -> None:
    sqs, stop = FakeSqs(), threading.Event()
    _run_for(_poller(sqs, FakeRuntime(0), stop), stop, 2.0)
    # One loop makes about 2.0 / 0.1 = 20 empty receives in that time; four would make 80.
    assert 10 <= sqs.receives <= 40, sqs.receives


def test_a_backlog_is_worked_by_every_loop_at_once() -> None:
    sqs, stop = FakeSqs(messages=12), threading.Event()
    runtime = FakeRuntime(0.3)
    _run_for(_poller(sqs, runtime, stop), stop, 2.5)
    assert sorted(sqs.deleted) == sorted(f"r-{i}" for i in range(12))
    assert runtime.most_running >= 3, runtime.most_running
