"""Member import (issue 18, seed 002) through the local stack: lines a second.

``POST /v1/admin/members/import`` in requests of 1,000 lines (the route's limit), then the
same file again (every line ``already_there``: reads only). On the local stack every
DynamoDB call is a moto request (tens of ms each), so these figures are the emulator's,
far below DynamoDB's; they show how the import scales, not how fast it is on AWS.

``measure_bucket``: the file put in the member import bucket instead (issue 18), imported
by the member import worker chunk by chunk; lines a second from the put to the report.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import quote

from bench.harness import BenchStack
from loyalty_bridge.models.member_import import MAX_LINES_PER_REQUEST
from loyalty_bridge.program import card_numbers

HEADER = "card_number,mobile,email,first_name,balance,lots,source_program"


def member_lines(count: int) -> list[str]:
    lines = []
    for i in range(count):
        payload = "63" + "".join(str(secrets.randbelow(10)) for _ in range(13))
        card = payload + card_numbers.luhn_check_digit(payload)
        mobile = f"+4917{secrets.randbelow(10**8):08d}" if i % 3 else ""
        email = f"bench.{secrets.token_hex(6)}@example.com" if i % 4 else ""
        lots = f"{i % 40 + 1}@2027-06-30" if i % 2 else ""
        lines.append(f"{card},{mobile},{email},M{i},{i % 500 + 50},{lots},bench")
    return lines


def _send(bench: BenchStack, lines: list[str]) -> tuple[float, dict[str, int]]:
    counts = {"created": 0, "already_there": 0, "refused": 0}
    with bench.client("admin", timeout=1800.0) as admin:
        started = time.perf_counter()
        for start in range(0, len(lines), MAX_LINES_PER_REQUEST):
            body = HEADER + "\n" + "\n".join(lines[start : start + MAX_LINES_PER_REQUEST]) + "\n"
            answer = admin.post(
                "/v1/admin/members/import", content=body, headers={"content-type": "text/csv"}
            )
            answer.raise_for_status()
            for key in counts:
                counts[key] += int(answer.json()[key])
        return time.perf_counter() - started, counts


def measure(bench: BenchStack, count: int) -> dict[str, Any]:
    lines = member_lines(count)
    first_s, first = _send(bench, lines)
    again_s, again = _send(bench, lines)
    return {
        "lines": count,
        "created": first["created"],
        "lines_per_second": round(count / first_s, 1),
        "repeat_already_there": again["already_there"],
        "repeat_lines_per_second": round(count / again_s, 1),
    }


def measure_bucket(bench: BenchStack, count: int, *, wait_seconds: float = 7200.0) -> dict[str, Any]:
    """The same kind of file put in the member import bucket: from the put until the report
    says completed (the worker's chunks, each handed on through MemberImportQueue)."""
    bucket = bench.stack.status()["buckets"]["MemberImportBucket"]
    key = f"bench/members-{secrets.token_hex(4)}.csv"
    body = (HEADER + "\n" + "\n".join(member_lines(count)) + "\n").encode()
    started = time.perf_counter()
    put = bench.aws("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv")
    import_id = f"s3:{key}@{put.get('VersionId') or put['ETag'].strip(chr(34))}"
    route = f"/v1/admin/members/imports/{quote(import_id, safe='')}"
    run: dict[str, Any] = {}
    with bench.client("admin", timeout=60.0) as admin:
        while time.perf_counter() - started < wait_seconds:
            answer = admin.get(route)
            if answer.status_code == 200:
                run = answer.json()["run"]
                if run["status"] != "running":
                    break
            time.sleep(0.5)
    elapsed = time.perf_counter() - started
    return {
        "lines": count,
        "bytes": len(body),
        "status": run.get("status", "not started"),
        "chunks": run.get("chunks", 0),
        "created": run.get("created", 0),
        "refused": run.get("refused", 0),
        "seconds": round(elapsed, 1),
        "lines_per_second": round(int(run.get("lines", 0)) / elapsed, 1),
    }
