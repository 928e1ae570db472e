"""Erasure (GDPR Art. 17, D2): the rules every platform and store applies alike.

An erased member keeps its money trail (entries, balance, point lots, holds, order ids,
card number) under its member id, which is random and, once the bridge's link is gone, a
pseudonym; everything that names or reaches the person is gone. ``erased_profile`` is what
the member's profile holds afterwards; ``personal_values`` and ``scrubbed`` are how a
record kept for audits (an error record, an answer kept for replays) loses the person's
data wherever it appears in it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from loyalty_bridge.models.domain import Consents, MemberProfile

ERASED = "[erased]"
_MIN_VALUE = 3  # shorter values (an initial) are not searched for inside free text


def erased_profile() -> MemberProfile:
    """An erased member's profile: no address, no name, no phone, no birthday."""
    return MemberProfile(email="")


def erased_consents() -> Consents:
    """An erased member is sent nothing."""
    return Consents(email=False, sms=False)


def personal_values(profiles: Iterable[MemberProfile]) -> list[str]:
    """The strings that identify the person in any of ``profiles`` (the web record and the
    loyalty account may differ), longest first so a longer value is replaced whole."""
    found: set[str] = set()
    for profile in profiles:
        found.update(
            value.strip()
            for value in (profile.email, profile.first_name, profile.last_name, profile.mobile)
            if value and value.strip()
        )
        if profile.birthday is not None:
            found.add(profile.birthday.isoformat())
        if profile.address is not None:
            found.update(
                str(value).strip()
                for value in profile.address.model_dump().values()
                if isinstance(value, str) and value.strip()
            )
    return sorted((value for value in found if len(value) >= _MIN_VALUE), key=lambda v: (-len(v), v))


def mentions(value: Any, personal: Iterable[str]) -> bool:
    """Whether any of ``personal`` appears in ``value`` (case-insensitive, nested)."""
    text = repr(value).lower()
    return any(item.lower() in text for item in personal)


def scrubbed(value: Any, personal: list[str]) -> Any:
    """``value`` with every occurrence of ``personal`` replaced by ERASED (nested)."""
    if isinstance(value, Mapping):
        return {key: scrubbed(item, personal) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrubbed(item, personal) for item in value]
    if isinstance(value, str):
        return _scrub_text(value, personal)
    return value


def _scrub_text(text: str, personal: list[str]) -> str:
    for item in personal:
        text = re.sub(re.escape(item), ERASED, text, flags=re.IGNORECASE)
    return text
