"""The bridge's own records in BridgeTable (DynamoDB): customers, A5 links, balance snapshots.

Items (pk, sk):
- ``CUSTOMER#{id}`` / ``PROFILE``: the CustomerRecord, with an optimistic ``version``.
- ``CUSTOMER#{id}`` / ``LINK``: the loyalty account this customer is linked to (A5).
- ``MEMBER#{member_id}`` / ``LINK`` and ``CARD#{number}`` / ``LINK``: uniqueness claims, so
  a loyalty account (and its card) belongs to at most one web customer (A5).
- ``MEMBER#{member_id}`` / ``BALANCE``: last known balance (login summary with a REST platform).

The three LINK items are written in one TransactWriteItems: either every claim holds or
none is written. Re-linking the same customer to the same member and card is a no-op.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, NoReturn

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_bridge.adapters.aws_errors import error_code, raise_domain_error
from loyalty_bridge.errors import Conflict, Retryable
from loyalty_bridge.models.domain import Balance
from loyalty_bridge.models.records import CustomerRecord, utcnow

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PROFILE = "PROFILE"
LINK = "LINK"
BALANCE = "BALANCE"


def customer_pk(customer_id: str) -> str:
    return f"CUSTOMER#{customer_id}"


def member_pk(member_id: str) -> str:
    return f"MEMBER#{member_id}"


def card_pk(card_number: str) -> str:
    return f"CARD#{card_number}"


def plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; integral ones become int again."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


class BridgeItems:
    """Serialisation shared by the BridgeTable adapters (low-level client, typed values)."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self._client = client
        self._table = table_name
        self._ser = TypeSerializer()
        self._de = TypeDeserializer()

    def _item(self, values: dict[str, Any]) -> dict[str, Any]:
        return {k: self._ser.serialize(v) for k, v in values.items() if v is not None}

    def _from_item(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: plain(self._de.deserialize(v)) for k, v in item.items()}

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        try:
            answer = self._client.get_item(
                TableName=self._table, Key=self._item({"pk": pk, "sk": sk}), ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise_domain_error(exc, "bridge table read")
        item = answer.get("Item")
        return self._from_item(item) if item else None

    @staticmethod
    def _fail(exc: ClientError | BotoCoreError, what: str) -> NoReturn:
        raise_domain_error(exc, what)


class DynamoCustomers(BridgeItems):
    """CustomerRepository (ports.py) over the BridgeTable."""

    def _record_item(self, record: CustomerRecord) -> dict[str, Any]:
        data = record.model_dump(mode="json")
        data["pk"] = customer_pk(record.customer_id)
        data["sk"] = PROFILE
        return self._item(data)

    # ------------------------------------------------------------------ port

    def get(self, customer_id: str) -> CustomerRecord | None:
        item = self._get(customer_pk(customer_id), PROFILE)
        return CustomerRecord.model_validate(item) if item else None

    def create(self, record: CustomerRecord) -> bool:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=self._record_item(record),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            self._fail(exc, "customer store write")
        except BotoCoreError as exc:
            self._fail(exc, "customer store write")
        return True

    def save(self, record: CustomerRecord, *, expected_version: int) -> CustomerRecord:
        saved = record.model_copy(update={"version": expected_version + 1, "updated_at": utcnow()})
        try:
            self._client.put_item(
                TableName=self._table,
                Item=self._record_item(saved),
                ConditionExpression="attribute_exists(pk) AND #v = :expected",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues=self._item({":expected": expected_version}),
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise Conflict(
                    "The customer was changed by another request; try again.", code="version_conflict"
                ) from exc
            self._fail(exc, "customer store write")
        except BotoCoreError as exc:
            self._fail(exc, "customer store write")
        return saved

    def link_member(self, customer_id: str, member_id: str, card_number: str) -> None:
        now = utcnow().isoformat()

        def claim(pk: str, owner_attr: str, owner: str, extra: dict[str, Any]) -> dict[str, Any]:
            return {
                "Put": {
                    "TableName": self._table,
                    "Item": self._item({"pk": pk, "sk": LINK, owner_attr: owner, "linked_at": now, **extra}),
                    "ConditionExpression": "attribute_not_exists(pk) OR #o = :o",
                    "ExpressionAttributeNames": {"#o": owner_attr},
                    "ExpressionAttributeValues": self._item({":o": owner}),
                }
            }

        items: list[Any] = [
            claim(member_pk(member_id), "customer_id", customer_id, {"card_number": card_number}),
            claim(card_pk(card_number), "customer_id", customer_id, {"member_id": member_id}),
            claim(customer_pk(customer_id), "member_id", member_id, {"card_number": card_number}),
        ]
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons", [])
                if any(str(r.get("Code", "")) == "ConditionalCheckFailed" for r in reasons):
                    raise Conflict(
                        "This loyalty account is already linked to another web account.",
                        code="already_linked",
                    ) from exc
                raise Retryable("customer store temporarily unavailable") from exc
            self._fail(exc, "customer link")
        except BotoCoreError as exc:
            self._fail(exc, "customer link")

    # ------------------------------------------------------------------ extras (not in the port)

    def linked_customer(self, *, member_id: str | None = None, card_number: str | None = None) -> str | None:
        """Which web customer holds this member or card, if any."""
        if member_id is not None:
            item = self._get(member_pk(member_id), LINK)
        elif card_number is not None:
            item = self._get(card_pk(card_number), LINK)
        else:
            return None
        return str(item["customer_id"]) if item else None


class DynamoBalanceSnapshots(BridgeItems):
    """ports.BalanceSnapshots: ``MEMBER#{id}`` / ``BALANCE``; a newer snapshot never loses
    to an older one (``as_of`` is compared on write)."""

    def get(self, member_id: str) -> Balance | None:
        item = self._get(member_pk(member_id), BALANCE)
        if not item:
            return None
        return Balance.model_validate(item.get("balance", {}))

    def put(self, balance: Balance) -> None:
        as_of = utcnow().isoformat()
        try:
            self._client.put_item(
                TableName=self._table,
                Item=self._item(
                    {
                        "pk": member_pk(balance.member_id),
                        "sk": BALANCE,
                        "balance": balance.model_dump(mode="json"),
                        "as_of": as_of,
                    }
                ),
                ConditionExpression="attribute_not_exists(as_of) OR as_of <= :now",
                ExpressionAttributeValues=self._item({":now": as_of}),
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return  # a newer snapshot is already there
            self._fail(exc, "balance snapshot write")
        except BotoCoreError as exc:
            self._fail(exc, "balance snapshot write")
