"""Member rules shared by the platforms: how emails compare (one account per email, A1/A4)
and how a profile change applies.
"""

from __future__ import annotations

from loyalty_bridge.errors import InvalidInput
from loyalty_bridge.models.domain import MemberProfile, ProfileChanges


def normalize_email(email: str) -> str:
    """Emails are unique case-insensitively, whitespace around them ignored."""
    return email.strip().casefold()


def changed_profile(old: MemberProfile, changes: ProfileChanges) -> MemberProfile:
    """The profile after ``changes``: the fields it sets (None leaves a field as it is); an
    email is never blanked."""
    update = {name: getattr(changes, name) for name in changes.model_fields_set}
    new = old.model_copy(update={k: v for k, v in update.items() if v is not None})
    if not normalize_email(new.email):
        raise InvalidInput("email must not be blank")
    return new
