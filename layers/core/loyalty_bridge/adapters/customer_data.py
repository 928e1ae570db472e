"""What the bridge holds about one customer in its own tables, read whole (D1 export) and
erased (D2), and the erasure records that stay (BridgeTable).

BridgeTable items read or erased (the layouts are the owning adapters'):
- ``CUSTOMER#{id}`` / every sk (PROFILE, LINK, SYNC#{target}, ...): deleted.
- ``CUSTOMER_EMAIL#{hash}`` / ``CUSTOMER#{id}`` (customers.py) and ``EMAIL#{hash}`` /
  ``CUSTOMER`` (profile_sync_state.py, when it names this customer): deleted, so the email
  signs up as a new customer.
- ``MEMBER#{member}`` / ``LINK`` and ``CARD#{number}`` / ``LINK``: the A5 claims, deleted
  (the loyalty account stays, unlinked: its member id becomes a pseudonym).
- ``SMSOPTOUT#{mobile}`` / ``OPTOUT`` (sms_optouts.py) when it names this customer: deleted.
- ``VERIFY#{id}`` (challenges) and ``ATTEMPTS#{key}`` (rate-limit windows of the customer,
  its mobile and card): deleted.
- ``ORDER#{order_id}`` / ``ORDER``: kept, its ``customer_id`` replaced by the pseudonym.
- ``ERASURE#{erasure_id}`` / ``ERASURE``: the ErasureRecord, kept (written once).
IdempotencyTable: answers kept for replays that mention the person are deleted (a paged
scan; the table holds a day or two of answers).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_bridge.adapters.aws_errors import error_code
from loyalty_bridge.adapters.customers import BridgeItems, card_pk, customer_pk, email_key, member_pk
from loyalty_bridge.adapters.profile_sync_state import email_key as sync_email_key
from loyalty_bridge.adapters.verification import verify_pk
from loyalty_bridge.models.data_rights import AttemptWindow, ErasureRecord, VerificationAttempt
from loyalty_bridge.models.records import SyncState
from loyalty_bridge.models.verification import Challenge
from loyalty_bridge.privacy import pseudonym
from loyalty_bridge.program.erasure import mentions

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ATTEMPT_KINDS = ("attach:customer", "phone:customer")


def attempt_keys(customer_id: str, *, mobile: str | None, card_number: str | None) -> list[str]:
    """The rate-limit keys that name the customer, its mobile or its card (services/attach.py,
    services/phone.py)."""
    keys = [f"{kind}:{customer_id}" for kind in ATTEMPT_KINDS]
    if mobile:
        keys.append(f"phone:mobile:{pseudonym(mobile)}")
    if card_number:
        keys.append(f"attach:card:{pseudonym(card_number)}")
    return keys


class DynamoCustomerData(BridgeItems):
    """The customer's items in BridgeTable and the answers in IdempotencyTable."""

    def __init__(self, client: DynamoDBClient, table_name: str, idempotency_table: str) -> None:
        super().__init__(client, table_name)
        self._idempotency = idempotency_table

    # ------------------------------------------------------------ reads (export)

    def _partition(self, pk: str) -> Iterator[dict[str, Any]]:
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": self._item({":pk": pk}),
            "ConsistentRead": True,
        }
        while True:
            try:
                answer = self._client.query(**query)
            except (ClientError, BotoCoreError) as exc:
                self._fail(exc, "customer data read")
            yield from (self._from_item(item) for item in answer.get("Items", []))
            if not answer.get("LastEvaluatedKey"):
                return
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def sync_states(self, customer_id: str) -> list[SyncState]:
        found: list[SyncState] = []
        for item in self._partition(customer_pk(customer_id)):
            target = str(item["sk"]).removeprefix("SYNC#")
            if target == item["sk"]:
                continue
            versions = {k[2:]: int(v) for k, v in item.items() if k.startswith("v_")}
            facts = {k[2:]: str(v) for k, v in item.items() if k.startswith("f_")}
            found.append(SyncState(customer_id=customer_id, target=target, versions=versions, facts=facts))
        return found

    def verification(self, customer_id: str) -> list[VerificationAttempt]:
        attempts = []
        for item in self._partition(verify_pk(customer_id)):
            challenge = Challenge.model_validate(item)  # the code's hash goes no further
            attempts.append(
                VerificationAttempt(
                    purpose=challenge.purpose.value,
                    created_at=challenge.created_at,
                    expires_at=challenge.expires_at,
                    tries_left=challenge.tries_left,
                    card_number=challenge.card_number,
                    mobile=challenge.mobile,
                    refused=challenge.refusal is not None,
                )
            )
        return attempts

    def attempt_windows(self, customer_id: str) -> list[AttemptWindow]:
        windows = []
        for kind in ATTEMPT_KINDS:
            for item in self._partition(f"ATTEMPTS#{kind}:{customer_id}"):
                start = int(str(item["sk"]).removeprefix("W#"))
                windows.append(
                    AttemptWindow(
                        kind=kind, window_start=datetime.fromtimestamp(start, UTC), count=int(item["count"])
                    )
                )
        return windows

    # ------------------------------------------------------------ erasure (D2)

    def erase_customer(
        self,
        customer_id: str,
        *,
        emails: Sequence[str],
        mobile: str | None,
        member_id: str | None,
        card_number: str | None,
    ) -> int:
        """Delete every BridgeTable item that is about the person; answers how many."""
        keys = [
            (customer_pk(customer_id), str(item["sk"])) for item in self._partition(customer_pk(customer_id))
        ]
        keys += [
            (verify_pk(customer_id), str(item["sk"])) for item in self._partition(verify_pk(customer_id))
        ]
        for key in attempt_keys(customer_id, mobile=mobile, card_number=card_number):
            keys += [(f"ATTEMPTS#{key}", str(item["sk"])) for item in self._partition(f"ATTEMPTS#{key}")]
        keys += [(email_key(email), customer_pk(customer_id)) for email in emails]
        # Items that name the customer only when it is theirs (another may hold them now).
        owned = [(sync_email_key(email), "CUSTOMER") for email in emails]
        owned += [(member_pk(member_id), "LINK")] if member_id else []
        owned += [(card_pk(card_number), "LINK")] if card_number else []
        owned += [(f"SMSOPTOUT#{mobile}", "OPTOUT")] if mobile else []  # sms_optouts.py
        for pk, sk in owned:
            item = self._get(pk, sk)
            if item is not None and item.get("customer_id") == customer_id:
                keys.append((pk, sk))
        for pk, sk in keys:
            self._delete(pk, sk)
        return len(keys)

    def pseudonymise_orders(self, order_ids: Sequence[str], customer_id: str, alias: str) -> int:
        """The money trail stays: each order of the customer is kept under ``alias``."""
        changed = 0
        for order_id in order_ids:
            item = self._get(f"ORDER#{order_id}", "ORDER")
            if item is None or not isinstance(item.get("record"), str):
                continue
            record = json.loads(item["record"])
            if record.get("customer_id") != customer_id:
                continue
            record["customer_id"] = alias
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=self._item({"pk": f"ORDER#{order_id}", "sk": "ORDER"}),
                    UpdateExpression="SET #r = :r",
                    ExpressionAttributeNames={"#r": "record"},
                    ExpressionAttributeValues=self._item({":r": json.dumps(record, separators=(",", ":"))}),
                )
            except (ClientError, BotoCoreError) as exc:
                self._fail(exc, "order pseudonymise")
            changed += 1
        return changed

    def erase_answers(self, personal: Sequence[str]) -> int:
        """Delete the answers kept for replays (IdempotencyTable) that mention the person."""
        if not personal:
            return 0
        scan: dict[str, Any] = {"TableName": self._idempotency}
        deleted = 0
        while True:
            try:
                answer = self._client.scan(**scan)
            except (ClientError, BotoCoreError) as exc:
                self._fail(exc, "idempotency scan")
            for raw in answer.get("Items", []):
                item = self._from_item(raw)
                if mentions(item, personal):
                    self._client.delete_item(TableName=self._idempotency, Key={"id": raw["id"]})
                    deleted += 1
            if not answer.get("LastEvaluatedKey"):
                return deleted
            scan["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _delete(self, pk: str, sk: str) -> None:
        try:
            self._client.delete_item(TableName=self._table, Key=self._item({"pk": pk, "sk": sk}))
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, "customer data delete")

    # ------------------------------------------------------------ erasure records

    def erasure(self, erasure_id: str) -> ErasureRecord | None:
        item = self._get(f"ERASURE#{erasure_id}", "ERASURE")
        return ErasureRecord.model_validate_json(item["record"]) if item else None

    def keep_erasure(self, record: ErasureRecord) -> ErasureRecord:
        """Store the record once; a concurrent first write wins and is answered."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item=self._item(
                    {
                        "pk": f"ERASURE#{record.erasure_id}",
                        "sk": "ERASURE",
                        "customer_id": record.customer_id,
                        "record": record.model_dump_json(),
                    }
                ),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                self._fail(exc, "erasure record write")
            return self.erasure(record.erasure_id) or record
        except BotoCoreError as exc:
            self._fail(exc, "erasure record write")
        return record
