"""Profile and consent sync (P1-P5).

Two halves:

- ``ProfileUpdates`` (API and webhook side): the web change always stands. It is saved on
  the CustomerRecord (bumping its version) and one change message (before/after, the
  record version) goes on the FIFO ProfileSyncQueue, grouped by customer so the changes of
  one customer are applied in the order they were made.
- ``ProfileSync`` (worker side): applies a change to each target - the loyalty platform
  (joined customers only), Mailchimp and the SMS opt-out list. Per target and field it
  keeps the record version already applied (BridgeTable): an older or repeated change is
  skipped, so the last write wins and nothing is applied twice. The first time a target
  is touched for a customer, the whole current record is pushed (so nothing made before -
  e.g. while the loyalty account was being created - is missed).

Failures: retryable ones (timeouts, 5xx, throttling) go back to the queue; a refusal, or
the last allowed attempt, becomes an **Account Update Error** with before/after values,
emailed once, listable and replayable (replays go through the same queue and order).
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from loyalty_bridge import errors
from loyalty_bridge.models.api_profile import MailchimpWebhook
from loyalty_bridge.models.domain import (
    AudienceMember,
    Consents,
    LoyaltyStatus,
    ProfileChanges,
)
from loyalty_bridge.models.messages import (
    CONSENTS_UPDATE,
    PROFILE_SNAPSHOT,
    PROFILE_SYNC_KINDS,
    PROFILE_UPDATE,
    Envelope,
    ProfileChange,
    SyncedFields,
)
from loyalty_bridge.models.records import CustomerRecord, ErrorCategory, ErrorRecord
from loyalty_bridge.observability import MetricName, logger
from loyalty_bridge.ports import (
    CustomerRepository,
    IncidentSink,
    LoyaltyPlatform,
    MailingList,
    MessageQueue,
    Metrics,
    SmsOptOutList,
    SyncStateStore,
)
from loyalty_bridge.privacy import error_id_for, masked_text, normalize_email, pseudonym
from loyalty_bridge.services.queue_policy import FailurePolicy, Verdict

QUEUE_NAME = "profile_sync"

PLATFORM = "platform"
MAILCHIMP = "mailchimp"
SMS = "sms"
TARGETS = (PLATFORM, MAILCHIMP, SMS)

PROFILE_FIELDS = ("email", "first_name", "last_name", "mobile", "birthday", "address")
CONSENT_FIELDS = ("consent_email", "consent_sms")
ALL_FIELDS = PROFILE_FIELDS + CONSENT_FIELDS
# Fields each target keeps versions for. "consents" is the platform's pair (one call sets
# both); "loyalty" is Mailchimp's P4 flag.
PLATFORM_KEYS = (*PROFILE_FIELDS, "consents")
MAILCHIMP_KEYS = ("email", "first_name", "last_name", "consent_email", "loyalty")
SMS_KEYS = ("mobile", "consent_sms")

_TARGET_WORDS = {PLATFORM: "the loyalty platform", MAILCHIMP: "Mailchimp", SMS: "the SMS opt-out list"}
_MAX_UPDATE_TRIES = 5


# ---------------------------------------------------------------------------- messages


def message_id_for(customer_id: str, version: int, prefix: str = "v") -> str:
    """One id per record version (the dedup id on the FIFO queue, and the error id key)."""
    key = customer_id if len(customer_id) <= 80 else hashlib.sha256(customer_id.encode()).hexdigest()[:32]
    return f"{prefix}{version}:{key}"


def snapshot_message(customer_id: str, *, reason: str, version: int | None = None) -> Envelope:
    """A message that makes the worker push the customer's whole current record to every
    target: send it when a customer joins (P4 flag), after signup, or to resync."""
    suffix = str(version) if version is not None else uuid.uuid4().hex[:12]
    reason = re.sub(r"[^a-z0-9_-]", "", reason.lower())[:24] or "resync"
    return Envelope(
        kind=PROFILE_SNAPSHOT,
        message_id=message_id_for(customer_id, 0, prefix=f"s:{reason}:{suffix}:")[:128],
        customer_id=customer_id,
        version=version,
        payload=ProfileChange(source="membership", reason=reason).model_dump(mode="json"),
    )


def send_to_sync_queue(queue: MessageQueue, envelope: Envelope) -> None:
    """FIFO: group = customer (order per customer), dedup = message id."""
    queue.send(
        envelope.model_dump_json(),
        group_id=envelope.customer_id or envelope.message_id,
        dedup_id=hashlib.sha256(envelope.message_id.encode()).hexdigest()
        if not envelope.replay_of
        else hashlib.sha256(f"{envelope.message_id}|{envelope.sent_at.isoformat()}".encode()).hexdigest(),
    )


def queue_or_record(
    queue: MessageQueue,
    incidents: IncidentSink | None,
    envelope: Envelope,
    *,
    attempted: str,
    action: str = "Nothing to fix by hand: replay this error to send the change now.",
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    attempts: int = 3,
    pause: float = 0.1,
) -> bool:
    """Send ``envelope`` to the sync queue; a queue failure that retrying can fix is retried
    here, and if the queue still fails (or refuses, e.g. a missing permission) the message
    is recorded as an Account Update Error whose replay sends it (the admins are mailed), so
    a change saved on the customer never waits on nothing. Repeats are harmless (FIFO dedup
    id, and the worker skips what a target already has). True when queued."""
    failure: errors.BridgeError | None = None
    for attempt in range(max(1, attempts)):
        try:
            send_to_sync_queue(queue, envelope)
            return True
        except errors.BridgeError as exc:
            failure = exc
            if not errors.is_retryable(exc):
                break
            if attempt + 1 < attempts:
                time.sleep(pause * 2**attempt)
    assert failure is not None
    logger.error(
        "sync message not queued",
        extra={
            "customer": pseudonym(envelope.customer_id),
            "message_id": envelope.message_id,
            "code": failure.code,
            "recorded": incidents is not None,
        },
    )
    if incidents is None:
        return False
    record = ErrorRecord(
        error_id=error_id_for(ErrorCategory.ACCOUNT_UPDATE, envelope.message_id, "queue"),
        category=ErrorCategory.ACCOUNT_UPDATE,
        customer_id=envelope.customer_id,
        subject_id=f"change {envelope.message_id}",
        attempted=attempted,
        platform_answer=f"{failure.code}: the sync queue was unavailable",
        action=action,
        change_before=_jsonable(before),
        change_after=_jsonable(after),
        replay={"queue": QUEUE_NAME, "body": envelope.model_dump(mode="json")},
    )
    try:
        incidents.report(record)
    except errors.BridgeError as exc:  # stored, but the mail failed: the record is listable
        logger.error("sync message failure not fully reported", extra={"code": exc.code})
    return False


def announce_join(queue: MessageQueue, incidents: IncidentSink | None, record: CustomerRecord) -> bool:
    """Queue the full push of a customer who joined (or whose join is seen again). Changes
    made while the loyalty account was being created reached no platform (there was no
    member yet): this snapshot carries them there, so it is never just dropped."""
    return queue_or_record(
        queue,
        incidents,
        snapshot_message(record.customer_id, reason="joined", version=record.version),
        attempted="queue the push of the customer's details and consents after they joined",
        action=(
            "Nothing to fix by hand: replay this error to send the customer's current details, "
            "including changes made while the loyalty account was being created."
        ),
    )


def record_fields(record: CustomerRecord) -> dict[str, Any]:
    """The synced fields of a customer record, by SyncedFields name."""
    return {
        "email": record.email,
        "first_name": record.first_name,
        "last_name": record.last_name,
        "mobile": record.mobile,
        "birthday": record.birthday,
        "address": record.address,
        "consent_email": record.consents.email,
        "consent_sms": record.consents.sms,
    }


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


# ---------------------------------------------------------------------------- API side


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
                return ChangeResult("unchanged", record.version), record
            if pair_consents and any(name in CONSENT_FIELDS for name in changed):
                changed |= {name: wanted[name] for name in CONSENT_FIELDS if name in wanted}
            before = {name: current[name] for name in changed}
            try:
                saved = self._customers.save(
                    _apply_to_record(record, changed).model_copy(update=extra),
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

        envelope = Envelope(
            kind=kind,
            message_id=message_id_for(customer_id, saved.version),
            customer_id=customer_id,
            version=saved.version,
            payload=ProfileChange(
                before=SyncedFields(**before), after=SyncedFields(**changed), source=source
            ).model_dump(mode="json", exclude_unset=True),
        )
        if before_queue is not None:
            before_queue(saved)
        if not queue_or_record(
            self._queue,
            self._incidents,
            envelope,
            attempted="queue a profile change for the loyalty platform, Mailchimp and SMS",
            before=before,
            after=changed,
        ):
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


# ---------------------------------------------------------------------------- worker side


@dataclass
class SyncOutcome:
    applied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # recorded as incidents
    retry: list[str] = field(default_factory=list)  # will be retried (message goes back)


@dataclass(frozen=True)
class _Change:
    envelope: Envelope
    record: CustomerRecord
    version: int
    values: dict[str, Any]  # SyncedFields name -> value the change sets
    before: dict[str, Any]
    snapshot: bool

    def whole_record(self) -> _Change:
        """The whole current record instead of the change (a target's first contact). The
        change's ``before`` stays: it says where the person was filed until now."""
        return _Change(
            envelope=self.envelope,
            record=self.record,
            version=self.record.version,
            values=record_fields(self.record),
            before=self.before,
            snapshot=True,
        )


class InvalidChange(errors.Permanent):
    code = "invalid_change_message"


class ProfileSync:
    """Applies change messages to the platform, Mailchimp and the SMS opt-out list."""

    def __init__(
        self,
        customers: CustomerRepository,
        platform: LoyaltyPlatform,
        state: SyncStateStore,
        incidents: IncidentSink,
        *,
        metrics: Metrics,
        mailing_list: MailingList | None = None,
        sms_optouts: SmsOptOutList | None = None,
        policy: FailurePolicy | None = None,
        targets: Callable[[], tuple[str, ...]] | None = None,
    ) -> None:
        self._customers = customers
        self._platform = platform
        self._state = state
        self._incidents = incidents
        self._metrics = metrics
        self._mailing_list = mailing_list
        self._sms = sms_optouts
        self._policy = policy or FailurePolicy()
        self._targets = targets

    # ------------------------------------------------------------------ entry point

    def handle(self, envelope: Envelope, *, receive_count: int = 1) -> SyncOutcome:
        """Apply one change. Raises errors.Retryable when a target should be tried again
        (the queue redelivers the message, in order); permanent failures are recorded."""
        outcome = SyncOutcome()
        try:
            change = self._read(envelope)
        except InvalidChange as exc:
            self._record(envelope, "all", exc, before=None, after=None)
            outcome.failed.append("all")
            self._replay_failed(envelope, outcome)
            return outcome

        pending: errors.BridgeError | None = None
        for target in self._targets() if self._targets else TARGETS:
            try:
                applied = self._apply(target, change)
            except Exception as exc:
                if self._policy.decide(exc, receive_count) is Verdict.RETRY:
                    logger.warning(
                        "sync target failed, will retry",
                        extra={
                            "target": target,
                            "error_type": type(exc).__name__,
                            "receive_count": receive_count,
                            "message_id": envelope.message_id,
                        },
                    )
                    outcome.retry.append(target)
                    pending = pending or errors.Retryable(f"{target} sync will be retried")
                    continue
                self._record(
                    envelope,
                    target,
                    exc,
                    before=change.before,
                    after=change.values,
                    receive_count=receive_count,
                )
                self._metrics.count_by(MetricName.SYNC_FAILED, target=target)
                outcome.failed.append(target)
                continue
            if applied:
                self._metrics.count_by(MetricName.SYNC_SUCCEEDED, target=target)
                outcome.applied.append(target)
            else:
                outcome.skipped.append(target)

        logger.info(
            "profile change processed",
            extra={
                "customer": pseudonym(envelope.customer_id),
                "message_id": envelope.message_id,
                "version": change.version,
                "applied": outcome.applied,
                "skipped": outcome.skipped,
                "failed": outcome.failed,
                "retry": outcome.retry,
            },
        )
        if pending is not None:
            raise pending
        if outcome.failed:
            self._replay_failed(envelope, outcome)
        elif envelope.replay_of:
            self._incidents.resolve(envelope.replay_of, note="replayed successfully")
        return outcome

    # ------------------------------------------------------------------ reading

    def _read(self, envelope: Envelope) -> _Change:
        if envelope.kind not in PROFILE_SYNC_KINDS:
            raise InvalidChange(f"unknown message kind {envelope.kind!r}")
        if not envelope.customer_id:
            raise InvalidChange("the message names no customer")
        try:
            payload = ProfileChange.model_validate(envelope.payload)
        except ValidationError as exc:
            raise InvalidChange(f"the change payload is invalid ({exc.error_count()} errors)") from None
        record = self._customers.get(envelope.customer_id)
        if record is None:
            raise InvalidChange("the customer does not exist (any more)")
        if envelope.kind == PROFILE_SNAPSHOT:
            return _Change(envelope, record, record.version, record_fields(record), {}, snapshot=True)
        if envelope.version is None:
            raise InvalidChange("the change carries no record version")
        values = {name: getattr(payload.after, name) for name in payload.after.model_fields_set}
        before = {name: getattr(payload.before, name) for name in payload.before.model_fields_set}
        return _Change(envelope, record, envelope.version, values, before, snapshot=False)

    # ------------------------------------------------------------------ targets

    def _apply(self, target: str, change: _Change) -> bool:
        if target == PLATFORM:
            return self._apply_platform(change)
        if target == MAILCHIMP:
            return self._apply_mailchimp(change)
        if target == SMS:
            return self._apply_sms(change)
        raise ValueError(f"unknown target {target}")

    def _idempotency_key(self, change: _Change, part: str) -> str:
        envelope = change.envelope
        key = f"psync:{envelope.message_id}:{change.version}:{part}"
        if envelope.replay_of:
            key += f":replay:{envelope.sent_at.isoformat()}"
        return key

    def _apply_platform(self, change: _Change) -> bool:
        record = change.record
        if record.status != LoyaltyStatus.JOINED or not record.member_id:
            return False  # pushed whole when they join (first contact below)
        state = self._state.load(record.customer_id, PLATFORM)
        if not state.versions:
            change = change.whole_record()
        profile = {
            name: change.values[name]
            for name in PROFILE_FIELDS
            if name in change.values and change.values[name] is not None and state.fresh(name, change.version)
        }
        touches_consents = any(name in change.values for name in CONSENT_FIELDS)
        consents_fresh = touches_consents and state.fresh("consents", change.version)
        if not profile and not consents_fresh:
            return False
        if profile:
            self._platform.update_profile(
                record.member_id,
                ProfileChanges(**profile),
                idempotency_key=self._idempotency_key(change, "profile"),
            )
            self._state.mark_applied(record.customer_id, PLATFORM, change.version, list(profile))
        if consents_fresh:
            consents = Consents(
                email=change.values.get("consent_email", record.consents.email),
                sms=change.values.get("consent_sms", record.consents.sms),
            )
            self._platform.set_consents(
                record.member_id, consents, idempotency_key=self._idempotency_key(change, "consents")
            )
            self._state.mark_applied(record.customer_id, PLATFORM, change.version, ["consents"])
        return True

    def _apply_mailchimp(self, change: _Change) -> bool:
        if self._mailing_list is None:
            return False
        record = change.record
        state = self._state.load(record.customer_id, MAILCHIMP)
        first_contact = not state.versions
        if first_contact:
            change = change.whole_record()
        loyalty = record.status == LoyaltyStatus.JOINED or state.facts.get("loyalty") == "yes"
        values = dict(change.values)
        if change.snapshot:
            values["loyalty"] = loyalty
        fresh = [name for name in MAILCHIMP_KEYS if name in values and state.fresh(name, change.version)]
        if not fresh:
            return False
        known_email = state.facts.get("email") or change.before.get("email") or record.email
        if "email" in fresh and values.get("email"):
            email, previous = str(values["email"]), str(known_email)
        else:
            email, previous = str(state.facts.get("email") or record.email), None
        explicit_consent = "consent_email" in fresh and not change.snapshot
        member = AudienceMember(
            email=email,
            previous_email=previous if previous and previous.lower() != email.lower() else None,
            first_name=values["first_name"] if "first_name" in fresh else None,
            last_name=values["last_name"] if "last_name" in fresh else None,
            # A snapshot never changes an existing subscription: only a choice the customer
            # made (a consents change) does. New members get the customer's current choice.
            subscribed=bool(values["consent_email"]) if explicit_consent else None,
            subscribed_if_new=bool(values.get("consent_email", record.consents.email)),
            loyalty_member=loyalty,
        )
        self._mailing_list.upsert_member(member)
        self._state.mark_applied(
            record.customer_id,
            MAILCHIMP,
            change.version,
            fresh,
            facts={"email": email, "loyalty": "yes" if loyalty else "no"},
        )
        self._state.remember_email(email, record.customer_id)
        return True

    def _apply_sms(self, change: _Change) -> bool:
        if self._sms is None:
            return False
        record = change.record
        state = self._state.load(record.customer_id, SMS)
        if not state.versions:
            change = change.whole_record()
        fresh = [name for name in SMS_KEYS if name in change.values and state.fresh(name, change.version)]
        if not fresh:
            return False
        if "mobile" in fresh and change.values.get("mobile"):
            phone = str(change.values["mobile"])
        else:
            phone = state.facts.get("mobile") or record.mobile or ""
        consent = change.values.get("consent_sms", record.consents.sms)
        if "consent_sms" not in fresh:
            consent = record.consents.sms
        if phone:
            self._sms.set_opted_out(phone, not consent, customer_id=record.customer_id)
        self._state.mark_applied(
            record.customer_id, SMS, change.version, fresh, facts={"mobile": phone} if phone else None
        )
        return True

    # ------------------------------------------------------------------ failures

    def _record(
        self,
        envelope: Envelope,
        target: str,
        exc: BaseException,
        *,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
        receive_count: int = 1,
    ) -> None:
        code = getattr(exc, "code", type(exc).__name__)
        detail = getattr(exc, "detail", "") or type(exc).__name__
        answer = f"{code}: {masked_text(str(detail))}"
        if errors.is_retryable(exc):
            answer = f"still failing after {receive_count} attempts - {answer}"
        words = _TARGET_WORDS.get(target, "the loyalty platform, Mailchimp and SMS")
        what = {
            PROFILE_UPDATE: "apply a profile change",
            CONSENTS_UPDATE: "apply an opt-in/opt-out change",
            PROFILE_SNAPSHOT: "push the customer's details",
        }.get(envelope.kind, f"process a {envelope.kind!r} message")
        original = envelope.model_copy(update={"replay_of": None})
        record = ErrorRecord(
            error_id=error_id_for(ErrorCategory.ACCOUNT_UPDATE, envelope.message_id, target),
            category=ErrorCategory.ACCOUNT_UPDATE,
            customer_id=envelope.customer_id,
            subject_id=f"change {envelope.message_id} (record version {envelope.version}) for {target}",
            attempted=f"{what} to {words}",
            platform_answer=answer,
            action=_action_for(target, exc),
            change_before=_jsonable(before),
            change_after=_jsonable(after),
            replay={
                "queue": QUEUE_NAME,
                "body": original.model_dump(mode="json"),
            },
        )
        self._incidents.report(record)

    def give_up(self, envelope: Envelope, exc: BaseException, *, receive_count: int = 1) -> None:
        """A failure outside the targets (reading the customer or the sync state) that the
        policy will not retry: recorded for all targets (the replay sends the change again)."""
        self._record(envelope, "all", exc, before=None, after=None, receive_count=receive_count)
        self._replay_failed(envelope, SyncOutcome(failed=["all"]))

    def _replay_failed(self, envelope: Envelope, outcome: SyncOutcome) -> None:
        if envelope.replay_of:
            self._incidents.replay_failed(
                envelope.replay_of, note=f"replay failed for {', '.join(outcome.failed) or 'a target'}"
            )


def _jsonable(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    known = {name: value for name, value in values.items() if name in SyncedFields.model_fields}
    return SyncedFields(**known).model_dump(mode="json", exclude_unset=True)


def _action_for(target: str, exc: BaseException) -> str:
    if errors.is_retryable(exc):
        return (
            f"{_TARGET_WORDS.get(target, 'The target')} kept failing technically. Check that it is up, "
            "then replay this error."
        )
    if target == MAILCHIMP:
        return (
            "Mailchimp refused the change (for example an address that unsubscribed or was deleted "
            "there can only re-subscribe through a Mailchimp signup form). Fix it in Mailchimp if "
            "appropriate, then replay this error, or leave it."
        )
    if target == PLATFORM:
        return (
            "The loyalty platform refused the change (for example an email or mobile already used by "
            "another loyalty account). Fix the conflicting account on the platform, then replay this "
            "error to apply the change."
        )
    return "Check the change below, fix what is wrong, then replay this error."
