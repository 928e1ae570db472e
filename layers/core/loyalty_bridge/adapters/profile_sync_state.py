"""SyncStateStore (ports.py) over BridgeTable.

Items (pk, sk):
- ``CUSTOMER#{id}`` / ``SYNC#{target}``: per field, the customer-record version already
  applied to that target (``v_<field>``) and what the target knows (``f_<fact>``, e.g. the
  email Mailchimp files the member under). Versions only ever go up.
- ``EMAIL#{sha256(lowercased email)}`` / ``CUSTOMER``: which customer an email belongs to,
  so a Mailchimp webhook (which only knows the email) finds the customer. Hashed: the
  table never holds the address in a key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_bridge.adapters.aws_errors import code_of, get_many, raise_domain_error, raise_if_retryable
from loyalty_bridge.adapters.customers import PROFILE as PROFILE_SK
from loyalty_bridge.adapters.customers import plain
from loyalty_bridge.models.records import CustomerRecord, SyncState, utcnow
from loyalty_bridge.privacy import normalize_email

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_code = code_of


def _technical(exc: Exception) -> None:
    raise_if_retryable(exc, "sync state")


def email_key(email: str) -> str:
    return "EMAIL#" + hashlib.sha256(normalize_email(email).encode()).hexdigest()


def _state(customer_id: str, target: str, item: dict[str, Any]) -> SyncState:
    versions: dict[str, int] = {}
    facts: dict[str, str] = {}
    for name, value in item.items():
        if name.startswith("v_") and "N" in value:
            versions[name[2:]] = int(Decimal(value["N"]))
        elif name.startswith("f_") and "S" in value:
            facts[name[2:]] = value["S"]
    return SyncState(customer_id=customer_id, target=target, versions=versions, facts=facts)


class DynamoSyncState:
    """SyncStateStore over the BridgeTable."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        from boto3.dynamodb.types import TypeDeserializer

        self._client = client
        self._table = table_name
        self._de = TypeDeserializer()

    @staticmethod
    def _key(customer_id: str, target: str) -> dict[str, Any]:
        return {"pk": {"S": f"CUSTOMER#{customer_id}"}, "sk": {"S": f"SYNC#{target}"}}

    def load(self, customer_id: str, target: str) -> SyncState:
        try:
            answer = self._client.get_item(
                TableName=self._table, Key=self._key(customer_id, target), ConsistentRead=True
            )
        except Exception as exc:
            _technical(exc)
            raise
        return _state(customer_id, target, answer.get("Item") or {})

    def load_targets(self, customer_id: str, targets: Sequence[str]) -> dict[str, SyncState]:
        """The state of every target in ``targets`` in one consistent Query (the customer's
        SYNC# items): a sync worker handling one change reads them once, not per target."""
        try:
            items = self._partition(customer_id, "SYNC#")
        except Exception as exc:
            _technical(exc)
            raise
        return self._states(customer_id, targets, items)

    def load_record_and_targets(
        self, customer_id: str, targets: Sequence[str]
    ) -> tuple[CustomerRecord | None, dict[str, SyncState]]:
        """The customer's record and every target's state in one consistent Query of their
        partition (``CUSTOMER#{id}``: PROFILE, LINK and the SYNC# items, a few small items),
        where a GetItem of the record and a Query of the states took two calls. A failure
        is the record read's (adapters/customers.py): the change is not applied."""
        try:
            items = self._partition(customer_id, "")
        except (ClientError, BotoCoreError) as exc:
            raise_domain_error(exc, "bridge table read")
        return self._record(items), self._states(customer_id, targets, items)

    def load_record_and_targets_with(
        self, customer_id: str, targets: Sequence[str], also: Sequence[Mapping[str, Any]]
    ) -> tuple[CustomerRecord | None, dict[str, SyncState], list[dict[str, Any] | None]]:
        """``load_record_and_targets`` with the items at ``also`` (``{"TableName", "Key"}``:
        what the platform reads for the change, services/new_changes.ReadsForProfile), raw,
        None where not found: the record, each target's state and those in one
        BatchGetItem, where the Query and the platform's own read took two calls."""
        pk = {"S": f"CUSTOMER#{customer_id}"}
        sort_keys = [PROFILE_SK, *(f"SYNC#{target}" for target in targets)]
        mine = [{"TableName": self._table, "Key": {"pk": pk, "sk": {"S": sk}}} for sk in sort_keys]
        found = get_many(self._client, [*mine, *also], what="bridge table read")
        items = {sk: item for sk, item in zip(sort_keys, found[: len(mine)], strict=True) if item}
        return self._record(items), self._states(customer_id, targets, items), found[len(mine) :]

    def _record(self, items: dict[str, dict[str, Any]]) -> CustomerRecord | None:
        profile = items.get(PROFILE_SK)
        if profile is None:
            return None
        return CustomerRecord.model_validate(
            {name: plain(self._de.deserialize(value)) for name, value in profile.items()}
        )

    @staticmethod
    def _states(
        customer_id: str, targets: Sequence[str], items: dict[str, dict[str, Any]]
    ) -> dict[str, SyncState]:
        return {target: _state(customer_id, target, items.get(f"SYNC#{target}", {})) for target in targets}

    def _partition(self, customer_id: str, prefix: str) -> dict[str, dict[str, Any]]:
        """The customer's items whose sort key starts with ``prefix``, by sort key."""
        items: dict[str, dict[str, Any]] = {}
        condition, values = "pk = :pk", {":pk": {"S": f"CUSTOMER#{customer_id}"}}
        if prefix:
            condition += " AND begins_with(sk, :prefix)"
            values[":prefix"] = {"S": prefix}
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ConsistentRead": True,
        }
        while True:
            page = self._client.query(**params)
            for item in page.get("Items", []):
                items[item["sk"]["S"]] = item
            if "LastEvaluatedKey" not in page:
                return items
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def mark_applied(
        self,
        customer_id: str,
        target: str,
        version: int,
        fields: Sequence[str],
        *,
        facts: dict[str, str] | None = None,
    ) -> None:
        fields = sorted(set(fields))
        facts = facts or {}
        if not fields and not facts:
            return
        try:
            self._update(customer_id, target, version, fields, facts)
        except Exception as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                _technical(exc)
                raise
            # Another delivery applied something newer to one of the fields: set the rest
            # one by one, keeping every newer version as it is.
            for field in fields:
                try:
                    self._update(customer_id, target, version, [field], {})
                except Exception as inner:
                    if _code(inner) != "ConditionalCheckFailedException":
                        _technical(inner)
                        raise

    def applied_items(self, customer_id: str, target: str, version: int, fields: Sequence[str]) -> list[Any]:
        """``mark_applied`` as one Update for the platform change's own transaction
        (services/new_changes.RecordsSyncState): conditional as it is, so a newer version of
        a field cancels it, and the caller then marks the fields one by one."""
        fields = sorted(set(fields))
        return [{"Update": self._update_params(customer_id, target, version, fields, {})}] if fields else []

    def _update(
        self, customer_id: str, target: str, version: int, fields: Sequence[str], facts: dict[str, str]
    ) -> None:
        self._client.update_item(**self._update_params(customer_id, target, version, fields, facts))

    def _update_params(
        self, customer_id: str, target: str, version: int, fields: Sequence[str], facts: dict[str, str]
    ) -> dict[str, Any]:
        names: dict[str, str] = {}
        values: dict[str, Any] = {":now": {"S": utcnow().isoformat()}}
        if fields:  # DynamoDB refuses values no expression uses (facts-only updates)
            values[":v"] = {"N": str(version)}
        sets = ["updated_at = :now"]
        conditions = []
        for n, field in enumerate(fields):
            names[f"#v{n}"] = f"v_{field}"
            sets.append(f"#v{n} = :v")
            conditions.append(f"(attribute_not_exists(#v{n}) OR #v{n} < :v)")
        for n, (fact, value) in enumerate(sorted(facts.items())):
            names[f"#f{n}"] = f"f_{fact}"
            values[f":f{n}"] = {"S": value}
            sets.append(f"#f{n} = :f{n}")
        params: dict[str, Any] = {
            "TableName": self._table,
            "Key": self._key(customer_id, target),
            "UpdateExpression": "SET " + ", ".join(sets),
            "ExpressionAttributeValues": values,
        }
        if names:
            params["ExpressionAttributeNames"] = names
        if conditions:
            params["ConditionExpression"] = " AND ".join(conditions)
        return params

    def remember_email(self, email: str, customer_id: str) -> None:
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": email_key(email)},
                    "sk": {"S": "CUSTOMER"},
                    "customer_id": {"S": customer_id},
                    "updated_at": {"S": utcnow().isoformat()},
                },
            )
        except Exception as exc:
            _technical(exc)
            raise

    def customer_for_email(self, email: str) -> str | None:
        try:
            answer = self._client.get_item(
                TableName=self._table,
                Key={"pk": {"S": email_key(email)}, "sk": {"S": "CUSTOMER"}},
                ConsistentRead=True,
            )
        except Exception as exc:
            _technical(exc)
            raise
        item = answer.get("Item")
        return item["customer_id"]["S"] if item and "S" in item.get("customer_id", {}) else None
