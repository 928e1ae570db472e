"""SqsQueue: ports.MessageQueue over one SQS queue (standard or FIFO)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_bridge.adapters.aws_errors import raise_domain_error

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class SqsQueue:
    """Sends message bodies to ``queue_url``.

    FIFO queues (URL ends in ``.fifo``) need a group id (ours: the customer id, so one
    customer's changes stay in order) and take ``dedup_id`` (ours: the message id) as the
    deduplication id; without one, the body's SHA-256 is used. FIFO queues do not accept
    per-message delays, so ``delay_seconds`` is ignored there.
    """

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self.queue_url = queue_url
        self.fifo = queue_url.endswith(".fifo")

    def send(
        self,
        body: str,
        *,
        group_id: str | None = None,
        dedup_id: str | None = None,
        delay_seconds: int = 0,
    ) -> None:
        params: dict[str, Any] = {"QueueUrl": self.queue_url, "MessageBody": body}
        if self.fifo:
            if not group_id:
                raise ValueError("a FIFO queue needs a group_id")
            params["MessageGroupId"] = group_id
            params["MessageDeduplicationId"] = dedup_id or hashlib.sha256(body.encode()).hexdigest()
        elif delay_seconds:
            params["DelaySeconds"] = max(0, min(int(delay_seconds), 900))
        try:
            self._client.send_message(**params)
        except (ClientError, BotoCoreError) as exc:
            raise_domain_error(exc, "sqs send")
