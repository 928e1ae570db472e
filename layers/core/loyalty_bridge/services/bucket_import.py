"""Member import through the bucket (issue 18): a CSV or JSON lines file put in the import
bucket is imported chunk by chunk, one chunk an invocation of the member import worker.

- The bucket's ObjectCreated notification (MemberImportQueue) starts a run: its record
  (``ImportRun``, import id ``s3:<key>@<version>``) and the first chunk.
- A chunk is at most ``member_import_chunk_lines`` lines read with one ranged GetObject of at
  most ``member_import_chunk_bytes`` from the run's ``next_offset``. Its lines go through
  ``MemberImport.import_lines`` with the file's line numbers; its refused lines are stored, then
  the run moves on (counts added, ``next_offset`` advanced) in ONE conditional write on the
  offset it started from. A crash before that write repeats the chunk: its lines answer
  ``created`` again for the same import (nothing is written twice) and are counted once.
- Then a ``ChunkMessage`` for the next offset is sent and ``handed_on`` recorded. A message
  for an offset the run has passed is dropped, unless the hand-on after it was never recorded
  (a crash between the write and the send): then it is sent again.
- At the end (the last byte, or a file that cannot be read on: no header, an oversized line,
  bytes that are not UTF-8) the run is ``completed`` or ``failed`` and the report is emailed
  to the admins once. Lines imported before a failure stay imported and counted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, unquote_plus

from pydantic import ValidationError

from loyalty_bridge import errors
from loyalty_bridge.models.bucket_import import (
    MAX_REPORTED_REFUSALS,
    ChunkMessage,
    ImportReport,
    ImportRun,
)
from loyalty_bridge.models.member_import import LineOutcome
from loyalty_bridge.observability import logger
from loyalty_bridge.ports import Mailer, MessageQueue
from loyalty_bridge.services.member_import import MemberImport, csv_header, file_format, numbered_lines

MAX_EMAILED_REFUSALS = 50
SLICE_LINES = 50  # a chunk is imported this many lines at a time, the clock checked between
STOP_WITH_SECONDS_LEFT = 30.0  # an invocation with less left records what it did and hands on
TimeLeft = Callable[[], float]  # seconds the invocation has left (Lambda's context)


@dataclass(frozen=True)
class StoredObject:
    size: int
    content_type: str | None
    version_id: str | None


class ImportObjects(Protocol):
    """The import bucket (adapters/import_bucket.py)."""

    def describe(self, bucket: str, key: str, version_id: str | None) -> StoredObject: ...

    def read(self, bucket: str, key: str, version_id: str | None, start: int, length: int) -> bytes: ...


class ImportRuns(Protocol):
    """Import runs and their refused lines (adapters/import_runs.py, BridgeTable)."""

    def create(self, run: ImportRun) -> bool:
        """Store a new run; False when the import id is already recorded."""
        ...

    def get(self, import_id: str) -> ImportRun | None: ...

    def put_refusals(self, import_id: str, offset: int, refused: Sequence[LineOutcome]) -> None:
        """The refused lines of the chunk at ``offset`` (a repeat overwrites them alike)."""
        ...

    def advance(self, run: ImportRun, expected_offset: int) -> bool:
        """Write ``run`` if the stored one still has ``next_offset == expected_offset``."""
        ...

    def mark(self, import_id: str, *, handed_on: int | None = None, emailed: bool | None = None) -> None: ...

    def refusals(self, import_id: str, limit: int) -> tuple[list[LineOutcome], bool]:
        """The first ``limit`` refused lines in file order, and whether there are more."""
        ...


@dataclass(frozen=True)
class ChunkLimits:
    lines: int = 500
    bytes: int = 1024 * 1024
    max_line_bytes: int = 16 * 1024


class ImportStopped(Exception):
    """The file cannot be read on from here (the run fails with this message)."""


@dataclass(frozen=True)
class Chunk:
    lines: list[tuple[int, str]]  # (line number, text) of the chunk's lines, blank ones too
    end_offset: int
    end_line: int
    last: bool  # the chunk ends the file
    ends: tuple[int, ...] = ()  # the file offset after each line

    def cut(self, count: int) -> Chunk:
        """The chunk's first ``count`` lines (an invocation running out of time)."""
        if count >= len(self.lines) or count < 1:
            return self
        return Chunk(
            self.lines[:count], self.ends[count - 1], self.lines[0][0] + count, False, self.ends[:count]
        )


def split_chunk(data: bytes, start: int, first_line: int, size: int, limits: ChunkLimits) -> Chunk:
    """The whole lines at the start of ``data`` (the file's bytes from ``start``), at most
    ``limits.lines``. Raises ImportStopped when the first of them is too long or not UTF-8."""
    at_end = start + len(data) >= size
    if start == 0 and data.startswith(b"\xef\xbb\xbf"):
        data, start = data[3:], 3
    lines: list[tuple[int, str]] = []
    ends: list[int] = []
    position = 0
    while len(lines) < limits.lines and position < len(data):
        newline = data.find(b"\n", position)
        if newline < 0 and not at_end:
            if len(data) - position > limits.max_line_bytes or not lines:
                _too_long(first_line + len(lines), limits)
            break
        stop = len(data) if newline < 0 else newline
        raw = data[position:stop]
        if len(raw) > limits.max_line_bytes:
            if not lines:
                _too_long(first_line + len(lines), limits)
            break
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            if lines:
                break
            raise ImportStopped(f"line {first_line} is not UTF-8 text (byte {exc.start + 1})") from exc
        lines.append((first_line + len(lines), text.removesuffix("\r")))
        position = stop + 1
        ends.append(start + min(position, len(data)))
    end = start + min(position, len(data))
    return Chunk(lines, end, first_line + len(lines), end >= size, tuple(ends))


def _too_long(line: int, limits: ChunkLimits) -> None:
    raise ImportStopped(f"line {line} is longer than {limits.max_line_bytes} bytes")


def _s3_records(document: object) -> list[dict[str, Any]]:
    records = document.get("Records") if isinstance(document, dict) else None
    if not isinstance(records, list):
        return []
    return [r for r in records if isinstance(r, dict) and r.get("eventSource") == "aws:s3"]


MAX_KEY_IN_ID = 200


def import_id_for(key: str, version: str) -> str:
    """``s3:<key>@<version>``; a key longer than MAX_KEY_IN_ID is shortened with its hash
    (the id is part of the ledger's keys, and S3 keys may be 1,024 bytes)."""
    if len(key) > MAX_KEY_IN_ID:
        key = f"{key[: MAX_KEY_IN_ID - 17]}~{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    return f"s3:{key}@{version}"


def report_route(import_id: str) -> str:
    return f"/v1/admin/members/imports/{quote(import_id, safe='')}"


class BucketImport:
    def __init__(
        self,
        members: MemberImport,
        objects: ImportObjects,
        runs: ImportRuns,
        queue: MessageQueue,
        mailer: Mailer,
        *,
        admin_emails: Sequence[str],
        stage: str,
        limits: ChunkLimits,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._members = members
        self._objects = objects
        self._runs = runs
        self._queue = queue
        self._mailer = mailer
        self._admins = tuple(admin_emails)
        self._stage = stage
        self._limits = limits
        self._clock = clock

    # ------------------------------------------------------------ entry points

    def receive(
        self, body: str, *, last_delivery: bool = False, time_left: TimeLeft | None = None
    ) -> list[ImportRun]:
        """One MemberImportQueue message: the bucket's notification (each ObjectCreated
        record starts a run) or a ChunkMessage. Anything else is logged and dropped (S3's
        s3:TestEvent when the notification is configured)."""
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if isinstance(document, dict) and document.get("kind") == "member_import_chunk":
            try:
                message = ChunkMessage.model_validate(document)
            except ValidationError:
                logger.error("unreadable member import message dropped", extra={"bytes": len(body)})
                return []
            return [self.chunk(message, last_delivery=last_delivery, time_left=time_left)]
        created = [
            r for r in _s3_records(document) if str(r.get("eventName", "")).startswith("ObjectCreated")
        ]
        if not created:
            logger.warning("member import queue message ignored (not an ObjectCreated notification)")
        runs = []
        for record in created:
            s3 = record.get("s3") or {}
            obj = s3.get("object") or {}
            runs.append(
                self.object_created(
                    str((s3.get("bucket") or {}).get("name", "")),
                    unquote_plus(str(obj.get("key", ""))),
                    obj.get("versionId"),
                    str(obj.get("eTag", "")),
                    time_left=time_left,
                )
            )
        return runs

    def object_created(
        self, bucket: str, key: str, version_id: str | None, etag: str, *, time_left: TimeLeft | None = None
    ) -> ImportRun:
        """An ObjectCreated notification: record the run (once per object version) and import
        its first chunk."""
        stored = self._objects.describe(bucket, key, version_id)
        version = version_id or stored.version_id
        run = ImportRun(
            import_id=import_id_for(key, version or etag.strip('"')),
            bucket=bucket,
            key=key,
            version_id=version,
            size=stored.size,
            started_at=self._clock(),
        )
        try:
            run = run.model_copy(update={"format": file_format(stored.content_type, key)})
        except errors.InvalidInput as exc:
            run = run.model_copy(update={"status": "failed", "failure": str(exc)})
        if not self._runs.create(run):
            logger.info("import notification repeated", extra={"import_id": run.import_id})
            return self.chunk(ChunkMessage(import_id=run.import_id, offset=0), time_left=time_left)
        logger.info("member import started", extra={"import_id": run.import_id, "bytes": run.size})
        if run.status != "running":
            self._report(run)
            return run
        return self._import_chunk(run, time_left)

    def chunk(
        self, message: ChunkMessage, *, last_delivery: bool = False, time_left: TimeLeft | None = None
    ) -> ImportRun:
        """A chunk message: import the chunk at ``message.offset`` if the run is there."""
        run = self._runs.get(message.import_id)
        if run is None:
            raise errors.NotFound(f"no member import {message.import_id}")
        if run.status != "running":
            if not run.emailed:
                self._report(run)
            return run
        if message.offset != run.next_offset:
            if message.offset < run.next_offset and run.handed_on < run.next_offset:
                self._hand_on(run)  # the write went through, the hand-on after it did not
            return run
        try:
            return self._import_chunk(run, time_left)
        except Exception as exc:
            if errors.is_retryable(exc) and not last_delivery:
                raise  # the message comes back; the chunk starts again from the same offset
            logger.exception("member import chunk failed", extra={"import_id": run.import_id})
            failure = f"stopped at line {run.next_line}: {type(exc).__name__}: {exc}"[:500]
            return self._finish(run, run.next_offset, failure=failure)

    def report(self, import_id: str) -> ImportReport:
        run = self._runs.get(import_id)
        if run is None:
            raise errors.NotFound(f"no member import {import_id}")
        refused, more = self._runs.refusals(import_id, MAX_REPORTED_REFUSALS)
        return ImportReport(run=run, refused_lines=refused, refused_lines_truncated=more)

    # ------------------------------------------------------------ one chunk

    def _import_chunk(self, run: ImportRun, time_left: TimeLeft | None = None) -> ImportRun:
        start = run.next_offset
        data = b""
        if start < run.size:
            data = self._objects.read(run.bucket, run.key, run.version_id, start, self._limits.bytes)
        try:
            chunk = split_chunk(data, start, run.next_line, run.size, self._limits)
            header, lines = self._header(run, chunk.lines)
        except (ImportStopped, errors.InvalidInput) as exc:
            return self._finish(run, start, failure=str(exc))
        outcomes, done = self._import_slices(run, lines, header, time_left)
        if done < len(lines):
            chunk = chunk.cut(len(chunk.lines) - len(lines) + done)
        refused = [o for o in outcomes if o.outcome == "refused"]
        self._runs.put_refusals(run.import_id, start, refused)
        moved = run.model_copy(
            update={
                "header": header,
                "next_offset": chunk.end_offset,
                "next_line": chunk.end_line,
                "chunks": run.chunks + 1,
                "lines": run.lines + len(outcomes),
                "created": run.created + sum(o.outcome == "created" for o in outcomes),
                "already_there": run.already_there + sum(o.outcome == "already_there" for o in outcomes),
                "refused": run.refused + len(refused),
            }
        )
        if chunk.last:
            return self._finish(moved, start)
        if not self._runs.advance(moved, start):
            logger.info("chunk already recorded", extra={"import_id": run.import_id, "offset": start})
            return run
        logger.info(
            "member import chunk",
            extra={
                "import_id": run.import_id,
                "offset": start,
                "lines": len(outcomes),
                "next": chunk.end_offset,
            },
        )
        self._hand_on(moved)
        return moved

    def _import_slices(
        self,
        run: ImportRun,
        lines: list[tuple[int, str]],
        header: list[str] | None,
        time_left: TimeLeft | None,
    ) -> tuple[list[LineOutcome], int]:
        """The chunk's lines SLICE_LINES at a time, until done or the invocation's time runs
        low: their outcomes and how many lines were taken."""
        assert run.format is not None  # a run without a format is failed at its start
        outcomes: list[LineOutcome] = []
        for start in range(0, len(lines), SLICE_LINES):
            if start and time_left is not None and time_left() < STOP_WITH_SECONDS_LEFT:
                logger.info("chunk cut short", extra={"import_id": run.import_id, "lines_taken": start})
                return outcomes, start
            part = numbered_lines(lines[start : start + SLICE_LINES], run.format, header)
            outcomes.extend(self._members.import_lines(run.import_id, part))
        return outcomes, len(lines)

    def _header(
        self, run: ImportRun, lines: list[tuple[int, str]]
    ) -> tuple[list[str] | None, list[tuple[int, str]]]:
        if run.format != "csv" or run.header is not None:
            return run.header, lines
        if not lines:
            raise ImportStopped("The file is empty.")
        return csv_header(lines[0][1]), lines[1:]

    def _hand_on(self, run: ImportRun) -> None:
        message = ChunkMessage(import_id=run.import_id, offset=run.next_offset)
        self._queue.send(message.model_dump_json())
        self._runs.mark(run.import_id, handed_on=run.next_offset)

    def _finish(self, run: ImportRun, expected_offset: int, *, failure: str | None = None) -> ImportRun:
        done = run.model_copy(
            update={
                "status": "failed" if failure else "completed",
                "failure": failure,
                "finished_at": self._clock(),
            }
        )
        if not self._runs.advance(done, expected_offset):
            return run
        counts = {
            f"import_{name}": value
            for name, value in done.model_dump(
                include={"lines", "created", "already_there", "refused"}
            ).items()
        }
        logger.info(
            "member import finished", extra={"import_id": run.import_id, "status": done.status, **counts}
        )
        self._report(done)
        return done

    # ------------------------------------------------------------ the report

    def _report(self, run: ImportRun) -> None:
        if self._admins:
            refused, more = self._runs.refusals(run.import_id, MAX_EMAILED_REFUSALS)
            self._mailer.send(
                to=self._admins, subject=self._subject(run), text=report_text(run, refused, more)
            )
        self._runs.mark(run.import_id, emailed=True)

    def _subject(self, run: ImportRun) -> str:
        return f"[loyalty-bridge {self._stage}] Member import {run.status}: {run.key}"[:200]


def report_text(run: ImportRun, refused: Sequence[LineOutcome], more: bool) -> str:
    lines = [
        f"Member import of s3://{run.bucket}/{run.key}: {run.status}",
        "",
        f"Import id: {run.import_id}",
        f"Member lines read: {run.lines} (in {run.chunks} chunks, {run.next_offset} of {run.size} bytes)",
        f"Created: {run.created}",
        f"Already there: {run.already_there}",
        f"Refused: {run.refused}",
    ]
    if run.failure:
        lines += [
            "",
            f"The import stopped: {run.failure}",
            f"Lines before line {run.next_line} are imported and stay so; fix the file and put it "
            "again (the lines already imported answer already_there).",
        ]
    if refused:
        lines += ["", "Refused lines (line, card, reason):"]
        lines += [
            f"  {o.line}: {o.card_number or '(none)'} {o.reason} {o.detail or ''}".rstrip() for o in refused
        ]
        if more:
            lines.append(f"  ... the first {len(refused)}; every refused line is in the report")
    lines += ["", f"The whole report with an admin key: GET {report_route(run.import_id)}"]
    return "\n".join(lines)
