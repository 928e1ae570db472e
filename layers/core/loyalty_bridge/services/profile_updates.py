"""Profile and consent changes from the web and from Mailchimp (P1, P3, P5, A7): the API half
of the profile sync.

The web change always stands. It is saved on the CustomerRecord (bumping its version) and
one change message (before/after, the record version) goes on the FIFO ProfileSyncQueue
(``services/sync_queue.py``), grouped by customer so the changes of one customer are
applied in the order they were made, by the worker (``services/profile_sync.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loyalty_bridge import errors
from loyalty_bridge.models.api_profile import MailchimpWebhook
from loyalty_bridge.models.domain import Consents, LoyaltyStatus
from loyalty_bridge.models.messages import (
    CONSENTS_UPDATE,
    PROFILE_UPDATE,
    Envelope,
    ProfileChange,
    SyncedFields,
)
from loyalty_bridge.models.records import MAX_CHANGE_NOTES, ChangeNote, CustomerRecord, utcnow
from loyalty_bridge.observability import logger
from loyalty_bridge.ports import CustomerRepository, IncidentSink, MessageQueue, SyncStateStore
from loyalty_bridge.privacy import normalize_email, pseudonym
from loyalty_bridge.services.sync_queue import (
    CONSENT_FIELDS,
    MAILCHIMP,
    PROFILE_FIELDS,
    message_id_for,
    queue_or_record,
    record_fields,
)

_MAX_UPDATE_TRIES = 5


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.strip() == b.strip()
    return bool(a == b)


def _apply_to_record(record: CustomerRecord, values: Mapping[str, Any]) -> CustomerRecord:
    update = {name: values[name] for name in PROFILE_FIELDS if name in values}
    if any(name in values for name in CONSENT_FIELDS):
        update["consents"] = Consents(
            email=values.get("consent_email", record.consents.email),
            sms=values.get("consent_sms", record.consents.sms),
        )
    return record.model_copy(update=update)


def _noted(record: CustomerRecord, changed: Mapping[str, Any], *, kind: str, source: str) -> CustomerRecord:
    """The record with a note of this change (D1: its changes, consents among them)."""
    if not changed:
        return record
    note = ChangeNote(
        version=record.version + 1,
        at=utcnow(),
        kind=kind,
        source=source,
        fields=sorted(changed),
        consents=record.consents if any(name in changed for name in CONSENT_FIELDS) else None,
    )
    return record.model_copy(update={"changes": [*record.changes, note][-MAX_CHANGE_NOTES:]})


@dataclass(frozen=True)
class ChangeResult:
    sync: str  # queued | unchanged | deferred
    version: int


class ProfileUpdates:
    """Saves web changes and queues them for the sync worker."""

    def __init__(
        self,
        customers: CustomerRepository,
        queue: MessageQueue,
        state: SyncStateStore,
        incidents: IncidentSink,
    ) -> None:
        self._customers = customers
        self._queue = queue
        self._state = state
        self._incidents = incidents

    def update_profile(self, customer_id: str, changes: SyncedFields) -> ChangeResult:
        wanted = {name: getattr(changes, name) for name in changes.model_fields_set if name in PROFILE_FIELDS}
        return self._change(customer_id, wanted, kind=PROFILE_UPDATE, source="web")[0]

    def set_consents(self, customer_id: str, consents: Consents, *, source: str = "web") -> ChangeResult:
        wanted = {"consent_email": consents.email, "consent_sms": consents.sms}
        return self._change(customer_id, wanted, kind=CONSENTS_UPDATE, source=source)[0]

    def confirm_phone(self, customer_id: str, mobile: str, *, accepted_at: datetime) -> CustomerRecord:
        """A7: an SMS code proved ``mobile`` and gave consent to the program terms and to
        messages. Mobile, SMS consent and the time the terms were accepted are saved in one
        write, and the change goes through the same ordered sync as ``PUT /consents`` (the
        platform, the SMS opt-out list; Mailchimp's email status is not touched)."""
        wanted = {"mobile": mobile, "consent_sms": True}
        return self._change(
            customer_id,
            wanted,
            kind=CONSENTS_UPDATE,
            source="phone",
            pair_consents=False,
            also={"terms_accepted_at": accepted_at},
        )[1]

    # ------------------------------------------------------------------ Mailchimp webhook (P5)

    def apply_mailchimp_event(self, event: MailchimpWebhook, *, list_id: str) -> str:
        """P5: "applied", "unchanged" or "ignored".

        - ``unsubscribe``: email consent off for every customer known under that address
          (their web email, or the address Mailchimp files them under), through the same
          ordered sync as a web change, so it reaches the loyalty platform.
        - ``cleaned`` (the address bounced): email consent off for the customers whose web
          email it is; nothing else is recorded.
        - ``upemail`` (the person changed their address in Mailchimp): the bridge notes where
          Mailchimp files them now, so later syncs update that member; the web account keeps
          its email (it is the master of profile data).
        - ``profile``, ``subscribe`` and others: ignored (the web account is the master, and
          an opt-in is only taken from the customer's own choice on the website).
        """
        data = event.data
        if list_id and data.list_id and data.list_id != list_id:
            logger.info("mailchimp event for another audience ignored", extra={"event": event.type})
            return "ignored"
        if event.type == "upemail":
            return self._moved_in_mailchimp(data.old_email, data.new_email)
        if event.type not in ("unsubscribe", "cleaned"):
            logger.info("mailchimp event ignored", extra={"event": event.type})
            return "ignored"
        if not data.email:
            raise errors.InvalidInput(
                "The webhook has no data[email].", errors=[{"field": "data[email]", "message": "required"}]
            )
        results = self.opt_out_from_mailchimp(data.email, event=event.type)
        if not results:
            return "ignored"
        return "unchanged" if all(r.sync == "unchanged" for r in results) else "applied"

    def opt_out_from_mailchimp(self, email: str, *, event: str) -> list[ChangeResult]:
        """Email consent off for each customer the event is about (empty: nobody known)."""
        results = []
        for record in self._known_under(email, bounced=event == "cleaned"):
            # Both consents travel together: the platform sets them as a pair.
            wanted = {"consent_email": False, "consent_sms": record.consents.sms}
            result, _ = self._change(
                record.customer_id,
                wanted,
                kind=CONSENTS_UPDATE,
                source=f"mailchimp:{event}"[:32],
                before_queue=self._already_in_mailchimp,
            )
            results.append(result)
        if not results:
            logger.info(
                "mailchimp event for an unknown email", extra={"event": event, "who": pseudonym(email)}
            )
        return results

    def _known_under(self, email: str, *, bounced: bool = False) -> list[CustomerRecord]:
        """Customers whose web email is ``email`` or whom Mailchimp files under it (unless
        ``bounced``: a bounce is about the address the customer has now)."""
        wanted = normalize_email(email)
        candidates = list(self._customers.customers_with_email(email))
        filed_owner = self._state.customer_for_email(email)
        if filed_owner and filed_owner not in candidates:
            candidates.append(filed_owner)
        found = []
        for customer_id in candidates:
            record = self._customers.get(customer_id)
            if record is None:
                continue
            if normalize_email(record.email) == wanted or (
                not bounced and normalize_email(self._filed_email(record)) == wanted
            ):
                found.append(record)
        return found

    def _filed_email(self, record: CustomerRecord) -> str:
        """The address Mailchimp has this customer under (their web email until synced)."""
        return self._state.load(record.customer_id, MAILCHIMP).facts.get("email") or record.email

    def _already_in_mailchimp(self, saved: CustomerRecord) -> None:
        """A change that came from Mailchimp is there already: the sync must not echo it back
        (Mailchimp may refuse a status change on a cleaned address). A customer Mailchimp
        never got from us keeps its first full push, which never changes a subscription."""
        try:
            if self._state.load(saved.customer_id, MAILCHIMP).versions:
                self._state.mark_applied(saved.customer_id, MAILCHIMP, saved.version, ["consent_email"])
        except errors.BridgeError as exc:
            logger.warning("mailchimp echo not suppressed", extra={"code": exc.code})

    def _moved_in_mailchimp(self, old_email: str, new_email: str) -> str:
        if not old_email or not new_email:
            raise errors.InvalidInput(
                "The webhook needs data[old_email] and data[new_email].",
                errors=[{"field": "data[old_email]", "message": "required"}],
            )
        moved = 0
        for record in self._known_under(old_email):
            if normalize_email(self._filed_email(record)) != normalize_email(old_email):
                continue  # the web email matches, but Mailchimp files them under another address
            self._state.mark_applied(
                record.customer_id, MAILCHIMP, record.version, [], facts={"email": new_email}
            )
            self._state.remember_email(new_email, record.customer_id)
            moved += 1
        logger.info("mailchimp email change noted", extra={"customers": moved, "who": pseudonym(old_email)})
        return "applied" if moved else "ignored"

    # ------------------------------------------------------------------ save and queue

    def _queue_change(
        self,
        record: CustomerRecord,
        kind: str,
        before: Mapping[str, Any],
        changed: Mapping[str, Any],
        source: str,
    ) -> bool:
        """Queue the change saved as ``record``'s version (False: it waits in the error list)."""
        joined = record.status == LoyaltyStatus.JOINED and record.member_id
        member = {"member_id": record.member_id} if joined else {}
        envelope = Envelope(
            kind=kind,
            message_id=message_id_for(record.customer_id, record.version),
            customer_id=record.customer_id,
            version=record.version,
            payload=ProfileChange(
                before=SyncedFields(**before), after=SyncedFields(**changed), source=source, **member
            ).model_dump(mode="json", exclude_unset=True),
        )
        return queue_or_record(
            self._queue,
            self._incidents,
            envelope,
            attempted="queue a profile change for the loyalty platform, Mailchimp and SMS",
            before=dict(before),
            after=dict(changed),
        )

    def _queue_again(
        self, record: CustomerRecord, wanted: Mapping[str, Any], *, kind: str, source: str
    ) -> None:
        """A request that finds its values saved may be the retry of one whose answer was
        lost after the save (DynamoDB wrote, the reply timed out, the storefront sent it
        again): the change it saved may never have been queued, and nothing else would ever
        send it. When the record's last change is such a change (its version, this kind and
        source, no field beyond the request's), it is queued again under the same message
        id and version: SQS drops it as a duplicate when the first send got through, and the
        sync worker pushes a version to each target once. Its ``before`` is not known any
        more; the worker finds the filed email in the target's state. The answer stays
        ``unchanged``: the values were there already."""
        last = record.changes[-1] if record.changes else None
        if (
            last is None
            or last.version != record.version
            or (last.kind, last.source) != (kind, source)
            or not set(last.fields) <= set(wanted)
        ):
            return
        current = record_fields(record)
        if self._queue_change(record, kind, {}, {name: current[name] for name in last.fields}, source):
            logger.info(
                "profile change queued again",
                extra={"customer": pseudonym(record.customer_id), "kind": kind, "version": record.version},
            )

    def _change(
        self,
        customer_id: str,
        wanted: Mapping[str, Any],
        *,
        kind: str,
        source: str,
        pair_consents: bool = True,
        also: Mapping[str, Any] | None = None,
        before_queue: Callable[[CustomerRecord], None] | None = None,
    ) -> tuple[ChangeResult, CustomerRecord]:
        """Save the wanted values (and ``also``: record fields that are not synced) in one
        write and queue the synced part. ``pair_consents``: when a consent changes, both
        travel (the platform sets them as a pair)."""
        for _ in range(_MAX_UPDATE_TRIES):
            record = self._customers.get(customer_id)
            if record is None:
                raise errors.NotFound("No such customer.", code="customer_not_found")
            current = record_fields(record)
            changed = {name: value for name, value in wanted.items() if not _same(current[name], value)}
            extra = {name: value for name, value in (also or {}).items() if getattr(record, name) != value}
            if not changed and not extra:
                self._queue_again(record, wanted, kind=kind, source=source)
                return ChangeResult("unchanged", record.version), record
            if pair_consents and any(name in CONSENT_FIELDS for name in changed):
                changed |= {name: wanted[name] for name in CONSENT_FIELDS if name in wanted}
            before = {name: current[name] for name in changed}
            try:
                saved = self._customers.save(
                    _noted(_apply_to_record(record, changed), changed, kind=kind, source=source).model_copy(
                        update=extra
                    ),
                    expected_version=record.version,
                )
            except errors.Conflict:
                continue  # another request changed the customer: read again and re-apply
            break
        else:
            raise errors.Conflict(
                "The customer is being changed by other requests; try again.", code="version_conflict"
            )
        if not changed:
            return ChangeResult("unchanged", saved.version), saved

        if before_queue is not None:
            before_queue(saved)
        if not self._queue_change(saved, kind, before, changed, source):
            # The web change stands; the change waits in the error list until it is replayed.
            return ChangeResult("deferred", saved.version), saved
        logger.info(
            "profile change queued",
            extra={
                "customer": pseudonym(customer_id),
                "kind": kind,
                "version": saved.version,
                "fields": sorted(changed),
                "source": source,
            },
        )
        return ChangeResult("queued", saved.version), saved
