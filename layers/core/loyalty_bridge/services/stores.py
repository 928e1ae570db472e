"""Stores and staff (R6): the admin registers points of sale and staff users; every
operation that names them (order, quote, adjustment) is checked by ``StoreDirectory.check``.

The rule, in one place: while no store is registered nothing is checked (as before stores
existed). Once one is, a ``store_id`` that is not registered is ``unknown_store``, and a
``staff_id`` that is not registered, or works at another store than the one named, is
``unknown_staff`` (422, nothing changes). A staff user without a store (head office,
support) may act at any store. An operation naming neither costs no read at all.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from loyalty_bridge import errors
from loyalty_bridge.models.records import utcnow
from loyalty_bridge.models.stores import PutStaff, PutStore, StaffMember, StaffPage, Store, StorePage
from loyalty_bridge.observability import logger
from loyalty_bridge.ports import StoreRegistry


class StoreDirectory:
    def __init__(self, registry: StoreRegistry, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._registry = registry
        self._clock = clock

    # ------------------------------------------------------------ admin

    def put_store(self, store_id: str, body: PutStore) -> Store:
        store = Store(store_id=store_id, name=body.name, channel=body.channel, updated_at=self._clock())
        self._registry.put_store(store)
        logger.info("store registered", extra={"store_id": store_id, "channel": store.channel.value})
        return store

    def put_staff(self, staff_id: str, body: PutStaff) -> StaffMember:
        staff = StaffMember(
            staff_id=staff_id,
            name=body.name,
            store_id=body.store_id,
            role=body.role,
            updated_at=self._clock(),
        )
        self._registry.put_staff(staff)  # UnknownStore when the store is not registered
        logger.info(
            "staff user registered",
            extra={"staff_id": staff_id, "store_id": staff.store_id, "role": staff.role.value},
        )
        return staff

    def stores(self, *, limit: int, cursor: str | None) -> StorePage:
        found, next_cursor = self._registry.list_stores(limit=limit, cursor=cursor)
        return StorePage(stores=found, next_cursor=next_cursor)

    def staff(self, *, limit: int, cursor: str | None) -> StaffPage:
        found, next_cursor = self._registry.list_staff(limit=limit, cursor=cursor)
        return StaffPage(staff=found, next_cursor=next_cursor)

    # ------------------------------------------------------------ the check

    def check(self, store_id: str | None, staff_id: str | None) -> None:
        """Refuse (UnknownStore / UnknownStaff) an operation at an unregistered store or by a
        staff user who is unknown or of another store; nothing when no store is registered."""
        if store_id is None and staff_id is None:
            return
        found = self._registry.lookup(store_id, staff_id)
        if not found.any_store:
            return
        if store_id is not None and found.store is None:
            raise errors.UnknownStore(
                "This store is not registered.", errors=[{"field": "store_id", "message": "unknown store"}]
            )
        if staff_id is None:
            return
        staff = found.staff
        if staff is None:
            raise errors.UnknownStaff(
                "This staff user is not registered.",
                errors=[{"field": "staff_id", "message": "unknown staff user"}],
            )
        if store_id is not None and staff.store_id is not None and staff.store_id != store_id:
            raise errors.UnknownStaff(
                "This staff user works at another store.",
                errors=[{"field": "staff_id", "message": "staff user of another store"}],
            )
