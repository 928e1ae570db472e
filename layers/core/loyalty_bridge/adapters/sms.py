"""SMS senders (ports.SmsSender): SnsSms over Amazon SNS, FileCaptureSms for the local stack."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_bridge.adapters.aws_errors import raise_domain_error
from loyalty_bridge.observability import logger
from loyalty_bridge.privacy import mask_phone

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef


class SnsSms:
    """Direct-to-phone SNS publish, marked Transactional (codes must arrive promptly)."""

    def __init__(self, client: SNSClient, *, sender_id: str | None = None) -> None:
        self._client = client
        self._sender_id = sender_id

    def send(self, *, to: str, text: str) -> str:
        attributes: dict[str, MessageAttributeValueTypeDef] = {
            "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}
        }
        if self._sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": self._sender_id}
        try:
            response = self._client.publish(PhoneNumber=to, Message=text, MessageAttributes=attributes)
        except (ClientError, BotoCoreError) as exc:
            raise_domain_error(exc, "sns publish")
        return str(response["MessageId"])


class FileCaptureSms:
    """Writes each SMS as one JSON file in ``folder`` instead of sending it (local stack)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def send(self, *, to: str, text: str) -> str:
        message_id = uuid.uuid4().hex
        sent_at = datetime.now(UTC)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{sent_at.strftime('%Y%m%dT%H%M%S%f')}-{message_id[:8]}.json"
        payload = {"message_id": message_id, "to": to, "text": text, "sent_at": sent_at.isoformat()}
        path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        logger.info("sms captured", extra={"to": mask_phone(to), "file": str(path)})
        return message_id
