"""SmsOptOutList (ports.py): the numbers that must not get marketing SMS (P3).

Kept in BridgeTable (``SMSOPTOUT#{e164}`` / ``OPTOUT``) because Amazon SNS has no API to
opt a number out (only the recipient's STOP reply does). When a customer opts back in on
the website and SNS has them opted out (they once replied STOP), the number is opted in
again in SNS too (``OptInPhoneNumber``; SNS allows that once every 30 days).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loyalty_bridge import errors
from loyalty_bridge.models.records import utcnow
from loyalty_bridge.observability import logger
from loyalty_bridge.privacy import mask_phone

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_THROTTLED = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "InternalServerError",
    "InternalError",
    "ServiceUnavailable",
}


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


class DynamoSmsOptOuts:
    def __init__(self, client: DynamoDBClient, table_name: str, *, sns: Any | None = None) -> None:
        self._client = client
        self._table = table_name
        self._sns = sns

    @staticmethod
    def _key(phone: str) -> dict[str, Any]:
        return {"pk": {"S": f"SMSOPTOUT#{phone}"}, "sk": {"S": "OPTOUT"}}

    def set_opted_out(self, phone: str, opted_out: bool, *, customer_id: str) -> None:
        try:
            if opted_out:
                self._client.put_item(
                    TableName=self._table,
                    Item={
                        **self._key(phone),
                        "customer_id": {"S": customer_id},
                        "opted_out_at": {"S": utcnow().isoformat()},
                    },
                )
            else:
                self._client.delete_item(TableName=self._table, Key=self._key(phone))
        except Exception as exc:
            if _code(exc) in _THROTTLED:
                raise errors.Retryable("sms opt-out list temporarily unavailable") from exc
            raise
        if not opted_out:
            self._opt_in_at_sns(phone)

    def is_opted_out(self, phone: str) -> bool:
        try:
            answer = self._client.get_item(TableName=self._table, Key=self._key(phone), ConsistentRead=True)
        except Exception as exc:
            if _code(exc) in _THROTTLED:
                raise errors.Retryable("sms opt-out list temporarily unavailable") from exc
            raise
        return "Item" in answer

    def _opt_in_at_sns(self, phone: str) -> None:
        if self._sns is None:
            return
        try:
            if self._sns.check_if_phone_number_is_opted_out(phoneNumber=phone).get("isOptedOut"):
                self._sns.opt_in_phone_number(phoneNumber=phone)
        except Exception as exc:
            code = _code(exc)
            if code in _THROTTLED:
                raise errors.Retryable("sns temporarily unavailable") from exc
            # SNS refuses a second opt-in within 30 days; our own list already says yes.
            logger.warning("sns opt-in refused", extra={"phone": mask_phone(phone), "aws_code": code})
