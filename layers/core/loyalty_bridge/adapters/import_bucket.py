"""ImportObjects (services/bucket_import.py) over S3: the member import bucket, read in
byte ranges of one object version."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_bridge.adapters.aws_errors import raise_domain_error
from loyalty_bridge.services.bucket_import import StoredObject

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class S3ImportObjects:
    def __init__(self, client: S3Client) -> None:
        self._client = client

    @staticmethod
    def _version(version_id: str | None) -> dict[str, Any]:
        return {"VersionId": version_id} if version_id and version_id != "null" else {}

    def describe(self, bucket: str, key: str, version_id: str | None) -> StoredObject:
        try:
            head = self._client.head_object(Bucket=bucket, Key=key, **self._version(version_id))
        except (ClientError, BotoCoreError) as exc:
            raise_domain_error(exc, "import file read")
        return StoredObject(
            size=int(head["ContentLength"]),
            content_type=head.get("ContentType"),
            version_id=head.get("VersionId"),
        )

    def read(self, bucket: str, key: str, version_id: str | None, start: int, length: int) -> bytes:
        try:
            answer = self._client.get_object(
                Bucket=bucket,
                Key=key,
                Range=f"bytes={start}-{start + length - 1}",
                **self._version(version_id),
            )
            data: bytes = answer["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise_domain_error(exc, "import file read")
        return data
