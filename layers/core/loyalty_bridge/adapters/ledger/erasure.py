"""Erasure of a member of the built-in ledger (D2, GDPR Art. 17; rules: program/erasure.py).

One transaction: the PROFILE item loses the person (profile, consents, email, the mobile
index ``gsi1``) and is marked ``erased_at``; the ``EMAIL#`` claim goes, so the address can
join again as a new member. ACCOUNT, entries, lots, holds, ORDER items and the card stay
under the member id (a random id: with the bridge's link gone, a pseudonym), so balances,
statistics and audits add up as before. A repeat finds ``erased_at`` and changes nothing.
"""

from __future__ import annotations

from loyalty_bridge.adapters.ledger.table import LedgerTable, iso, member_pk
from loyalty_bridge.program.erasure import erased_consents, erased_profile


class LedgerErasure(LedgerTable):
    def erase_member(self, member_id: str, *, idempotency_key: str) -> None:
        def attempt() -> None:
            profile = self._get(member_pk(member_id), "PROFILE")
            if profile is None or profile.get("erased_at"):
                return
            items = [
                (
                    "profile",
                    self._update(
                        member_pk(member_id),
                        "PROFILE",
                        "SET profile = :p, consents = :c, email = :e, erased_at = :now REMOVE gsi1pk, gsi1sk",
                        {
                            ":p": erased_profile().model_dump_json(),
                            ":c": erased_consents().model_dump_json(),
                            ":e": "",
                            ":now": iso(self._clock()),
                        },
                        condition="attribute_not_exists(erased_at)",
                    ),
                )
            ]
            email = str(profile.get("email") or "")
            claim = self._get(f"EMAIL#{email}", "EMAIL") if email else None
            if claim is not None and claim.get("member_id") == member_id:
                items.append(("email", self._delete(f"EMAIL#{email}", "EMAIL")))
            self._transact_or_retry(items)  # a concurrent write: read again (``_retrying``)

        self._retrying(attempt)
