"""Member import through the bucket (issue 18): a file put in the import bucket is imported
in chunks by the member import worker (services/bucket_import.py). ``ImportRun`` is the
progress record (BridgeTable), ``ChunkMessage`` the hand-on between chunks (MemberImportQueue),
``ImportReport`` what GET /v1/admin/members/imports/{import_id} answers and the admins get by
email at the end."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from loyalty_bridge.models.member_import import LineOutcome

RunStatus = Literal["running", "completed", "failed"]
MAX_REPORTED_REFUSALS = 1_000  # refused lines in one report answer (the record keeps them all)


class ImportRun(BaseModel):
    """Where an import of one object version stands. ``next_offset`` is the byte of the file
    the next chunk starts at and ``next_line`` that byte's line number; a chunk's lines and
    its counts are recorded together, conditionally on ``next_offset``, so no line counts twice."""

    model_config = ConfigDict(frozen=True)

    import_id: str = Field(description="s3:<key>@<version id or ETag>")
    bucket: str
    key: str
    version_id: str | None = None
    size: int = Field(ge=0, description="bytes in the file")
    format: Literal["csv", "jsonl"] | None = None
    header: list[str] | None = Field(default=None, description="a CSV's column names (its line 1)")
    status: RunStatus = "running"
    failure: str | None = Field(default=None, description="why the import stopped (status failed)")
    next_offset: int = Field(default=0, ge=0)
    next_line: int = Field(default=1, ge=1)
    handed_on: int = Field(default=0, ge=0, description="the last offset a chunk message was sent for")
    chunks: int = Field(default=0, ge=0)
    lines: int = Field(
        default=0, ge=0, description="member lines read (blank lines and the header not counted)"
    )
    created: int = Field(default=0, ge=0)
    already_there: int = Field(default=0, ge=0)
    refused: int = Field(default=0, ge=0)
    emailed: bool = False
    started_at: datetime
    finished_at: datetime | None = None


class ChunkMessage(BaseModel):
    """MemberImportQueue: import the chunk of ``import_id`` that starts at byte ``offset``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["member_import_chunk"] = "member_import_chunk"
    import_id: str = Field(min_length=1)
    offset: int = Field(ge=0)


class ImportReport(BaseModel):
    """GET /v1/admin/members/imports/{import_id}: the run and its refused lines, in file order."""

    model_config = ConfigDict(frozen=True)

    run: ImportRun
    refused_lines: list[LineOutcome]
    refused_lines_truncated: bool = Field(
        default=False, description=f"more than {MAX_REPORTED_REFUSALS} refused lines: the first ones"
    )
