"""Profile sync worker side (P1-P5): applies the change messages of the FIFO ProfileSyncQueue.

``ProfileSync`` applies a change to each target - the loyalty platform (joined customers
only), Mailchimp and the SMS opt-out list. Per target and field it keeps the record version
already applied (BridgeTable): an older or repeated change is skipped, so the last write
wins and nothing is applied twice. The first time a target is touched for a customer, the
whole current record is pushed (so nothing made before - e.g. while the loyalty account was
being created - is missed). The messages come from ``services/profile_updates.py`` (web and
Mailchimp changes) and ``services/sync_queue.py`` (snapshots after signup or a join).

Failures (``services/queue_policy.FailurePolicy``): retryable ones (timeouts, 5xx,
throttling) go back to the queue; a refusal, or the last allowed attempt, becomes an
**Account Update Error** with before/after values, emailed once, listable and replayable
(replays go through the same queue and order).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

from pydantic import BaseModel, ValidationError

from loyalty_bridge import errors
from loyalty_bridge.models.domain import AudienceMember, Consents, LoyaltyStatus, ProfileChanges
from loyalty_bridge.models.messages import (
    CONSENTS_UPDATE,
    LOYALTY_DATA,
    PROFILE_SNAPSHOT,
    PROFILE_SYNC_KINDS,
    PROFILE_UPDATE,
    Envelope,
    ProfileChange,
)
from loyalty_bridge.models.records import CustomerRecord, ErrorCategory, ErrorRecord, SyncState
from loyalty_bridge.observability import MetricName, logger
from loyalty_bridge.ports import (
    CustomerRepository,
    IncidentSink,
    LoyaltyPlatform,
    MailingList,
    Metrics,
    SmsOptOutList,
    SyncStateStore,
)
from loyalty_bridge.privacy import error_id_for, masked_text, pseudonym
from loyalty_bridge.services import new_changes
from loyalty_bridge.services.loyalty_reach import as_facts
from loyalty_bridge.services.queue_policy import FailurePolicy, Verdict
from loyalty_bridge.services.sync_queue import (
    CONSENT_FIELDS,
    MAILCHIMP,
    PLATFORM,
    PROFILE_FIELDS,
    QUEUE_NAME,
    SMS,
    TARGETS,
    jsonable_fields,
    record_fields,
    snapshot_targets,
)

if TYPE_CHECKING:
    from loyalty_bridge.services.loyalty_reach import LoyaltyReach

# Fields each target keeps versions for. "consents" is the platform's pair (one call sets
# both); "loyalty" is Mailchimp's P4 flag.
PLATFORM_KEYS = (*PROFILE_FIELDS, "consents")
MAILCHIMP_KEYS = ("email", "first_name", "last_name", "consent_email", "loyalty")
SMS_KEYS = ("mobile", "consent_sms")

_TARGET_WORDS = {PLATFORM: "the loyalty platform", MAILCHIMP: "Mailchimp", SMS: "the SMS opt-out list"}


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
    states: dict[str, SyncState] = field(default_factory=dict)  # read once per change
    # The platform's own reads for the member named by the message, read with the record
    # (new_changes.ReadsForProfile): (that member, the items), used if the record names it.
    ahead: tuple[str, list[Any]] | None = None

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
            states=self.states,
            ahead=self.ahead,
        )

    def read_ahead(self) -> list[Any] | None:
        """The platform's items read with the record, when they are the record's member's."""
        if self.ahead is None or self.ahead[0] != self.record.member_id:
            return None
        return self.ahead[1]


@runtime_checkable
class LoadsAllTargets(Protocol):
    """A sync-state store that reads every target's state of a customer in one call."""

    def load_targets(self, customer_id: str, targets: list[str]) -> dict[str, SyncState]: ...


@runtime_checkable
class LoadsRecordWithStates(Protocol):
    """A sync-state store kept beside the customer records (one partition per customer)
    that reads the record and every target's state in one call."""

    def load_record_and_targets(
        self, customer_id: str, targets: list[str]
    ) -> tuple[CustomerRecord | None, dict[str, SyncState]]: ...


@runtime_checkable
class LoadsRecordWithStatesAnd(Protocol):
    """``LoadsRecordWithStates`` with other items (another table's) in the same call."""

    def load_record_and_targets_with(
        self, customer_id: str, targets: list[str], also: list[dict[str, Any]]
    ) -> tuple[CustomerRecord | None, dict[str, SyncState], list[Any]]: ...


class InvalidChange(errors.Permanent):
    code = "invalid_change_message"


class CustomerGone(InvalidChange):
    """The customer was erased (D2) after the change was queued: nothing to sync, and
    nothing of theirs is recorded again."""


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
        reach: LoyaltyReach | None = None,
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
        self._reach = reach  # P6: loyalty data in Mailchimp merge fields (services/loyalty_reach.py)
        # The targets this worker has: Mailchimp and the SMS list only when configured.
        configured = [PLATFORM, *((MAILCHIMP,) if mailing_list else ()), *((SMS,) if sms_optouts else ())]
        self._configured = frozenset(configured)
        # Whether the platform's reads for a profile update can ride with the record's
        # (the built-in ledger beside the DynamoDB sync state): decided once, not per message.
        self._reads_ahead = (
            isinstance(platform, new_changes.ReadsForProfile)
            and isinstance(platform, new_changes.RecordsSyncState)
            and isinstance(state, LoadsRecordWithStatesAnd)
        )

    # ------------------------------------------------------------------ entry point

    def handle(self, envelope: Envelope, *, receive_count: int = 1) -> SyncOutcome:
        """Apply one change. Raises errors.Retryable when a target should be tried again
        (the queue redelivers the message, in order); permanent failures are recorded."""
        if envelope.kind == LOYALTY_DATA:
            return self._loyalty_data(envelope, receive_count)
        outcome = SyncOutcome()
        every = self._targets() if self._targets else TARGETS
        try:
            payload = self._payload(envelope)
            targets = snapshot_targets(envelope, every, self._configured, payload)
            outcome.skipped.extend(target for target in every if target not in targets)
            if not targets:  # nothing this worker has is for it: nothing to read
                return outcome
            change = self._read(envelope, payload, list(targets))
        except CustomerGone:
            logger.info("change for an erased customer skipped", extra={"message_id": envelope.message_id})
            outcome.skipped.append("all")
            return outcome
        except InvalidChange as exc:
            self._record(envelope, "all", exc, before=None, after=None)
            outcome.failed.append("all")
            self._replay_failed(envelope, outcome)
            return outcome

        pending: errors.BridgeError | None = None
        if not change.states:
            self._read_states(change, list(targets))
        for target in targets:
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

    def _loyalty_data(self, envelope: Envelope, receive_count: int) -> SyncOutcome:
        """P6: the member's points moved: Mailchimp's loyalty merge fields follow (coalesced)."""
        outcome = SyncOutcome()
        if self._reach is None or self._mailing_list is None or not envelope.customer_id:
            outcome.skipped.append(MAILCHIMP)
            return outcome
        record, states = self._load(envelope.customer_id, [MAILCHIMP])  # one read where it can
        if record is None:
            outcome.skipped.append(MAILCHIMP)
            return outcome
        try:
            # The last delivery writes whatever the minute says: never lose the change.
            last = self._policy.delivery(receive_count).last
            applied = self._reach.apply(record, state=states.get(MAILCHIMP), wait=not last)
        except Exception as exc:
            if self._policy.decide(exc, receive_count) is Verdict.RETRY:
                raise errors.Retryable("loyalty data will be written later") from exc
            self._record(envelope, MAILCHIMP, exc, before=None, after=None, receive_count=receive_count)
            self._metrics.count_by(MetricName.SYNC_FAILED, target=MAILCHIMP)
            outcome.failed.append(MAILCHIMP)
            self._replay_failed(envelope, outcome)
            return outcome
        (outcome.applied if applied else outcome.skipped).append(MAILCHIMP)
        if applied:
            self._metrics.count_by(MetricName.SYNC_SUCCEEDED, target=MAILCHIMP)
        if envelope.replay_of and applied:
            self._incidents.resolve(envelope.replay_of, note="replayed successfully")
        return outcome

    # ------------------------------------------------------------------ reading

    @staticmethod
    def _payload(envelope: Envelope) -> ProfileChange:
        """The change the message carries, read once (its targets and the change itself)."""
        if envelope.kind not in PROFILE_SYNC_KINDS:
            raise InvalidChange(f"unknown message kind {envelope.kind!r}")
        if not envelope.customer_id:
            raise InvalidChange("the message names no customer")
        try:
            return ProfileChange.model_validate(envelope.payload)
        except ValidationError as exc:
            raise InvalidChange(f"the change payload is invalid ({exc.error_count()} errors)") from None

    def _read(self, envelope: Envelope, payload: ProfileChange, targets: list[str]) -> _Change:
        """The change and the record it is for (``envelope`` checked by ``_payload``)."""
        member = payload.member_id if envelope.kind == PROFILE_UPDATE and PLATFORM in targets else None
        record, states, ahead = self._load_for(str(envelope.customer_id), targets, member)
        if record is None:
            raise CustomerGone("the customer does not exist (any more)")
        if envelope.kind == PROFILE_SNAPSHOT:
            return _Change(envelope, record, record.version, record_fields(record), {}, True, states)
        if envelope.version is None:
            raise InvalidChange("the change carries no record version")
        values = {name: getattr(payload.after, name) for name in payload.after.model_fields_set}
        before = {name: getattr(payload.before, name) for name in payload.before.model_fields_set}
        return _Change(envelope, record, envelope.version, values, before, False, states, ahead)

    def _load_for(
        self, customer_id: str, targets: list[str], member: str | None
    ) -> tuple[CustomerRecord | None, dict[str, SyncState], tuple[str, list[Any]] | None]:
        """``_load``, with what the platform reads to update ``member``'s profile in the same
        call where both stores can (the built-in ledger beside the sync state: one
        BatchGetItem, not a Query and the ledger's own read)."""
        if member and self._reads_ahead:
            also = cast("new_changes.ReadsForProfile", self._platform).profile_reads(member)
            state = cast("LoadsRecordWithStatesAnd", self._state)
            record, states, read = state.load_record_and_targets_with(customer_id, targets, also)
            return record, states, (member, read)
        record, states = self._load(customer_id, targets)
        return record, states, None

    def _load(
        self, customer_id: str, targets: list[str]
    ) -> tuple[CustomerRecord | None, dict[str, SyncState]]:
        """The customer's record, with the targets' states when the store reads both in one
        call (the DynamoDB store: one Query of the customer's partition, not a GetItem and
        a Query); else the states are read after (``_read_states``)."""
        if isinstance(self._state, LoadsRecordWithStates):
            return self._state.load_record_and_targets(customer_id, targets)
        return self._customers.get(customer_id), {}

    # ------------------------------------------------------------------ targets

    def _apply(self, target: str, change: _Change) -> bool:
        if target == PLATFORM:
            return self._apply_platform(change)
        if target == MAILCHIMP:
            return self._apply_mailchimp(change)
        if target == SMS:
            return self._apply_sms(change)
        raise ValueError(f"unknown target {target}")

    def _idempotency_key(self, change: _Change, part: str, body: BaseModel) -> str:
        """One key per message, record version, part and body sent. The body is part of it:
        a redelivery can find fewer fields fresh than the first delivery did (another change
        applied some meanwhile, the first delivery's reply lost), and another body under the
        same key is refused by the platform as a reused key (the 10,000-operation soak met
        it). The same body again is the same key, so the platform replays its answer."""
        envelope = change.envelope
        digest = hashlib.sha256(body.model_dump_json().encode()).hexdigest()[:16]
        key = f"psync:{envelope.message_id}:{change.version}:{part}:{digest}"
        if envelope.replay_of:
            key += f":replay:{envelope.sent_at.isoformat()}"
        return key

    def _read_states(self, change: _Change, targets: list[str]) -> None:
        """Every target's state in one read, when the store can (else each target reads
        its own, as it does when this read fails: under the failure policy)."""
        if not isinstance(self._state, LoadsAllTargets):
            return
        try:
            change.states.update(self._state.load_targets(change.record.customer_id, targets))
        except Exception:
            logger.warning("sync state read failed", extra={"message_id": change.envelope.message_id})

    def _state_of(self, change: _Change, target: str) -> SyncState:
        known = change.states.get(target)
        return known if known is not None else self._state.load(change.record.customer_id, target)

    def _apply_platform(self, change: _Change) -> bool:
        record = change.record
        if record.status != LoyaltyStatus.JOINED or not record.member_id:
            return False  # pushed whole when they join (first contact below)
        state = self._state_of(change, PLATFORM)
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
        applied: list[str] = []
        written = False  # the sync state, in the platform's last write (new_changes.RecordsSyncState)
        if profile:
            changes = ProfileChanges(**profile)
            key = self._idempotency_key(change, "profile", changes)
            items = self._state_items(change, [*profile], last=not consents_fresh)
            read = change.read_ahead()
            if items is None and read is None:
                self._platform.update_profile(record.member_id, changes, idempotency_key=key)
            else:
                platform = cast("new_changes.RecordsSyncState", self._platform)
                written = platform.update_profile_recorded(
                    record.member_id, changes, idempotency_key=key, record=items or [], read=read
                )[1]
            applied = list(profile)
        if consents_fresh:
            consents = Consents(
                email=change.values.get("consent_email", record.consents.email),
                sms=change.values.get("consent_sms", record.consents.sms),
            )
            key = self._idempotency_key(change, "consents", consents)
            items = self._state_items(change, [*applied, "consents"], last=True)
            try:
                if items is None:
                    self._platform.set_consents(record.member_id, consents, idempotency_key=key)
                else:
                    platform = cast("new_changes.RecordsSyncState", self._platform)
                    written = platform.set_consents_recorded(
                        record.member_id, consents, idempotency_key=key, record=items
                    )
            except Exception:
                if applied:  # what reached the platform is marked; the consents are retried
                    self._state.mark_applied(record.customer_id, PLATFORM, change.version, applied)
                raise
            applied.append("consents")
        if not written:
            # One write for what this change applied (profile fields and consents together).
            self._state.mark_applied(record.customer_id, PLATFORM, change.version, applied)
        return True

    def _state_items(self, change: _Change, fields: list[str], *, last: bool) -> list[Any] | None:
        """The sync state's items for the platform's last write of this change, when the
        platform writes them with it; None: the write goes as usual."""
        if not last or not (
            isinstance(self._platform, new_changes.RecordsSyncState)
            and isinstance(self._state, new_changes.SyncStateItems)
        ):
            return None
        return self._state.applied_items(change.record.customer_id, PLATFORM, change.version, fields)

    def _apply_mailchimp(self, change: _Change) -> bool:
        if self._mailing_list is None:
            return False
        record = change.record
        state = self._state_of(change, MAILCHIMP)
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
        facts = {"email": email, "loyalty": "yes" if loyalty else "no"}
        data = self._reach.values(record) if self._reach is not None and change.snapshot else None
        if data is not None:  # P6: a member's first push carries the loyalty data too
            member = member.model_copy(update={"loyalty_data": data})
            facts |= as_facts(data)
        self._mailing_list.upsert_member(member)
        self._state.mark_applied(record.customer_id, MAILCHIMP, change.version, fresh, facts=facts)
        self._state.remember_email(email, record.customer_id)
        return True

    def _apply_sms(self, change: _Change) -> bool:
        if self._sms is None:
            return False
        record = change.record
        state = self._state_of(change, SMS)
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
        if not phone:
            # No phone was ever known: nothing of this customer is on the opt-out list, and
            # nothing to remember (issue 19: no state write). The first change that brings
            # a phone finds no state and sends the whole record then.
            return False
        self._sms.set_opted_out(phone, not consent, customer_id=record.customer_id)
        self._state.mark_applied(record.customer_id, SMS, change.version, fresh, facts={"mobile": phone})
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
            change_before=jsonable_fields(before),
            change_after=jsonable_fields(after),
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
