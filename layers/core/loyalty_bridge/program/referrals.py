"""Referrals (R5): every member has a code to share; a customer who signs up with it makes
the referrer earn ``referral_bonus_points`` (program rules) once, when the referred
member's first order is credited (keyed by the referred member, so never twice).

The code is drawn once when the member is created and kept with the member (the same code
on every read), from 50 random bits: it cannot be guessed from anything the customer sees.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import quote

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
_CHARS = 10
CODE_PATTERN = r"^[0-9A-Za-z-]{4,32}$"
_SEPARATORS = re.compile(r"[\s-]+")


def new_referral_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(_CHARS))


def normalize_referral_code(code: str) -> str:
    """People retype codes: case and dashes do not matter."""
    return _SEPARATORS.sub("", code).upper()


def referral_link(base_url: str, code: str) -> str | None:
    """The shareable link: ``base_url`` with ``{code}`` replaced, or with ``ref=<code>``
    added to its query. None when no base URL is configured."""
    if not base_url:
        return None
    escaped = quote(code, safe="")
    if "{code}" in base_url:
        return base_url.replace("{code}", escaped)
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}ref={escaped}"
