"""Erasure of a Talon.One member (D2, GDPR Art. 17): ``deleteCustomerData``
(``DELETE /v1/customer_data/{integrationId}``: "Delete all attributes on the customer profile
and on entities that reference this customer profile", in every Application of the API
key's environment). The profile, its loyalty card and the card's transactions stay under the
integration id (the bridge's random member id, a pseudonym once the bridge's link is gone),
so the points and the history add up; the bridge's email and mobile index entries go, so
the email can join again as a new member. An unknown profile (404) has nothing to erase.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from typing import Any
from urllib.parse import quote

from loyalty_bridge.adapters.talon_one_store import TalonOneStore
from loyalty_bridge.adapters.talon_one_transport import TalonOneHttp, TalonOneNotFound


class TalonOneErasure:
    _api: TalonOneHttp
    _store: TalonOneStore

    _one_at_a_time: Callable[[str], AbstractContextManager[Any]]  # one customer at a time

    def erase_member(self, member_id: str, *, idempotency_key: str) -> None:
        # An unknown profile (TalonOneNotFound) has nothing to erase there.
        with self._one_at_a_time(member_id), suppress(TalonOneNotFound):
            self._api.call(
                "deleteCustomerData",
                "DELETE",
                f"/v1/customer_data/{quote(member_id, safe='')}",
                None,
                expect=204,
            )
        self._store.forget_person(member_id)
