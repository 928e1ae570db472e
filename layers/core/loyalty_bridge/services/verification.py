"""One-time codes and attempt limits shared by the attach (A4) and phone (A7) flows.

Codes are random (``secrets``), stored only as HMAC-SHA256(pepper, customer/purpose/code),
compared in constant time, expire, and allow a fixed number of tries. Attempt limits are
fixed windows per key (customer, card, mobile).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from loyalty_bridge import errors
from loyalty_bridge.models.records import utcnow
from loyalty_bridge.models.verification import Challenge, Purpose
from loyalty_bridge.observability import logger
from loyalty_bridge.ports import VerificationStore
from loyalty_bridge.privacy import pseudonym

CODE_TTL = timedelta(minutes=10)
CODE_TRIES = 5
ATTEMPTS_PER_WINDOW = 5
WINDOW_SECONDS = 3600

# The same words for every wrong, expired or missing code: nothing to learn from them.
WRONG_CODE = "The code is not correct or has expired. Ask for a new code if needed."


class CodeBook:
    def __init__(
        self,
        store: VerificationStore,
        pepper: bytes,
        *,
        clock: Callable[[], datetime] = utcnow,
        ttl: timedelta = CODE_TTL,
        digits: dict[Purpose, int] | None = None,
    ) -> None:
        if not pepper:
            raise ValueError("a verification pepper is required")
        self.store = store
        self._pepper = pepper
        self.clock = clock
        self.ttl = ttl
        self._digits = digits or {Purpose.ATTACH: 6, Purpose.PHONE: 4}

    @property
    def ttl_minutes(self) -> int:
        return max(int(self.ttl.total_seconds() // 60), 1)

    def _hash(self, customer_id: str, purpose: Purpose, code: str) -> str:
        message = f"{customer_id}\n{purpose.value}\n{code}".encode()
        return hmac.new(self._pepper, message, hashlib.sha256).hexdigest()

    def issue(self, customer_id: str, purpose: Purpose, **details: object) -> tuple[str, Challenge]:
        """A new code for ``purpose`` (replacing any earlier one). Returns the code, which
        the caller sends and then forgets, and the stored challenge."""
        digits = self._digits[purpose]
        code = f"{secrets.randbelow(10**digits):0{digits}d}"
        challenge = Challenge.model_validate(
            {
                "customer_id": customer_id,
                "purpose": purpose,
                "code_hash": self._hash(customer_id, purpose, code),
                "expires_at": self.clock() + self.ttl,
                "tries_left": CODE_TRIES,
                **details,
            }
        )
        self.store.put_challenge(challenge)
        return code, challenge

    def check(self, customer_id: str, purpose: Purpose, code: str) -> Challenge:
        """The challenge the right ``code`` answers (and it is used up); otherwise
        errors.Refused ``invalid_code`` with the number of tries left."""
        challenge = self.store.get_challenge(customer_id, purpose)
        if challenge is None or challenge.expires_at <= self.clock():
            raise errors.Refused(WRONG_CODE, code="invalid_code", tries_left=0)
        left = self.store.use_try(customer_id, purpose)
        if left is None:
            raise errors.Refused(WRONG_CODE, code="invalid_code", tries_left=0)
        expected = challenge.code_hash
        if not hmac.compare_digest(expected, self._hash(customer_id, purpose, code.strip())):
            logger.info(
                "wrong verification code", extra={"customer": pseudonym(customer_id), "tries_left": left}
            )
            if left == 0:
                self.store.delete_challenge(customer_id, purpose)
            raise errors.Refused(WRONG_CODE, code="invalid_code", tries_left=left)
        self.store.delete_challenge(customer_id, purpose)
        return challenge

    def limit(self, keys: Iterable[str]) -> None:
        """Count one attempt against every key; TooManyRequests when any is over its limit."""
        retry_after = 0
        for key in keys:
            attempt = self.store.count_attempt(key, window_seconds=WINDOW_SECONDS)
            if attempt.count > ATTEMPTS_PER_WINDOW:
                retry_after = max(retry_after, attempt.retry_after)
        if retry_after:
            raise errors.TooManyRequests(
                "Too many attempts. Please try again later.", retry_after=retry_after
            )
