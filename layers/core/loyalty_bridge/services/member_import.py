"""Member import (seed 002): an earlier program's members, one a line (CSV with a header
naming the columns, or JSON lines), become unlinked members with their cards and opening
balances. Which lines are importable and what a member opens with is the program's
(program/member_import.py); this module reads a file's lines and hands the valid ones to
the platform. A bad line is refused with its reason and never stops the others.

POST /v1/admin/members/import takes up to MAX_LINES_PER_REQUEST lines and answers every
line's outcome (``import_lines`` takes any numbered lines: a chunked import of a big file
would call it chunk by chunk, with the file's line numbers).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any, Literal

from loyalty_bridge import errors
from loyalty_bridge.models.member_import import (
    FIELDS,
    MAX_LINES_PER_REQUEST,
    LineOutcome,
    MemberImportResult,
    MemberLine,
)
from loyalty_bridge.observability import logger
from loyalty_bridge.ports import LoyaltyPlatform
from loyalty_bridge.program import member_import as rules

Format = Literal["csv", "jsonl"]
RawLine = tuple[int, dict[str, Any] | None]  # line number, fields (None: not a JSON object)


def file_format(content_type: str | None, name: str = "") -> Format:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "text/csv" or name.lower().endswith(".csv"):
        return "csv"
    if media in {
        "application/x-ndjson",
        "application/jsonl",
        "application/json-lines",
    } or name.lower().endswith((".jsonl", ".ndjson")):
        return "jsonl"
    raise errors.InvalidInput(
        "Send text/csv (a header line naming the columns) or application/x-ndjson (one JSON object a line).",
        code="unsupported_media_type",
        errors=[{"field": "content-type", "message": media or "missing"}],
    )


def csv_header(line: str) -> list[str]:
    """The column names of a CSV's first line; every name must be a member field."""
    names = [name.strip().lower() for name in next(csv.reader([line]), [])]
    unknown = [name for name in names if name not in FIELDS]
    if "card_number" not in names or unknown or len(set(names)) != len(names):
        raise errors.InvalidInput(
            "The first line must name the columns: " + ", ".join(FIELDS) + " (card_number required).",
            code="invalid_header",
            errors=[{"field": "header", "message": ", ".join(unknown) or "card_number missing or repeated"}],
        )
    return names


def read_lines(
    text: str, fmt: Format, *, header: list[str] | None = None, first_line: int = 1
) -> list[RawLine]:
    """The numbered lines of ``text`` (blank lines skipped; numbering counts them). A CSV's
    ``header`` is the column names (None: the text's first line is the header)."""
    lines = text.splitlines()
    number = first_line
    if fmt == "csv" and header is None:
        if not lines:
            raise errors.InvalidInput("The file is empty.", code="invalid_header")
        header = csv_header(lines[0])
        lines, number = lines[1:], number + 1
    found: list[RawLine] = []
    for offset, line in enumerate(lines):
        if line.strip():
            found.append((number + offset, _fields(line, fmt, header or [])))
    return found


def numbered_lines(lines: Sequence[tuple[int, str]], fmt: Format, header: list[str] | None) -> list[RawLine]:
    """Lines already numbered (a chunk of a bigger file; a CSV's ``header`` read before):
    the blank ones skipped, the others as ``read_lines`` gives them."""
    return [(number, _fields(line, fmt, header or [])) for number, line in lines if line.strip()]


def _fields(line: str, fmt: Format, header: list[str]) -> dict[str, Any] | None:
    if fmt == "csv":
        values = next(csv.reader(io.StringIO(line)), [])
        fields: dict[str, Any] = dict(zip(header, values, strict=False))
        if len(values) > len(header):
            fields["(extra columns)"] = values[len(header) :]
        return fields
    try:
        parsed = json.loads(line)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


class MemberImport:
    def __init__(self, platform: LoyaltyPlatform) -> None:
        self._platform = platform

    def import_text(
        self, import_id: str, fmt: Format, text: str, *, first_line: int = 1
    ) -> MemberImportResult:
        """POST /v1/admin/members/import: every line's outcome. ``first_line``: the number of
        the text's first line in the whole file (a file sent in parts under one import id)."""
        lines = read_lines(text, fmt, first_line=first_line)
        if not lines:
            raise errors.InvalidInput(
                "The file has no member lines.", errors=[{"field": "body", "message": "empty"}]
            )
        if len(lines) > MAX_LINES_PER_REQUEST:
            raise errors.InvalidInput(
                f"At most {MAX_LINES_PER_REQUEST} lines a request; split the file.",
                code="too_many_lines",
                errors=[{"field": "body", "message": f"{len(lines)} lines"}],
            )
        answer = rules.result(import_id, self.import_lines(import_id, lines))
        counts = answer.model_dump(include={"already_there", "refused", "lines"})
        logger.info(
            "members imported", extra={"import_id": import_id, "members_created": answer.created, **counts}
        )
        return answer

    def import_lines(self, import_id: str, lines: Sequence[RawLine]) -> list[LineOutcome]:
        """Screen each line (program rules) and import the valid ones: outcomes in line order."""
        seen: set[str] = set()
        outcomes: list[LineOutcome] = []
        valid: list[tuple[int, MemberLine]] = []
        for number, fields in lines:
            if fields is None:
                outcomes.append(rules.refused(number, "", "bad_field", "not a JSON object"))
                continue
            screened = rules.screen_line(number, fields, seen)
            if isinstance(screened, LineOutcome):
                outcomes.append(screened)
            else:
                valid.append((number, screened))
        if valid:
            outcomes.extend(self._platform.import_members(import_id, valid))
        return sorted(outcomes, key=lambda o: o.line)
