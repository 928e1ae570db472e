"""Member rules shared by the platforms: how a profile change applies. (How emails compare,
one account per email, is ``privacy.normalize_email``, re-exported here for the platforms.)
"""

from __future__ import annotations

from loyalty_bridge.errors import InvalidInput
from loyalty_bridge.models.domain import MemberProfile, ProfileChanges
from loyalty_bridge.privacy import normalize_email

__all__ = ["changed_profile", "normalize_email"]


def changed_profile(old: MemberProfile, changes: ProfileChanges) -> MemberProfile:
    """The profile after ``changes``: the fields it sets (None leaves a field as it is); an
    email is never blanked (a member imported without one, seed 002, keeps none until given
    one)."""
    update = {name: getattr(changes, name) for name in changes.model_fields_set}
    new = old.model_copy(update={k: v for k, v in update.items() if v is not None})
    if normalize_email(old.email) and not normalize_email(new.email):
        raise InvalidInput("email must not be blank")  # a member imported without one may stay so
    return new
