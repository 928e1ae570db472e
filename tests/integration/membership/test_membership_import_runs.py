"""Member import through the bucket on template.yaml's own resources in moto (issue 18): the
real S3 and BridgeTable adapters, the bucket's notification read from MemberImportQueue, and
the run's conditional write (a stale chunk never moves the run)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from loyalty_bridge import wiring
from tests.member_files import member_file

if TYPE_CHECKING:
    from bridge_local.resources import Provisioned


def _receive_all(sqs: Any, url: str) -> list[str]:
    bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return bodies
        for message in got:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_a_put_is_announced_imported_in_chunks_and_recorded(
    aws: Provisioned, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMBER_IMPORT_CHUNK_LINES", "6")
    wiring.reset()
    file = member_file(16)  # 21 member lines and the header: 4 chunks
    bucket = aws.buckets["MemberImportBucket"]
    put = aws.client("s3").put_object(Bucket=bucket, Key="in/club.csv", Body=file.text.encode())
    queue = aws.queues["MemberImportQueue"].url
    service = wiring.bucket_import()

    # S3's s3:TestEvent (sent when the notification was configured: ignored), then its
    # ObjectCreated, both through moto.
    announced = _receive_all(aws.client("sqs"), queue)
    assert [len(service.receive(body)) for body in announced][-1] == 1
    (run,) = service.receive(announced[-1])  # the same notification twice: one run
    assert run.import_id == f"s3:in/club.csv@{put['VersionId']}"
    handled = 1
    while bodies := _receive_all(aws.client("sqs"), queue):
        for body in bodies:
            service.receive(body)
            handled += 1
    report = service.report(run.import_id)
    assert handled == 4
    assert (report.run.status, report.run.chunks) == ("completed", 4)
    assert (report.run.lines, report.run.created, report.run.refused) == (21, 16, 5)
    assert {o.line: o.reason for o in report.refused_lines} == file.refusals

    # A chunk message for an offset the run has passed (a duplicate delivery): nothing moves.
    stale = json.dumps({"kind": "member_import_chunk", "import_id": run.import_id, "offset": 0})
    service.receive(stale)
    assert service.report(run.import_id).run == report.run
    assert _receive_all(aws.client("sqs"), queue) == []


def test_the_run_moves_only_from_the_offset_it_was_read_at(aws: Provisioned) -> None:
    from datetime import UTC, datetime

    from loyalty_bridge.adapters.import_runs import DynamoImportRuns
    from loyalty_bridge.models.bucket_import import ImportRun

    runs = DynamoImportRuns(aws.client("dynamodb"), aws.tables["BridgeTable"])
    run = ImportRun(import_id="s3:k@v", bucket="b", key="k", size=100, started_at=datetime.now(UTC))
    assert runs.create(run) is True
    assert runs.create(run) is False
    moved = run.model_copy(update={"next_offset": 40, "created": 3})
    assert runs.advance(moved, 0) is True
    assert runs.advance(run.model_copy(update={"next_offset": 40, "created": 6}), 0) is False
    runs.mark("s3:k@v", handed_on=40)
    stored = runs.get("s3:k@v")
    assert stored is not None
    assert (stored.created, stored.handed_on) == (3, 40)
    done = stored.model_copy(update={"status": "completed", "next_offset": 100})
    assert runs.advance(done, 40) is True
    assert runs.advance(done, 100) is False  # a finished run is never written over
    runs.mark("s3:k@v", emailed=True)
    final = runs.get("s3:k@v")
    assert final is not None
    assert final.emailed
