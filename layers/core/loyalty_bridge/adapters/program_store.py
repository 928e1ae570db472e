"""The program's versions (R9) in the BridgeTable, and the program in force read through
Powertools Parameters.

Items (pk, sk):
- ``PROGRAM`` / ``VERSION#{n:09d}``: one stored version (``value``: the ProgramVersion JSON),
  never changed once written; the zero-padded number sorts, so the admin listing is one
  Query, newest first;
- ``PROGRAM#CURRENT`` / ``CURRENT``: a copy of the newest version, alone in its partition, so
  a Parameters provider reads it with ``get_multiple`` (PartitionParameters) as a one-item
  Query.

A new version is one TransactWriteItems: its VERSION item (``attribute_not_exists``) and the
CURRENT copy (conditioned on holding ``version - 1``), so two concurrent PUTs can never both
be version N and CURRENT never goes backwards.

Why the BridgeTable and not a table of its own: it is the bridge's configuration table
already (stores, staff), with PITR and SSE, every function can read it, and versions are a
handful of small items: a new table would add a resource, an environment variable and a
policy to every function for no gain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools.utilities.parameters.base import BaseProvider
from botocore.exceptions import BotoCoreError, ClientError

from loyalty_bridge import errors
from loyalty_bridge.adapters.aws_errors import raise_domain_error, raise_if_retryable
from loyalty_bridge.adapters.customers import BridgeItems
from loyalty_bridge.adapters.error_store import decode_cursor, encode_cursor
from loyalty_bridge.models.program import ProgramVersion
from loyalty_bridge.observability import logger
from loyalty_bridge.program.earn_rules import ProgramRules

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PROGRAM_PK = "PROGRAM"
CURRENT_PK = "PROGRAM#CURRENT"
CURRENT_SK = "CURRENT"
VERSION_PREFIX = "VERSION#"
# Functions re-read the program at most this often: with the storefront's Cache-Control
# max-age of 30 s a change is in force everywhere within a minute.
PROGRAM_MAX_AGE_SECONDS = 30


def version_sk(version: int) -> str:
    return f"{VERSION_PREFIX}{version:09d}"


class DynamoProgramStore(BridgeItems):
    """ProgramStore (ports.py) over the BridgeTable."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        super().__init__(client, table_name)

    def latest(self) -> ProgramVersion | None:
        item = self._get(CURRENT_PK, CURRENT_SK)
        return ProgramVersion.model_validate_json(item["value"]) if item else None

    def add(self, version: ProgramVersion, *, seed: ProgramVersion | None = None) -> None:
        stored = [seed, version] if seed is not None else [version]
        writes: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self._item(self._values(PROGRAM_PK, version_sk(each.version), each)),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for each in stored
        ]
        current: dict[str, Any] = {
            "TableName": self._table,
            "Item": self._item(self._values(CURRENT_PK, CURRENT_SK, version)),
        }
        if version.version - 1 > (seed.version if seed is not None else 0):
            current["ConditionExpression"] = "#v = :previous"
            current["ExpressionAttributeNames"] = {"#v": "version"}
            current["ExpressionAttributeValues"] = self._item({":previous": version.version - 1})
        else:
            current["ConditionExpression"] = "attribute_not_exists(pk)"
        writes.append({"Put": current})
        try:
            self._client.transact_write_items(TransactItems=writes)  # type: ignore[arg-type]
        except ClientError as exc:
            raise_if_retryable(exc, "program write")
            reasons = exc.response.get("CancellationReasons", [])
            codes = {str(reason.get("Code", "")) for reason in reasons}
            if codes & {"ConditionalCheckFailed", "TransactionConflict"}:
                raise errors.Conflict(
                    "Another program version was stored at the same time; try again.",
                    code="program_version_conflict",
                ) from None
            raise_domain_error(exc, "program write")
        except BotoCoreError as exc:
            raise_domain_error(exc, "program write")

    @staticmethod
    def _values(pk: str, sk: str, version: ProgramVersion) -> dict[str, Any]:
        return {"pk": pk, "sk": sk, "version": version.version, "value": version.model_dump_json()}

    def versions(self, *, limit: int, cursor: str | None) -> tuple[list[ProgramVersion], str | None]:
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": self._item({":pk": PROGRAM_PK, ":prefix": VERSION_PREFIX}),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            start = decode_cursor(cursor, {"pk", "sk"})
            if start["pk"] != PROGRAM_PK or not start["sk"].startswith(VERSION_PREFIX):
                raise errors.InvalidInput(
                    "The cursor is not valid for this listing.",
                    code="invalid_cursor",
                    errors=[{"field": "cursor", "message": "invalid cursor"}],
                )
            query["ExclusiveStartKey"] = self._item(start)
        try:
            answer = self._client.query(**query)
        except (ClientError, BotoCoreError) as exc:
            raise_domain_error(exc, "program versions read")
        items = [self._from_item(raw) for raw in answer.get("Items", [])]
        next_cursor = None
        if answer.get("LastEvaluatedKey") and items:
            next_cursor = encode_cursor({"pk": PROGRAM_PK, "sk": str(items[-1]["sk"])})
        return [ProgramVersion.model_validate_json(item["value"]) for item in items], next_cursor


class PartitionParameters(BaseProvider):
    """A Powertools Parameters provider over the low-level DynamoDB client: ``get_multiple(pk)``
    is one Query of that partition (every page; ``sdk_options`` go to the Query), ``{sk: value}``,
    cached by Powertools for ``max_age`` like any provider.

    Why not Powertools' own DynamoDBProvider: it wants a boto3 *resource*, and building one
    loads the resource model and makes a second DynamoDB client on every cold start, where
    the function has its client already (docs/PERFORMANCE.md). Items here have a sort key,
    so a single ``get(name)`` has no key to read: it is refused, as DynamoDBProvider's
    ``get`` would fail on this table too."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        super().__init__(client=client)  # type: ignore[no-untyped-call]
        self._client = client
        self._table = table_name

    def _get(self, name: str, **sdk_options: Any) -> str:
        raise ValueError(f"{self._table} items have a sort key: read {name!r} with get_multiple")

    def _get_multiple(self, path: str, **sdk_options: Any) -> dict[str, str]:
        values: dict[str, str] = {}
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": path}},
            **sdk_options,
        }
        while True:
            page = self._client.query(**params)
            for item in page.get("Items", []):
                sk, value = item.get("sk", {}).get("S"), item.get("value", {}).get("S")
                if sk is None or value is None:
                    raise ValueError(f"an item of {path!r} has no string sk and value")
                values[sk] = value
            if "LastEvaluatedKey" not in page:
                return values
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class ParameterProvider(Protocol):
    """What ParameterProgramSource needs of a Powertools provider (PartitionParameters)."""

    def get_multiple(self, path: str, max_age: int | None = None) -> dict[str, Any]: ...


class ParameterProgramSource:
    """ProgramSource (ports.py): the CURRENT item through Powertools Parameters, cached for
    ``max_age`` seconds per warm container; the template's seed while nothing is stored.

    A failed refresh keeps the last program read (logged) rather than failing requests;
    only a container that never read it answers Retryable."""

    def __init__(
        self, provider: ParameterProvider, seed: ProgramRules, *, max_age: int = PROGRAM_MAX_AGE_SECONDS
    ) -> None:
        self._provider = provider
        self._seed = seed
        self._max_age = max_age
        self._raw: str | None = None
        self._last: tuple[int, ProgramRules] | None = None

    def current(self) -> tuple[int, ProgramRules]:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            values = self._provider.get_multiple(CURRENT_PK, max_age=self._max_age)
        except GetParameterError as exc:
            if self._last is None:
                raise errors.Retryable("program read failed") from exc
            logger.warning("program read failed; the last one read stays in force")
            return self._last
        raw = values.get(CURRENT_SK)
        if raw is None:
            self._raw, self._last = None, (1, self._seed)
        elif self._last is None or raw != self._raw:  # parse once per change, not per request
            stored = ProgramVersion.model_validate_json(str(raw))
            self._raw, self._last = str(raw), (stored.version, stored.program)
        return self._last
