"""Small cached reader of JSON secrets in Secrets Manager.

Used by request signing (one secret per key id) and by the REST platform / Mailchimp
adapters. Values are cached in memory per warm container for ``ttl_seconds`` so a busy
function does not call Secrets Manager on every request, yet a rotated secret is picked
up within minutes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_bridge import errors
from loyalty_bridge.adapters.aws_errors import error_code, raise_domain_error

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

DEFAULT_TTL_SECONDS = 300.0


class SecretNotFound(errors.Permanent):
    """The secret does not exist (or is scheduled for deletion)."""

    code = "secret_not_found"


class SecretMalformed(errors.Permanent):
    """The secret exists but is not a JSON object."""

    code = "secret_malformed"


class SecretsReader:
    """Reads JSON-object secrets, cached with a TTL. Thread-safe enough for Lambda."""

    def __init__(
        self,
        client: SecretsManagerClient,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def read_json_secret(self, arn_or_name: str) -> dict[str, Any]:
        """The secret's JSON object. SecretNotFound / SecretMalformed (permanent) or
        errors.Retryable (throttling, network)."""
        now = self._clock()
        with self._lock:
            hit = self._cache.get(arn_or_name)
        if hit is not None and hit[0] > now:
            return dict(hit[1])
        value = self._fetch(arn_or_name)
        with self._lock:
            self._cache[arn_or_name] = (now + self._ttl, value)
        return dict(value)

    def forget(self, arn_or_name: str | None = None) -> None:
        with self._lock:
            if arn_or_name is None:
                self._cache.clear()
            else:
                self._cache.pop(arn_or_name, None)

    def _fetch(self, arn_or_name: str) -> dict[str, Any]:
        try:
            response = self._client.get_secret_value(SecretId=arn_or_name)
        except ClientError as exc:
            # InvalidRequest: the secret is scheduled for deletion.
            if error_code(exc) in ("ResourceNotFoundException", "InvalidRequestException"):
                raise SecretNotFound("secret not found", secret=arn_or_name) from None
            raise_domain_error(exc, "secrets manager")
        except BotoCoreError as exc:
            raise_domain_error(exc, "secrets manager")
        raw = response.get("SecretString")
        if raw is None:
            raise SecretMalformed("secret has no string value", secret=arn_or_name)
        try:
            value = json.loads(raw)
        except ValueError:
            raise SecretMalformed("secret is not JSON", secret=arn_or_name) from None
        if not isinstance(value, dict):
            raise SecretMalformed("secret is not a JSON object", secret=arn_or_name)
        return value
