"""Personal data: how it is compared, masked and kept out of logs and admin listings.

One home for each rule (docs/SECURITY.md):
- ``normalize_email``: how two emails are compared everywhere (A4 ownership check, the
  one-account-per-email rule, the customer email index): trimmed and ``casefold``-ed, so
  "STRASSE@example.com" and "straße@example.com" are one address wherever it matters.
- ``pseudonym``: a stable, non-reversible id for logs.
- ``mask_email``, ``mask_phone``, ``mask_card``, ``masked_text``, ``masked_value``: what an
  admin (email, listing) or a log line may show of contact data.
- ``platform_answer``: what a platform said, masked, for the logs and the error records.
- ``error_id_for``: the deterministic id of one failure (no personal data in it but the
  customer id and pseudonyms the callers pass).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from loyalty_bridge import errors
from loyalty_bridge.models.records import ErrorCategory

_EMAIL_IN_TEXT = re.compile(r"[^\s@\"'<>,;:()\[\]{}]+@[^\s@\"'<>,;:()\[\]{}]+\.[A-Za-z]{2,}")
_EMAIL_LIKE = re.compile(r"[^\s@<>\"']+@[^\s@<>\"']+")
_PHONE_IN_TEXT = re.compile(r"\+\d[\d .-]{6,}\d|\b\d{9,15}\b")
_EMAIL_KEYS = ("email", "email_address")
_PHONE_KEYS = ("mobile", "phone")


def normalize_email(value: str) -> str:
    """How two emails are compared (A4, one account per email): trimmed, case-insensitive
    the Unicode way (``casefold``: ß = ss, a final sigma = sigma)."""
    return value.strip().casefold()


def pseudonym(value: str | None) -> str:
    """Stable, non-reversible short id for personal data in logs (emails, customer ids)."""
    if not value:
        return "-"
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:12]


def mask_email(email: str) -> str:
    """a***@e***.com: enough for an admin to recognise, not enough to harvest."""
    local, _, domain = email.partition("@")
    host, _, tld = domain.rpartition(".")
    return f"{local[:1]}***@{host[:1]}***.{tld}" if domain else "***"


def mask_phone(phone: str) -> str:
    digits = [c for c in phone if c.isdigit()]
    return "***" + "".join(digits[-3:]) if digits else "***"


def mask_card(number: str | None) -> str:
    return f"****{number[-4:]}" if number else "(none)"


def masked_text(text: str, limit: int = 500) -> str:
    """Free text (a platform's answer, a raw message) with addresses and phone numbers masked."""
    text = _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group(0)), text)
    text = _EMAIL_LIKE.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), text)[:limit]


def masked_value(key: str, value: Any) -> Any:
    """Personal contact data in an email is masked; an admin recognises it, nobody harvests it."""
    if isinstance(value, Mapping):
        return {str(k): masked_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked_value(key, v) for v in value]
    if isinstance(value, str) and value:
        lowered = key.lower()
        if any(lowered.endswith(name) for name in _EMAIL_KEYS) or "@" in value:
            return mask_email(value)
        if any(lowered.endswith(name) for name in _PHONE_KEYS):
            return mask_phone(value)
    return value


def platform_answer(exc: BaseException) -> str:
    """What the platform said, for an admin and the logs: its code and message with any
    email or phone number masked; for a failure without an answer, its type."""
    if isinstance(exc, errors.BridgeError):
        return f"{exc.code}: {masked_text(exc.detail)}"
    return f"{type(exc).__name__}: no answer"


def error_id_for(category: ErrorCategory | str, *parts: str) -> str:
    """Deterministic error id, e.g. ``account_update:msg-123:platform``: one failure, one id."""
    return ":".join([ErrorCategory(category).value, *parts])
