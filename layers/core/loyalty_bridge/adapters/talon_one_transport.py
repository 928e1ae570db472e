"""Talon.One's Integration API as calls: adapters/rest_transport.PlatformHttp's failure
policy (timeouts, retries with full jitter honouring Retry-After, a per-call budget, the
same bytes and Idempotency-Key on every retry, every answer validated with pydantic) with
Talon.One's auth and refusals:

- ``Authorization: ApiKey-v1 <key>``, the key read from the platform secret in Secrets
  Manager (PlatformSecret, ``{"api_key": "..."}``; re-read once on a 401: a rotated key);
- 409 is retried like 429 and 5xx: Talon.One answers it to parallel requests for one
  customer (the adapter keeps a customer's calls sequential; a retry sorts out the rest);
- a 400/404 refusal (``{"message": ..., "errors": [...]}``) becomes ``TalonOneRefused`` /
  ``TalonOneNotFound``; the adapter maps them to the port's errors per operation. The
  message goes in the error's context (for admins), never in its detail.
"""

from __future__ import annotations

from typing import Any, Final

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from loyalty_bridge import errors
from loyalty_bridge.adapters.rest_transport import JsonSecretReader, PlatformHttp, PlatformNotConfigured
from loyalty_bridge.observability import logger

USER_AGENT: Final = "loyalty-bridge/talon-one"


class TalonOneApiKey:
    """The Integration API key from the secret ``{"api_key": "..."}`` (cached by the reader
    with a TTL; ``invalidate`` forces a re-read)."""

    def __init__(self, secrets: JsonSecretReader, secret_arn: str) -> None:
        self._secrets = secrets
        self._secret_arn = secret_arn

    def __call__(self) -> str:
        if not self._secret_arn:
            raise PlatformNotConfigured("PLATFORM_SECRET_ARN is not set")
        key = self._secrets.read_json_secret(self._secret_arn).get("api_key")
        if not isinstance(key, str) or not key.strip():
            raise PlatformNotConfigured("the Talon.One secret has no api_key")
        return key.strip()

    def invalidate(self) -> None:
        self._secrets.forget(self._secret_arn)


class TalonOneRefused(errors.PlatformRefused):
    """Talon.One said no (400): the request is not acceptable as it is."""

    code = "talon_one_refused"


class TalonOneNotFound(errors.PlatformRefused, errors.NotFound):
    """Talon.One knows no such profile, card or session (404)."""

    code = "talon_one_not_found"


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    message: str = ""
    errors: list[Any] | None = None


class TalonOneHttp(PlatformHttp):
    AUTH_SCHEME = "ApiKey-v1"
    RETRY_STATUSES: frozenset[int] = frozenset({408, 409, 429})

    def _refusal(self, operation: str, response: httpx.Response) -> errors.PlatformError:
        status = response.status_code
        try:
            body = ErrorBody.model_validate_json(response.content)
        except ValidationError as exc:
            self.malformed(operation, status, exc)
        logger.info("talon.one refused", extra={"operation": operation, "status": status})
        message = body.message[:500]
        if status == 404:
            return TalonOneNotFound(
                "Talon.One has no such record.", operation=operation, status=status, platform_message=message
            )
        return TalonOneRefused(
            "Talon.One refused the request.", operation=operation, status=status, platform_message=message
        )
