"""What the bridge keeps in BridgeTable for a Talon.One program (Talon.One lacks it):

Items (pk, sk):
- ``T1JOIN#{sha256(idempotency key)}`` / ``JOIN``: the member id and card number a join
  chose, so a repeated join sends the same profile and card to Talon.One (C6).
- ``T1MEMBER#{member_id}`` / ``MEMBER``: card number, card kind, the email and mobile keys
  it is indexed under (dropped, with the index entries, when the member is erased: D2).
- ``T1EMAIL#{sha256(email)}`` / ``MEMBER``: the email index, one member per email
  (Talon.One has no uniqueness of attributes: this is where duplicate_member comes from).
- ``T1MOBILE#{sha256(mobile)}`` / ``MEMBER#{member_id}``: the mobile index (A8: a phone may
  carry several members).
- ``T1MEMBER#{member_id}`` / ``HOLD#{redemption_id}``: a redemption hold (C2); redeemable =
  the card's active points minus the open, unexpired holds.
- ``T1MEMBER#{member_id}`` / ``DONE#{key}``: the answer of a write already done (order,
  reversal, attach), replayed to a repeat (C6).
- ``T1MEMBER#{member_id}`` / ``MOVE#{transactionUUID}``: what bridge write made this loyalty
  transaction (order, refund or cancel ids): the history's references (R8).
Emails and mobiles are hashed in keys: no address or number in clear in a key.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_bridge.adapters.aws_errors import error_code, unless_condition_failed
from loyalty_bridge.adapters.customers import BridgeItems
from loyalty_bridge.privacy import normalize_email

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def email_pk(email: str) -> str:
    return "T1EMAIL#" + _digest(normalize_email(email))


def mobile_pk(mobile: str) -> str:
    return "T1MOBILE#" + _digest(mobile.strip())


def member_pk(member_id: str) -> str:
    return f"T1MEMBER#{member_id}"


class TalonOneStore(BridgeItems):
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        super().__init__(client, table_name)

    # ------------------------------------------------------------ joins and members

    def claim_join(self, idempotency_key: str, member_id: str, card: str) -> tuple[str, str]:
        """The (member id, card) of this join: the ones given, or those of the first call."""
        pk = "T1JOIN#" + _digest(idempotency_key)
        if self._put_new({"pk": pk, "sk": "JOIN", "member_id": member_id, "card": card}):
            return member_id, card
        item = self._get(pk, "JOIN") or {}
        return str(item["member_id"]), str(item["card"])

    def member(self, member_id: str) -> dict[str, Any] | None:
        return self._get(member_pk(member_id), "MEMBER")

    def put_member(self, member_id: str, *, card: str, kind: str, email: str, mobile: str | None) -> None:
        self._put(
            {
                "pk": member_pk(member_id),
                "sk": "MEMBER",
                "card": card,
                "kind": kind,
                "email_key": email_pk(email),
                "mobile_key": mobile_pk(mobile) if mobile else None,
            }
        )

    def claim_email(self, email: str, member_id: str) -> bool:
        """Index ``email`` for ``member_id``; False when another member holds it."""
        item = {"pk": email_pk(email), "sk": "MEMBER", "member_id": member_id}
        answer = unless_condition_failed(
            lambda: self._client.put_item(
                TableName=self._table,
                Item=self._item(item),
                ConditionExpression="attribute_not_exists(pk) OR member_id = :m",
                ExpressionAttributeValues={":m": {"S": member_id}},
            ),
            lambda exc: self._fail(exc, "bridge table write"),
        )
        return answer is not None

    def release_email(self, email: str, member_id: str) -> None:
        self._release(email_pk(email), member_id)

    def _release(self, key: str, member_id: str) -> None:
        """Delete the email index entry ``key`` while it is ``member_id``'s."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=self._item({"pk": key, "sk": "MEMBER"}),
                ConditionExpression="member_id = :m",
                ExpressionAttributeValues={":m": {"S": member_id}},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                self._fail(exc, "bridge table write")
        except BotoCoreError as exc:
            self._fail(exc, "bridge table write")

    def member_for_email(self, email: str) -> str | None:
        item = self._get(email_pk(email), "MEMBER")
        return str(item["member_id"]) if item else None

    def index_mobile(self, mobile: str, member_id: str) -> None:
        self._put({"pk": mobile_pk(mobile), "sk": f"MEMBER#{member_id}", "member_id": member_id})

    def unindex_mobile(self, mobile: str, member_id: str) -> None:
        self._delete(mobile_pk(mobile), f"MEMBER#{member_id}")

    def members_for_mobile(self, mobile: str) -> list[str]:
        return [str(item["member_id"]) for item in self._query(mobile_pk(mobile), "MEMBER#")]

    def forget_person(self, member_id: str) -> None:
        """D2: the member's email and mobile index entries go (the email can join again);
        the member item keeps its card, without the keys it was indexed under."""
        record = self.member(member_id)
        if record is None:
            return
        if record.get("email_key"):
            self._release(str(record["email_key"]), member_id)
        if record.get("mobile_key"):
            self._delete(str(record["mobile_key"]), f"MEMBER#{member_id}")
        self._put({key: value for key, value in record.items() if key not in ("email_key", "mobile_key")})

    # ------------------------------------------------------------ holds (C2)

    def add_hold(self, member_id: str, redemption_id: str, hold: dict[str, Any]) -> dict[str, Any]:
        """Store a new open hold; answers the stored one (the first call's) either way."""
        item = {"pk": member_pk(member_id), "sk": f"HOLD#{redemption_id}", "state": "open", **hold}
        if self._put_new(item):
            return item
        return self._get(member_pk(member_id), f"HOLD#{redemption_id}") or item

    def hold(self, member_id: str, redemption_id: str) -> dict[str, Any] | None:
        return self._get(member_pk(member_id), f"HOLD#{redemption_id}")

    def set_hold_state(self, member_id: str, redemption_id: str, state: str) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._item({"pk": member_pk(member_id), "sk": f"HOLD#{redemption_id}"}),
                UpdateExpression="SET #s = :s",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={":s": {"S": state}},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                self._fail(exc, "bridge table write")
        except BotoCoreError as exc:
            self._fail(exc, "bridge table write")

    def held(self, member_id: str, now: datetime, *, besides: str | None = None) -> int:
        """Points held by open holds that have not expired (``besides``: leave that one out)."""
        total = 0
        for item in self._query(member_pk(member_id), "HOLD#"):
            if item.get("state") != "open" or item["redemption_id"] == besides:
                continue
            if datetime.fromisoformat(str(item["expires_at"])) > now:
                total += int(item["points"])
        return total

    # ------------------------------------------------------------ answers of writes (C6)

    def done(self, member_id: str, key: str) -> dict[str, Any] | None:
        item = self._get(member_pk(member_id), f"DONE#{key}")
        return json.loads(str(item["answer"])) if item else None

    def remember(self, member_id: str, key: str, answer: dict[str, Any]) -> dict[str, Any]:
        """Keep the first answer of ``key``; answers the one kept."""
        item = {"pk": member_pk(member_id), "sk": f"DONE#{key}", "answer": json.dumps(answer)}
        if self._put_new(item):
            return answer
        return self.done(member_id, key) or answer

    # ------------------------------------------------------------ the history's labels (R8)

    def label_moves(self, member_id: str, transaction_ids: list[str], label: dict[str, Any]) -> None:
        """Label these transactions with the write that made them (a first label stays)."""
        for transaction_id in transaction_ids:
            self._put_new(
                {"pk": member_pk(member_id), "sk": f"MOVE#{transaction_id}", "label": json.dumps(label)}
            )

    def move_labels(self, member_id: str) -> dict[str, dict[str, Any]]:
        """transactionUUID -> the label of the write that made it."""
        return {
            str(item["sk"]).removeprefix("MOVE#"): json.loads(str(item["label"]))
            for item in self._query(member_pk(member_id), "MOVE#")
        }

    # ------------------------------------------------------------ plumbing

    def _put(self, values: dict[str, Any]) -> None:
        try:
            self._client.put_item(TableName=self._table, Item=self._item(values))
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, "bridge table write")

    def _put_new(self, values: dict[str, Any]) -> bool:
        try:
            self._client.put_item(
                TableName=self._table, Item=self._item(values), ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            self._fail(exc, "bridge table write")
        except BotoCoreError as exc:
            self._fail(exc, "bridge table write")
        return True

    def _delete(self, pk: str, sk: str) -> None:
        try:
            self._client.delete_item(TableName=self._table, Key=self._item({"pk": pk, "sk": sk}))
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, "bridge table write")

    def _query(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        while True:
            args: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": prefix}},
                "ConsistentRead": True,
            }
            if start:
                args["ExclusiveStartKey"] = start
            try:
                page = self._client.query(**args)
            except (ClientError, BotoCoreError) as exc:
                self._fail(exc, "bridge table read")
            items += [self._from_item(item) for item in page.get("Items", [])]
            start = page.get("LastEvaluatedKey")
            if not start:
                return items
