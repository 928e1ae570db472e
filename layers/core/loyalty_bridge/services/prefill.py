"""Prefill (seed 002): after an attach or a merge the storefront reads what the loyalty
account holds (names, email, mobile, birthday, address) to prefill its profile form, and
``missing``: the fields the program requires (A9) that the account still lacks.

Answers for a joined customer only: an unknown customer is 404 ``customer_not_found``, a
customer without a loyalty account (not joined, being created, or verifying an attach) is
422 ``not_joined``, as for rewards: there is no loyalty account to read yet.
"""

from __future__ import annotations

from loyalty_bridge import errors
from loyalty_bridge.models.domain import LoyaltyStatus
from loyalty_bridge.models.loyalty_profile import ProfilePrefill
from loyalty_bridge.observability import logger
from loyalty_bridge.ports import CustomerRepository, LoyaltyPlatform
from loyalty_bridge.privacy import pseudonym


class PrefillService:
    def __init__(self, customers: CustomerRepository, platform: LoyaltyPlatform) -> None:
        self._customers = customers
        self._platform = platform

    def profile(self, customer_id: str) -> ProfilePrefill:
        record = self._customers.get(customer_id)
        if record is None:
            raise errors.NotFound("No customer with this id.", code="customer_not_found")
        if record.status is not LoyaltyStatus.JOINED or not record.member_id:
            raise errors.Refused("This customer has no loyalty account yet; join first.", code="not_joined")
        read = self._platform.member_profile(record.member_id)
        logger.info(
            "loyalty profile read",
            extra={"customer": pseudonym(customer_id), "missing": len(read.missing_fields)},
        )
        return ProfilePrefill.of(read, record.card_number)
