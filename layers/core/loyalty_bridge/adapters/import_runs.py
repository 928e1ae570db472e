"""ImportRuns (services/bucket_import.py) over the BridgeTable: one member import run a
partition.

Items (pk, sk):
- ``IMPORT#{import_id}`` / ``RUN``: the run (ImportRun as JSON attributes);
- ``IMPORT#{import_id}`` / ``REFUSED#{offset:015d}``: the refused lines of the chunk that
  starts at byte ``offset`` (a JSON list of LineOutcome), so a Query reads them in file order.

A chunk's refusals are written before the run moves past it; the run moves with a condition
on the offset it was read at, so a repeated chunk never counts twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_bridge.adapters.aws_errors import unless_condition_failed
from loyalty_bridge.adapters.customers import BridgeItems
from loyalty_bridge.models.bucket_import import ImportRun
from loyalty_bridge.models.member_import import LineOutcome

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

RUN_SK = "RUN"
REFUSED_PREFIX = "REFUSED#"
_MARK_TRIES = 3


def run_pk(import_id: str) -> str:
    return f"IMPORT#{import_id}"


class DynamoImportRuns(BridgeItems):
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        super().__init__(client, table_name)

    def _run_item(self, run: ImportRun) -> dict[str, Any]:
        """The run as JSON, beside the two attributes the conditions read."""
        values = {"pk": run_pk(run.import_id), "sk": RUN_SK, "run": run.model_dump_json()}
        return self._item({**values, "next_offset": run.next_offset, "running": run.status == "running"})

    def create(self, run: ImportRun) -> bool:
        return self._put_if(self._run_item(run), "attribute_not_exists(pk)", None)

    def _put_if(self, item: dict[str, Any], condition: str, values: dict[str, Any] | None) -> bool:
        """Put ``item`` if ``condition`` holds; False when it does not."""
        extra: dict[str, Any] = {"ExpressionAttributeValues": values} if values else {}
        answer = unless_condition_failed(
            lambda: self._client.put_item(
                TableName=self._table, Item=item, ConditionExpression=condition, **extra
            ),
            lambda exc: self._fail(exc, "import run write"),
        )
        return answer is not None

    def get(self, import_id: str) -> ImportRun | None:
        item = self._get(run_pk(import_id), RUN_SK)
        return ImportRun.model_validate_json(item["run"]) if item else None

    def put_refusals(self, import_id: str, offset: int, refused: Sequence[LineOutcome]) -> None:
        if not refused:
            return
        body = json.dumps([o.model_dump(mode="json", exclude_none=True) for o in refused])
        item = {"pk": run_pk(import_id), "sk": f"{REFUSED_PREFIX}{offset:015d}", "outcomes": body}
        try:
            self._client.put_item(TableName=self._table, Item=self._item(item))
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, "import refusals write")

    def advance(self, run: ImportRun, expected_offset: int) -> bool:
        """Write ``run`` over a running one still at ``expected_offset``."""
        return self._write(run, expected_offset, running=True)

    def _write(self, run: ImportRun, expected_offset: int, *, running: bool) -> bool:
        item = self._run_item(run)
        condition = "next_offset = :o"
        values: dict[str, Any] = {":o": {"N": str(expected_offset)}}
        if running:
            condition += " AND running = :t"
            values[":t"] = {"BOOL": True}
        return self._put_if(item, condition, values)

    def mark(self, import_id: str, *, handed_on: int | None = None, emailed: bool | None = None) -> None:
        """Note a hand-on or the report email on the run (read again if a chunk moved it)."""
        for _ in range(_MARK_TRIES):
            run = self.get(import_id)
            if run is None:
                return
            changes: dict[str, Any] = {}
            if handed_on is not None and handed_on > run.handed_on:
                changes["handed_on"] = handed_on
            if emailed is not None and emailed != run.emailed:
                changes["emailed"] = emailed
            if not changes or self._write(run.model_copy(update=changes), run.next_offset, running=False):
                return

    def refusals(self, import_id: str, limit: int) -> tuple[list[LineOutcome], bool]:
        found: list[LineOutcome] = []
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": run_pk(import_id)}, ":prefix": {"S": REFUSED_PREFIX}},
            ConsistentRead=True,
        )
        try:
            for page in pages:
                for item in page.get("Items", []):
                    for outcome in json.loads(item["outcomes"]["S"]):
                        if len(found) == limit:
                            return found, True
                        found.append(LineOutcome.model_validate(outcome))
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, "import refusals read")
        return found, False
