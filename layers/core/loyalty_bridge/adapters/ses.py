"""SesMailer: ports.Mailer over Amazon SES (``send_email``, text with optional HTML)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_bridge.adapters.aws_errors import raise_domain_error

if TYPE_CHECKING:
    from mypy_boto3_ses import SESClient
    from mypy_boto3_ses.type_defs import BodyTypeDef

_CHARSET = "UTF-8"


class SesMailer:
    def __init__(self, client: SESClient, *, sender: str) -> None:
        self._client = client
        self._sender = sender

    def send(self, *, to: Sequence[str], subject: str, text: str, html: str | None = None) -> str:
        recipients = [address for address in to if address]
        if not recipients:
            raise ValueError("an email needs at least one recipient")
        body: BodyTypeDef = {"Text": {"Data": text, "Charset": _CHARSET}}
        if html is not None:
            body["Html"] = {"Data": html, "Charset": _CHARSET}
        try:
            response = self._client.send_email(
                Source=self._sender,
                Destination={"ToAddresses": recipients},
                Message={"Subject": {"Data": subject, "Charset": _CHARSET}, "Body": body},
            )
        except (ClientError, BotoCoreError) as exc:
            raise_domain_error(exc, "ses send_email")
        return str(response["MessageId"])
