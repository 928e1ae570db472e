"""Request signing of the storefront API (API.md "Transport").

Signature = lowercase hex ``HMAC-SHA256(secret, canonical)`` where ::

    canonical = f"{timestamp}\\n{METHOD}\\n{path}\\n{sha256_hex(body)}"

``path`` is the raw request path plus ``?query`` when there is a query string. The
timestamp (Unix seconds) must be within ``signing_window_seconds`` (300 s) of now.

Signing keys live in Secrets Manager as ``{signing_secret_prefix}{key_id}`` holding
``{"secret": "...", "scope": "storefront" | "admin"}``; ``SigningKeys`` resolves and
caches them (unknown ids are cached too, so a flood of bad ids cannot hammer the API).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loyalty_bridge.observability import logger

KEY_ID_HEADER = "X-Bridge-Key-Id"
TIMESTAMP_HEADER = "X-Bridge-Timestamp"
SIGNATURE_HEADER = "X-Bridge-Signature"
DEFAULT_WINDOW_SECONDS = 300

Scope = Literal["storefront", "admin"]

# Key ids end up in a Secrets Manager name: keep them boring.
_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def body_sha256(body: bytes | str | None) -> str:
    return hashlib.sha256(_as_bytes(body or b"")).hexdigest()


def signing_path(raw_path: str, raw_query: str | None = None) -> str:
    """The ``path`` part of the canonical string: raw path, plus ``?query`` if any."""
    return f"{raw_path}?{raw_query}" if raw_query else raw_path


def canonical_string(timestamp: int | str, method: str, path: str, body: bytes | str | None = b"") -> str:
    return f"{timestamp}\n{method.upper()}\n{path}\n{body_sha256(body)}"


def sign(
    secret: str | bytes,
    timestamp: int | str,
    method: str,
    path: str,
    body: bytes | str | None = b"",
) -> str:
    """Lowercase hex signature of one request (``path`` includes ``?query`` if any)."""
    message = canonical_string(timestamp, method, path, body).encode("utf-8")
    return hmac.new(_as_bytes(secret), message, hashlib.sha256).hexdigest()


def signed_headers(
    key_id: str,
    secret: str | bytes,
    method: str,
    path: str,
    body: bytes | str | None = b"",
    *,
    now: float | None = None,
) -> dict[str, str]:
    """The three signature headers for a request made now (clients, tests, scripts)."""
    timestamp = str(int(time.time() if now is None else now))
    return {
        KEY_ID_HEADER: key_id,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, method, path, body),
    }


def parse_timestamp(timestamp: str | None) -> int | None:
    if timestamp is None or not _TIMESTAMP.match(timestamp):
        return None
    return int(timestamp)


def timestamp_fresh(
    timestamp: str | None, *, now: float | None = None, window_seconds: int = DEFAULT_WINDOW_SECONDS
) -> bool:
    """True when ``timestamp`` is Unix seconds no more than ``window_seconds`` off now."""
    value = parse_timestamp(timestamp)
    if value is None:
        return False
    current = time.time() if now is None else now
    return abs(current - value) <= window_seconds


def verify(
    secret: str | bytes,
    *,
    timestamp: str | None,
    method: str,
    path: str,
    body: bytes | str | None,
    signature: str | None,
    now: float | None = None,
    window_seconds: int = DEFAULT_WINDOW_SECONDS,
) -> bool:
    """Timestamp within the window and signature correct (constant-time comparison)."""
    if not signature or timestamp is None:
        return False
    if not timestamp_fresh(timestamp, now=now, window_seconds=window_seconds):
        return False
    expected = sign(secret, timestamp, method, path, body)  # as sent: the client signed that text
    given = signature.strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(expected.encode("ascii"), given)


# ---------------------------------------------------------------- key store


@dataclass(frozen=True, slots=True)
class SigningKey:
    key_id: str
    secret: str
    scope: Scope

    def __repr__(self) -> str:  # never print the secret
        return f"SigningKey(key_id={self.key_id!r}, scope={self.scope!r})"


class _KeySecret(BaseModel):
    model_config = ConfigDict(extra="ignore")

    secret: str = Field(min_length=1)
    scope: Scope = "storefront"


class JsonSecretSource(Protocol):
    def read_json_secret(self, arn_or_name: str) -> dict[str, Any]: ...


class SigningKeys:
    """key id -> SigningKey, from Secrets Manager, cached with a TTL (negatives too).

    Missing, malformed or invalid key secrets resolve to None. Technical failures of
    Secrets Manager (errors.Retryable) propagate: "unknown key" must not be cached
    because the service hiccuped.
    """

    def __init__(
        self,
        source: JsonSecretSource,
        *,
        prefix: str,
        ttl_seconds: float = 300.0,
        negative_ttl_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._negative_ttl = negative_ttl_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, SigningKey | None]] = {}
        self._lock = threading.Lock()

    def get(self, key_id: str | None) -> SigningKey | None:
        if not key_id or not _KEY_ID.match(key_id):
            return None
        now = self._clock()
        with self._lock:
            hit = self._cache.get(key_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        key = self._load(key_id)
        ttl = self._ttl if key is not None else self._negative_ttl
        with self._lock:
            self._cache[key_id] = (now + ttl, key)
        return key

    def _load(self, key_id: str) -> SigningKey | None:
        from loyalty_bridge.adapters.secrets import SecretMalformed, SecretNotFound

        try:
            raw = self._source.read_json_secret(f"{self._prefix}{key_id}")
        except (SecretNotFound, SecretMalformed):
            logger.info("unknown signing key id", extra={"key_id": key_id})
            return None
        try:
            parsed = _KeySecret.model_validate(raw)
        except ValidationError:
            logger.warning("signing key secret is malformed", extra={"key_id": key_id})
            return None
        return SigningKey(key_id=key_id, secret=parsed.secret, scope=parsed.scope)


class StaticSigningKeys:
    """In-memory key store (unit tests, scripts): ``{key_id: (secret, scope)}``."""

    def __init__(self, keys: Mapping[str, tuple[str, Scope]]) -> None:
        self._keys = {kid: SigningKey(kid, secret, scope) for kid, (secret, scope) in keys.items()}

    def get(self, key_id: str | None) -> SigningKey | None:
        return self._keys.get(key_id or "")


class KeyStore(Protocol):
    def get(self, key_id: str | None) -> SigningKey | None: ...


# ---------------------------------------------------------------- authorizer decision

ADMIN_PATH_PREFIX = "/v1/admin"


@dataclass(frozen=True, slots=True)
class AccessDecision:
    allowed: bool
    key_id: str
    scope: str  # "storefront", "admin", or "unknown" (no such key / key store unavailable)
    timestamp_ok: bool


def is_admin_path(path: str) -> bool:
    return path == ADMIN_PATH_PREFIX or path.startswith(ADMIN_PATH_PREFIX + "/")


def decide_access(
    *,
    path: str,
    key_id: str | None,
    timestamp: str | None,
    keys: KeyStore,
    window_seconds: int = DEFAULT_WINDOW_SECONDS,
    now: float | None = None,
) -> AccessDecision:
    """What the HTTP API authorizer can decide without the body: deny only a known
    non-admin key on an admin route; everything else goes on to the function, whose
    full check answers failures with a 401 problem+json."""
    from loyalty_bridge import errors

    key: SigningKey | None = None
    try:
        key = keys.get(key_id)
    except errors.Retryable:
        logger.warning("signing key lookup failed in the authorizer", extra={"key_id": key_id or "-"})
    fresh = timestamp_fresh(timestamp, now=now, window_seconds=window_seconds)
    scope = key.scope if key is not None else "unknown"
    allowed = not (is_admin_path(path) and key is not None and key.scope != "admin")
    return AccessDecision(allowed=allowed, key_id=key.key_id if key else "", scope=scope, timestamp_ok=fresh)
