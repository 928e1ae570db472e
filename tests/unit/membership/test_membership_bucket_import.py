"""Member import through the bucket (services/bucket_import.py, issue 18) on the in-memory
platform: a file in several chunks gives an exact report, a chunk repeated after a crash
counts and writes nothing twice, the report is emailed once, and a file that cannot be read
on fails with a clear report that keeps what was imported before."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from loyalty_bridge import errors
from loyalty_bridge.models.bucket_import import ChunkMessage, ImportRun
from loyalty_bridge.models.member_import import LineOutcome
from loyalty_bridge.services.bucket_import import (
    BucketImport,
    ChunkLimits,
    StoredObject,
    import_id_for,
    split_chunk,
)
from loyalty_bridge.services.member_import import MemberImport
from tests.fakes import CapturingMailer, InMemoryPlatform, InMemoryQueue
from tests.member_files import member_file

BUCKET = "imports"


class MemoryObjects:
    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str | None]] = {}
        self.reads = 0

    def describe(self, bucket: str, key: str, version_id: str | None) -> StoredObject:
        data, content_type = self.files[key]
        return StoredObject(size=len(data), content_type=content_type, version_id=version_id or "v1")

    def read(self, bucket: str, key: str, version_id: str | None, start: int, length: int) -> bytes:
        self.reads += 1
        return self.files[key][0][start : start + length]


class MemoryRuns:
    """ImportRuns as adapters/import_runs.py keeps them; ``crash_advances`` makes the next
    chunk writes fail after the chunk's lines and refusals were written."""

    def __init__(self) -> None:
        self.runs: dict[str, ImportRun] = {}
        self.refused: dict[str, dict[int, list[LineOutcome]]] = {}
        self.crash_advances = 0

    def create(self, run: ImportRun) -> bool:
        if run.import_id in self.runs:
            return False
        self.runs[run.import_id] = run
        return True

    def get(self, import_id: str) -> ImportRun | None:
        return self.runs.get(import_id)

    def put_refusals(self, import_id: str, offset: int, refused: Sequence[LineOutcome]) -> None:
        if refused:
            self.refused.setdefault(import_id, {})[offset] = list(refused)

    def advance(self, run: ImportRun, expected_offset: int) -> bool:
        if self.crash_advances:
            self.crash_advances -= 1
            raise errors.Retryable("the function timed out")
        stored = self.runs[run.import_id]
        if stored.next_offset != expected_offset or stored.status != "running":
            return False
        self.runs[run.import_id] = run
        return True

    def mark(self, import_id: str, *, handed_on: int | None = None, emailed: bool | None = None) -> None:
        run = self.runs[import_id]
        changes: dict[str, object] = {}
        if handed_on is not None:
            changes["handed_on"] = max(handed_on, run.handed_on)
        if emailed is not None:
            changes["emailed"] = emailed
        self.runs[import_id] = run.model_copy(update=changes)

    def refusals(self, import_id: str, limit: int) -> tuple[list[LineOutcome], bool]:
        chunks = self.refused.get(import_id, {})
        found = [o for offset in sorted(chunks) for o in chunks[offset]]
        return found[:limit], len(found) > limit


class World:
    def __init__(self, limits: ChunkLimits) -> None:
        self.platform = InMemoryPlatform()
        self.objects = MemoryObjects()
        self.runs = MemoryRuns()
        self.queue = InMemoryQueue()
        self.mailer = CapturingMailer()
        self.service = BucketImport(
            MemberImport(self.platform),
            self.objects,
            self.runs,
            self.queue,
            self.mailer,
            admin_emails=["admin@example.com"],
            stage="test",
            limits=limits,
            clock=lambda: datetime(2026, 12, 2, tzinfo=UTC),
        )

    def put(self, key: str, data: bytes, content_type: str | None = None) -> str:
        """Put the file; the bucket's notification, as S3 sends it; the run's id."""
        self.objects.files[key] = (data, content_type)
        record = {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}
        record["s3"] = {"bucket": {"name": BUCKET}, "object": {"key": key, "eTag": '"e"', "versionId": "v1"}}
        (run,) = self.service.receive(json.dumps({"Records": [record]}))
        return run.import_id

    def drain(self) -> int:
        """Deliver the queued chunk messages until none is left (each once); how many."""
        delivered = 0
        while self.queue.messages:
            for message in self.queue.drain():
                self.service.receive(message.body)
                delivered += 1
        return delivered


def test_a_file_in_several_chunks_gives_an_exact_report_emailed_once() -> None:
    world = World(ChunkLimits(lines=40, bytes=4096, max_line_bytes=512))
    members = member_file(195)
    import_id = world.put("club/members.csv", members.text.encode())
    assert world.drain() >= 4

    report = world.service.report(import_id)
    run = report.run
    assert (run.status, run.failure) == ("completed", None)
    assert (run.lines, run.created, run.already_there, run.refused) == (200, 195, 0, 5)
    assert run.next_offset == run.size
    assert run.chunks >= 5
    assert {o.line: o.reason for o in report.refused_lines} == members.refusals
    assert len(world.platform.accounts) == 195
    assert len(world.mailer.sent) == 1
    mail = world.mailer.sent[0]
    assert mail.to == ["admin@example.com"]
    assert "completed" in mail.subject
    assert "Created: 195" in mail.text
    assert "Refused: 5" in mail.text
    assert f"{sorted(members.refusals)[0]}: " in mail.text

    # The same file again (another import): nothing created. The card repeated in a later
    # chunk is then already there too (it is this import's duplicate only within a chunk,
    # as for the HTTP import sent in parts): 196 already there, 4 refused.
    again = world.put("club/again.csv", members.text.encode())
    world.drain()
    second = world.service.report(again).run
    assert (second.created, second.already_there, second.refused) == (0, 196, 4)
    assert len(world.platform.accounts) == 195


def test_a_chunk_repeated_after_a_crash_counts_and_writes_nothing_twice() -> None:
    world = World(ChunkLimits(lines=30, bytes=4096, max_line_bytes=512))
    members = member_file(95)
    import_id = world.put("crash.csv", members.text.encode())
    (message,) = world.queue.drain()
    world.runs.crash_advances = 1  # the chunk's lines are written, its progress record is not
    with pytest.raises(errors.Retryable):
        world.service.receive(message.body)
    assert world.runs.runs[import_id].chunks == 1
    world.service.receive(message.body)  # SQS delivers the message again
    world.service.receive(message.body)  # and once more (a duplicate): dropped
    world.drain()

    run = world.service.report(import_id).run
    assert (run.lines, run.created, run.already_there, run.refused) == (100, 95, 0, 5)
    assert len(world.platform.accounts) == 95
    for i, card in enumerate(members.cards):
        member = world.platform.find_members(card_number=card)[0]
        assert world.platform.get_balance(member.member_id).balance == members.balance(i)
    assert len(world.mailer.sent) == 1


def test_a_lost_hand_on_is_sent_again_by_the_repeated_message() -> None:
    world = World(ChunkLimits(lines=30, bytes=4096, max_line_bytes=512))
    import_id = world.put("lost.csv", member_file(95).text.encode())
    (first,) = world.queue.drain()
    world.queue.fail_with = errors.Retryable("sqs down")
    with pytest.raises(errors.Retryable):
        world.service.receive(first.body)  # the chunk is recorded, the next one not handed on
    world.queue.fail_with = None
    world.service.receive(first.body)
    assert [json.loads(m.body)["offset"] for m in world.queue.messages] == [
        world.runs.runs[import_id].next_offset
    ]
    world.drain()
    assert world.service.report(import_id).run.created == 95


def test_a_file_that_is_not_csv_or_json_lines_fails_with_a_clear_report() -> None:
    world = World(ChunkLimits())
    import_id = world.put("members.xlsx", b"PK\x03\x04", "application/vnd.ms-excel")
    run = world.service.report(import_id).run
    assert run.status == "failed"
    assert "text/csv" in (run.failure or "")
    assert run.lines == 0
    assert world.queue.messages == []
    assert "failed" in world.mailer.sent[0].subject
    assert "text/csv" in world.mailer.sent[0].text


def test_an_unreadable_header_fails_the_import() -> None:
    world = World(ChunkLimits())
    import_id = world.put("bad.csv", b"number,points\n6400000000000001,5\n")
    run = world.service.report(import_id).run
    assert run.status == "failed"
    assert "first line must name the columns" in (run.failure or "")
    assert len(world.mailer.sent) == 1


def test_an_oversized_line_fails_the_import_and_keeps_the_lines_before_it() -> None:
    world = World(ChunkLimits(lines=20, bytes=2048, max_line_bytes=300))
    members = member_file(45)
    rows = members.text.splitlines()
    huge = rows[30].split(",")[0] + "," + "x" * 400 + ",,,,,10,,,"
    text = "\n".join([*rows[:30], huge, *rows[30:]]) + "\n"
    import_id = world.put("huge.csv", text.encode())
    world.drain()
    run = world.service.report(import_id).run
    assert run.status == "failed"
    assert run.failure == "line 31 is longer than 300 bytes"
    assert (run.lines, run.created + run.refused) == (29, 29)
    assert len(world.platform.accounts) == run.created
    assert "Lines before line 31 are imported" in world.mailer.sent[0].text


def test_json_lines_keep_their_numbers_across_chunks_and_blank_lines() -> None:
    world = World(ChunkLimits(lines=3, bytes=4096, max_line_bytes=512))
    cards = member_file(8).cards[:6]
    lines = [json.dumps({"card_number": c, "balance": 7}) for c in cards]
    text = "\n".join([lines[0], "", lines[1], lines[2], "[1]", *lines[3:], lines[0]]) + "\n"
    import_id = world.put("members.jsonl", text.encode())
    world.drain()
    report = world.service.report(import_id)
    assert (report.run.created, report.run.refused) == (6, 2)
    assert [(o.line, o.reason) for o in report.refused_lines] == [(5, "bad_field"), (9, "duplicate_card")]


def test_split_chunk_stops_at_whole_lines() -> None:
    limits = ChunkLimits(lines=10, bytes=64, max_line_bytes=32)
    data = b"\xef\xbb\xbfa\r\nbb\n"
    chunk = split_chunk(data + b"cc", 0, 1, 20, limits)
    assert chunk.lines == [(1, "a"), (2, "bb")]
    assert chunk.end_offset == len(data)
    assert not chunk.last
    tail = split_chunk(b"cc", len(data), 3, len(data) + 2, limits)
    assert tail.lines == [(3, "cc")]
    assert tail.last
    with pytest.raises(Exception, match="line 4 is not UTF-8"):
        split_chunk(b"\xff\xfe\n", 9, 4, 12, limits)


def test_a_chunk_message_for_an_unknown_import_is_not_found() -> None:
    world = World(ChunkLimits())
    with pytest.raises(errors.NotFound):
        world.service.chunk(ChunkMessage(import_id="s3:nothing@v1", offset=0))


def test_a_long_key_gives_a_bounded_import_id() -> None:
    short = import_id_for("a.csv", "v1")
    long_key = "x/" * 400 + "members.csv"
    assert short == "s3:a.csv@v1"
    assert len(import_id_for(long_key, "v1")) < 220
    assert import_id_for(long_key, "v1") != import_id_for(long_key + "2", "v1")


def test_a_dead_chunk_message_is_recorded_with_its_body_to_resume_by_hand() -> None:
    from loyalty_bridge.services.dead_letters import dead_letter_record

    body = ChunkMessage(import_id="s3:k.csv@v1", offset=4096).model_dump_json()
    record = dead_letter_record(body, "m-1", "arn:aws:sqs:us-east-1:1:stack-MemberImportDLQ", 6)
    assert record.replay["raw"] == body


def test_an_invocation_short_of_time_records_what_it_did_and_hands_the_rest_on() -> None:
    world = World(ChunkLimits(lines=500, bytes=1024 * 1024, max_line_bytes=512))
    members = member_file(195)
    world.objects.files["slow.csv"] = (members.text.encode(), None)
    record = {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}
    record["s3"] = {"bucket": {"name": BUCKET}, "object": {"key": "slow.csv", "eTag": '"e"'}}
    clock = iter([100.0, 100.0, 10.0])  # plenty, plenty, then 10 s left: after 150 lines
    (run,) = world.service.receive(json.dumps({"Records": [record]}), time_left=lambda: next(clock, 10.0))
    assert (run.status, run.lines, run.next_line) == ("running", 150, 152)
    world.drain()
    report = world.service.report(run.import_id)
    assert (report.run.lines, report.run.created, report.run.refused) == (200, 195, 5)
    assert report.run.chunks == 2
    assert {o.line: o.reason for o in report.refused_lines} == members.refusals
