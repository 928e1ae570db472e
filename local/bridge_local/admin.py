"""``bridge-admin``: admin tasks for people, over the signed API (admin-scoped key).

    bridge-admin import-cards cards.csv                 # batch id: the file name
    bridge-admin import-cards cards.csv --batch-id delivery-2025-03
    bridge-admin --url https://api.example.com --key-id ops-1 --secret ... import-cards cards.csv

The file is one card number a line (a header line, and further CSV columns, are ignored).
It is sent as ``text/csv`` to ``POST /v1/admin/cards/import`` in requests of at most
10,000 numbers (the route's limit), all under the same batch id; the counts are summed.
Running it again imports nothing twice: every number is then ``already_known``.
Defaults are the local stack's: ``BRIDGE_URL`` (http://127.0.0.1:3000), ``BRIDGE_ADMIN_KEY_ID``
(local-admin) and ``BRIDGE_ADMIN_SECRET`` or ``BRIDGE_LOCAL_ADMIN_SECRET`` (the printed
development default).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from bridge_local.client import DEFAULT_BASE_URL, SignedClient
from loyalty_bridge.models.card_stock import MAX_CARDS_PER_REQUEST
from loyalty_bridge.services.card_stock import csv_numbers


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
    args = parser.parse_args(argv)

    batch_id = args.batch_id or args.file.stem
    chunk = max(1, min(args.chunk, MAX_CARDS_PER_REQUEST))
    try:
        with _client(args) as client:
            totals, ok = import_cards(client, args.file, batch_id, chunk)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"error: {exc} (is the API at {args.url}? make run)", file=sys.stderr)
        return 2
    print(json.dumps(totals, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
