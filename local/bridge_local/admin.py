"""``bridge-admin``: admin tasks for people, over the signed API (admin-scoped key).

    bridge-admin import-cards cards.csv                 # batch id: the file name
    bridge-admin import-cards cards.csv --batch-id delivery-2025-03
    bridge-admin --url https://api.example.com --key-id ops-1 --secret ... import-cards cards.csv
    bridge-admin import-members members.csv             # import id: the file name + a suffix
    bridge-admin import-members members.jsonl --import-id club-2025

The file is one card number a line (a header line, and further CSV columns, are ignored).
It is sent as ``text/csv`` to ``POST /v1/admin/cards/import`` in requests of at most
10,000 numbers (the route's limit), all under the same batch id; the counts are summed.
Running it again imports nothing twice: every number is then ``already_known``.

``import-members`` (seed 002, issue 18) puts a CSV (header line naming the columns) or JSON
lines file in the member import bucket, where the member import worker imports it in chunks,
waits for the run's report (``GET /v1/admin/members/imports/{import_id}``) and prints it: the
counts and every refused line with its reason (exit 1 when the import failed). The bucket
and its S3 endpoint are ``--bucket``/``--s3-endpoint`` (``BRIDGE_IMPORT_BUCKET``,
``BRIDGE_S3_ENDPOINT``), else the local stack's (its status route names both); on AWS the
usual credentials put the file.

``--http`` sends the file to ``POST /v1/admin/members/import`` instead, in parts of at most
1,000 lines, all under one import id and with the file's line numbers (``?line=``), and prints
the summed counts. Running it again creates nothing: the lines are ``already_there`` (with
``--import-id`` of the earlier run, e.g. to finish an interrupted one, they answer ``created``
as the first time and are not written twice).
Defaults are the local stack's: ``BRIDGE_URL`` (http://127.0.0.1:3000), ``BRIDGE_ADMIN_KEY_ID``
(local-admin) and ``BRIDGE_ADMIN_SECRET`` or ``BRIDGE_LOCAL_ADMIN_SECRET`` (the printed
development default).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from botocore.exceptions import BotoCoreError, ClientError

from bridge_local.client import DEFAULT_BASE_URL, SignedClient
from loyalty_bridge import errors
from loyalty_bridge.models.card_stock import MAX_CARDS_PER_REQUEST
from loyalty_bridge.models.member_import import MAX_LINES_PER_REQUEST
from loyalty_bridge.services.card_stock import csv_numbers
from loyalty_bridge.services.member_import import file_format


def _client(args: argparse.Namespace) -> SignedClient:
    from bridge_local.resources import DEV_ADMIN_SECRET

    secret = (
        args.secret
        or os.environ.get("BRIDGE_ADMIN_SECRET")
        or os.environ.get("BRIDGE_LOCAL_ADMIN_SECRET")
        or DEV_ADMIN_SECRET
    )
    return SignedClient(args.url, key_id=args.key_id, secret=secret, timeout=args.timeout)


def import_cards(client: SignedClient, path: Path, batch_id: str, chunk: int) -> tuple[dict[str, Any], bool]:
    """Send the file in chunks; the summed counts and whether every request succeeded."""
    numbers = csv_numbers(path.read_text(encoding="utf-8-sig"))
    totals: dict[str, Any] = {
        "batch_id": batch_id,
        "numbers": len(numbers),
        "imported": 0,
        "already_known": 0,
        "invalid_count": 0,
        "invalid": [],
    }
    ok = True
    target = f"/v1/admin/cards/import?batch_id={quote(batch_id, safe='')}"
    for start in range(0, len(numbers), chunk):
        body = "\n".join(numbers[start : start + chunk]) + "\n"
        answer = client.post(target, content=body, headers={"content-type": "text/csv"})
        if answer.status_code != 200:
            ok = False
            print(
                f"error: lines {start + 1}-{start + chunk}: HTTP {answer.status_code} {answer.text}",
                file=sys.stderr,
            )
            continue
        part = answer.json()
        for key in ("imported", "already_known", "invalid_count"):
            totals[key] += int(part[key])
        totals["invalid"].extend(part["invalid"])
    return totals, ok


def import_members(
    client: SignedClient, path: Path, import_id: str, chunk: int
) -> tuple[dict[str, Any], bool]:
    """Send the file in parts; the summed counts, the refused lines, and whether every
    request succeeded."""
    fmt = file_format(None, path.name)
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    header, first = ([lines[0]], 2) if fmt == "csv" and lines else ([], 1)
    body_lines = lines[len(header) :]
    totals: dict[str, Any] = {
        "import_id": import_id,
        "lines": 0,
        "created": 0,
        "already_there": 0,
        "refused": 0,
    }
    refusals: list[dict[str, Any]] = []
    ok = True
    media = "text/csv" if fmt == "csv" else "application/x-ndjson"
    for start in range(0, len(body_lines), chunk):
        # The part's first line (its header, for a CSV) has this number in the file.
        line = first + start - len(header)
        target = f"/v1/admin/members/import?import_id={quote(import_id, safe='')}&line={line}"
        body = "\n".join([*header, *body_lines[start : start + chunk]]) + "\n"
        answer = client.post(target, content=body, headers={"content-type": media})
        if answer.status_code != 200:
            ok = False
            print(
                f"error: lines {first + start}-{first + start + chunk - 1}: "
                f"HTTP {answer.status_code} {answer.text}",
                file=sys.stderr,
            )
            continue
        part = answer.json()
        for key in ("lines", "created", "already_there", "refused"):
            totals[key] += int(part[key])
        refusals.extend(
            {k: o[k] for k in ("line", "card_number", "reason", "detail")}
            for o in part["outcomes"]
            if o["outcome"] == "refused"
        )
    totals["refusals"] = refusals
    return totals, ok


REPORT_POLL_SECONDS = 0.5


def _bucket_target(args: argparse.Namespace, client: SignedClient) -> tuple[str, str | None]:
    """The import bucket and the S3 endpoint (None: AWS's own): given, else the local stack's."""
    bucket = args.bucket or os.environ.get("BRIDGE_IMPORT_BUCKET")
    endpoint = args.s3_endpoint or os.environ.get("BRIDGE_S3_ENDPOINT")
    if bucket:
        return bucket, endpoint
    answer = client.get("/__local/status")
    if answer.status_code != 200:
        raise errors.InvalidInput("Name the import bucket: --bucket (or BRIDGE_IMPORT_BUCKET).")
    status = answer.json()
    return str(status["buckets"]["MemberImportBucket"]), endpoint or str(status["moto_url"])


def upload_members(args: argparse.Namespace, client: SignedClient) -> str:
    """Put the file in the import bucket; the import id of the run it starts."""
    import boto3

    fmt = file_format(None, args.file.name)
    bucket, endpoint = _bucket_target(args, client)
    key_id: str | None = None
    secret: str | None = None
    if endpoint and not os.environ.get("AWS_ACCESS_KEY_ID"):  # moto takes any credentials
        from bridge_local.resources import FAKE_ACCESS_KEY, FAKE_SECRET_KEY

        key_id, secret = FAKE_ACCESS_KEY, FAKE_SECRET_KEY
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )
    key = args.key or f"imports/{args.file.stem}-{uuid.uuid4().hex[:8]}{args.file.suffix}"
    media = "text/csv" if fmt == "csv" else "application/x-ndjson"
    with args.file.open("rb") as body:
        put = s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=media)
    version = put.get("VersionId") or str(put["ETag"]).strip('"')
    return f"s3:{key}@{version}"


def wait_for_report(client: SignedClient, import_id: str, wait_seconds: float) -> dict[str, Any]:
    """The run's report once it is no longer running (or as it stands after ``wait_seconds``)."""
    route = f"/v1/admin/members/imports/{quote(import_id, safe='')}"
    deadline = time.monotonic() + wait_seconds
    report: dict[str, Any] = {"run": {"import_id": import_id, "status": "waiting"}, "refused_lines": []}
    while True:
        answer = client.get(route)
        if answer.status_code == 200:
            report = answer.json()
            if report["run"]["status"] != "running":
                return report
        elif answer.status_code != 404:
            raise errors.InvalidInput(f"{route}: HTTP {answer.status_code} {answer.text}")
        if time.monotonic() > deadline:
            return report
        time.sleep(REPORT_POLL_SECONDS)


def bucket_totals(report: dict[str, Any]) -> dict[str, Any]:
    run = report["run"]
    totals = {k: run.get(k) for k in ("import_id", "status", "failure", "lines", "created", "already_there")}
    totals["refused"] = run.get("refused")
    totals["refusals"] = [
        {k: o.get(k) for k in ("line", "card_number", "reason", "detail")} for o in report["refused_lines"]
    ]
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bridge-admin", description="Admin tasks over the signed API.")
    parser.add_argument("--url", default=os.environ.get("BRIDGE_URL", DEFAULT_BASE_URL), help="base URL")
    parser.add_argument("--key-id", default=os.environ.get("BRIDGE_ADMIN_KEY_ID", "local-admin"))
    parser.add_argument("--secret", help="admin signing secret (default: BRIDGE_ADMIN_SECRET, else local)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    commands = parser.add_subparsers(dest="command", required=True)
    cards = commands.add_parser(
        "import-cards", help="import printed card numbers (card stock) from a CSV file"
    )
    cards.add_argument("file", type=Path, help="one card number a line; header optional")
    cards.add_argument("--batch-id", help="the delivery's id (default: the file name without extension)")
    cards.add_argument("--chunk", type=int, default=MAX_CARDS_PER_REQUEST, help=argparse.SUPPRESS)
    members = commands.add_parser(
        "import-members", help="import members with their cards and balances (CSV or JSON lines)"
    )
    members.add_argument("file", type=Path, help=".csv (header naming the columns) or .jsonl")
    members.add_argument(
        "--import-id",
        help="the import's id (default: the file name and a random suffix); the same id again "
        "answers the lines it imported as created (a resumed import), another id as already_there",
    )
    members.add_argument("--chunk", type=int, default=MAX_LINES_PER_REQUEST, help=argparse.SUPPRESS)
    members.add_argument("--http", action="store_true", help="send the file over the API in parts")
    members.add_argument("--bucket", help="the member import bucket (default: the local stack's)")
    members.add_argument("--s3-endpoint", help="S3 endpoint URL (default: AWS, or the local stack's moto)")
    members.add_argument("--key", help="the object key (default: imports/<file name>-<random><suffix>)")
    members.add_argument("--wait", type=float, default=3600.0, help="seconds to wait for the report")
    args = parser.parse_args(argv)

    try:
        with _client(args) as client:
            if args.command == "import-members" and not args.http:
                totals = bucket_totals(wait_for_report(client, upload_members(args, client), args.wait))
                ok = totals["status"] == "completed"
            elif args.command == "import-members":
                limit = max(1, min(args.chunk, MAX_LINES_PER_REQUEST))
                import_id = args.import_id or f"{args.file.stem}-{uuid.uuid4().hex[:8]}"
                totals, ok = import_members(client, args.file, import_id, limit)
            else:
                chunk = max(1, min(args.chunk, MAX_CARDS_PER_REQUEST))
                totals, ok = import_cards(client, args.file, args.batch_id or args.file.stem, chunk)
    except errors.InvalidInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:
        print(f"error: the import bucket: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"error: {exc} (is the API at {args.url}? make run)", file=sys.stderr)
        return 2
    print(json.dumps(totals, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
