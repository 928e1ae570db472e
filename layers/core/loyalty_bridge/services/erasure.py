"""The customer's erasure (D2, GDPR Art. 17): ``POST /v1/admin/customers/{customer_id}/erase``.

In this order, each step idempotent, so a failure (a platform or Mailchimp down: 503) is
retried with the same ``erasure_id`` and finishes the work:
1. the loyalty platform erases the member (port ``erase_member``: the ledger keeps the
   money trail under the member id); a platform that offers no erasure is listed for the
   admin to do by hand;
2. Mailchimp deletes the list member permanently (every address it was filed under);
3. error records about the customer are pseudonymised (personal values replaced, replay
   message dropped, closed) and answers kept for replays that mention the person deleted;
4. the bridge's orders are kept under the pseudonym, every other item about the customer
   is deleted (record, links, email indexes, sync state, challenges, attempt counters).
Then the erasure record (who, when, why, what) is kept and the admins are emailed. A repeat
with the same ``erasure_id`` answers the first record and does nothing. Afterwards the
customer is unknown (404), and a signup with the same email is a new customer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from loyalty_bridge import errors
from loyalty_bridge.models.data_rights import EraseRequest, ErasureRecord, ErasureStep
from loyalty_bridge.models.domain import LoyaltyStatus, Member
from loyalty_bridge.models.records import CustomerRecord, ErrorStatus, utcnow
from loyalty_bridge.observability import logger
from loyalty_bridge.ports import (
    CustomerDataStore,
    CustomerErrors,
    CustomerRepository,
    LoyaltyPlatform,
    Mailer,
    MailingList,
)
from loyalty_bridge.privacy import pseudonym
from loyalty_bridge.program.erasure import personal_values, scrubbed
from loyalty_bridge.services.data_rights import existing_customer, order_ids, whole_history
from loyalty_bridge.services.history import HistoryService
from loyalty_bridge.services.membership import profile_of


def erased_alias(customer_id: str) -> str:
    """What the customer's money trail is kept under (non-reversible, stable)."""
    return f"erased-{pseudonym(customer_id)}"


class CustomerEraser:
    def __init__(
        self,
        customers: CustomerRepository,
        platform: LoyaltyPlatform,
        history: HistoryService,
        data: CustomerDataStore,
        errors_store: CustomerErrors,
        mailer: Mailer,
        *,
        admin_emails: Sequence[str],
        mailing_list: MailingList | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._customers = customers
        self._platform = platform
        self._history = history
        self._data = data
        self._errors = errors_store
        self._mailer = mailer
        self._admins = list(admin_emails)
        self._mailing_list = mailing_list
        self._clock = clock

    def erase(self, customer_id: str, request: EraseRequest, *, requested_by: str) -> ErasureRecord:
        first = self._data.erasure(request.erasure_id)
        if first is not None:
            if first.customer_id != customer_id:
                raise errors.Conflict(
                    "This erasure_id was used for another customer.", code="erasure_id_in_use"
                )
            return first
        record = existing_customer(self._customers, customer_id)
        member = self._member(record)
        orders = self._order_ids(record)
        personal = personal_values([profile_of(record), *([member.profile] if member else [])])
        emails = self._emails(record, member)
        alias = erased_alias(customer_id)
        steps = [
            self._erase_on_platform(record),
            self._erase_in_mailchimp(emails),
            ErasureStep(
                target="errors",
                outcome="done",
                detail=f"{self._erase_errors(customer_id, alias, personal)} records",
            ),
            ErasureStep(
                target="idempotency", outcome="done", detail=f"{self._data.erase_answers(personal)} answers"
            ),
        ]
        kept = self._data.pseudonymise_orders(orders, customer_id, alias)
        deleted = self._data.erase_customer(
            customer_id,
            emails=emails,
            mobile=record.mobile or (member.profile.mobile if member else None),
            member_id=record.member_id,
            card_number=record.card_number,
        )
        steps.append(
            ErasureStep(target="bridge", outcome="done", detail=f"{deleted} items; {kept} orders kept")
        )
        erasure = ErasureRecord(
            erasure_id=request.erasure_id,
            customer_id=customer_id,
            reason=request.reason,
            requested_by=requested_by,
            erased_at=self._clock(),
            pseudonym=alias,
            member_id=record.member_id,
            steps=steps,
            by_hand=[step.detail for step in steps if step.outcome == "by_hand"],
        )
        stored = self._data.keep_erasure(erasure)
        if stored is erasure:
            self._tell_admins(stored)
        logger.info(
            "customer erased", extra={"customer": pseudonym(customer_id), "by_hand": len(stored.by_hand)}
        )
        return stored

    # ------------------------------------------------------------------ steps

    def _member(self, record: CustomerRecord) -> Member | None:
        if not record.member_id:
            return None
        try:
            return self._platform.get_member(record.member_id)
        except errors.MemberNotFound:
            return None

    def _order_ids(self, record: CustomerRecord) -> list[str]:
        if record.status is not LoyaltyStatus.JOINED or not record.member_id:
            return []
        entries, _ = whole_history(self._history, record.customer_id)
        return order_ids(entries)

    def _emails(self, record: CustomerRecord, member: Member | None) -> list[str]:
        found = [record.email, *([member.profile.email] if member else [])]
        for state in self._data.sync_states(record.customer_id):
            found += [value for value in state.facts.values() if "@" in value]
        return list(dict.fromkeys(email.strip().lower() for email in found if email and email.strip()))

    def _erase_on_platform(self, record: CustomerRecord) -> ErasureStep:
        if not record.member_id:
            return ErasureStep(target="platform", outcome="nothing_held")
        try:
            self._platform.erase_member(record.member_id, idempotency_key=f"erase:{record.member_id}")
        except errors.PlatformRefused as exc:
            detail = f"loyalty platform: erase member {record.member_id} by hand ({exc.detail})"
            return ErasureStep(target="platform", outcome="by_hand", detail=detail)
        return ErasureStep(target="platform", outcome="done", detail=f"member {record.member_id}")

    def _erase_in_mailchimp(self, emails: Sequence[str]) -> ErasureStep:
        if self._mailing_list is None:
            return ErasureStep(
                target="mailchimp", outcome="nothing_held", detail="Mailchimp is not configured"
            )
        deleted = sum(1 for email in emails if self._mailing_list.delete_permanently(email))
        if not deleted:
            return ErasureStep(target="mailchimp", outcome="nothing_held")
        return ErasureStep(
            target="mailchimp", outcome="done", detail=f"{deleted} list members deleted permanently"
        )

    def _erase_errors(self, customer_id: str, alias: str, personal: list[str]) -> int:
        records = self._errors.of_customer(customer_id)
        for record in records:
            erased = record.model_copy(
                update={
                    "customer_id": alias,
                    "attempted": scrubbed(record.attempted, personal),
                    "platform_answer": scrubbed(record.platform_answer, personal),
                    "change_before": scrubbed(record.change_before, personal)
                    if record.change_before
                    else None,
                    "change_after": scrubbed(record.change_after, personal) if record.change_after else None,
                    "replay": {},  # a replay would bring the person back
                    "status": ErrorStatus.RESOLVED,
                    "note": "the customer's data was erased",
                    "updated_at": self._clock(),
                }
            )
            self._errors.overwrite(erased, previous_id=record.error_id)
        return len(records)

    def _tell_admins(self, erasure: ErasureRecord) -> None:
        if not self._admins:
            return
        lines = [
            f"Customer {erasure.customer_id} was erased (erasure {erasure.erasure_id}).",
            f"Requested by: {erasure.requested_by}; at {erasure.erased_at.isoformat()}.",
            f"Reason: {erasure.reason}",
            f"The money trail is kept under {erasure.pseudonym}.",
            "",
            "Done:",
            *[f"- {step.target}: {step.outcome} {step.detail}".rstrip() for step in erasure.steps],
        ]
        if erasure.by_hand:
            lines += ["", "To erase by hand:", *[f"- {item}" for item in erasure.by_hand]]
        subject = "Customer data erased" + (" (action needed)" if erasure.by_hand else "")
        self._mailer.send(to=self._admins, subject=f"{subject}: {erasure.customer_id}", text="\n".join(lines))
