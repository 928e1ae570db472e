"""What every membership flow shares: queue messages, record updates under optimistic
locking, linking a loyalty account to a web customer (A5), and the two incident kinds
(New Account / Attach Existing Account Registration Errors).

Use-case modules: signup.py (A1-A3), enrolment.py (the worker), attach.py (A4),
phone.py (A7, A8), summary.py (A6).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

from pydantic import ValidationError

from loyalty_bridge import errors
from loyalty_bridge.models.domain import Consents, LoyaltyStatus, Member, MemberProfile
from loyalty_bridge.models.messages import Envelope
from loyalty_bridge.models.records import CustomerRecord, ErrorCategory, ErrorRecord
from loyalty_bridge.observability import logger
from loyalty_bridge.ports import (
    CustomerRepository,
    IncidentSink,
    LoyaltyPlatform,
    MessageQueue,
)
from loyalty_bridge.privacy import error_id_for, mask_card, mask_email, pseudonym
from loyalty_bridge.services.balances import BalanceRecorder
from loyalty_bridge.services.sync_queue import PLATFORM, PROFILE_FIELDS

if TYPE_CHECKING:
    from loyalty_bridge.services.new_changes import SyncStateItems

KIND_CREATE = "membership.create"
KIND_ATTACH = "membership.attach"
KINDS = (KIND_CREATE, KIND_ATTACH)

# Reasons a customer is not joined (summary ``reason``; stable codes, no personal data).
REASON_NOT_REQUESTED = "not_requested"
REASON_UNAVAILABLE = "platform_unavailable"
REASON_ALREADY_LINKED = "already_linked"
REASON_ATTACH_REFUSED = "attach_refused"
REASON_ATTACH_EXPIRED = "attach_expired"

_SAVE_ATTEMPTS = 5


def profile_of(record: CustomerRecord, *, mobile: str | None = None) -> MemberProfile:
    return MemberProfile(
        email=record.email,
        first_name=record.first_name,
        last_name=record.last_name,
        mobile=mobile or record.mobile,
        birthday=record.birthday,
        address=record.address,
    )


def create_request(record: CustomerRecord, consents: Consents | None = None) -> dict[str, Any]:
    """The body of the account creation a membership.create message asks for, frozen when the
    message is made: every delivery of it sends exactly this under the same idempotency key
    (a changed profile would make the platform refuse the key). While an earlier create is
    unsettled (``record.pending_create``) it is that create's body, for the same reason.
    Later changes reach the platform with the full push queued when the customer joins."""
    if record.pending_create:
        return {"profile": record.pending_create["profile"], "consents": record.pending_create["consents"]}
    return {
        "profile": profile_of(record).model_dump(mode="json"),
        "consents": (consents or record.consents).model_dump(mode="json"),
    }


def pending_create(
    key: str, profile: MemberProfile | dict[str, Any], consents: Consents | dict[str, Any]
) -> dict[str, Any]:
    """What ``CustomerRecord.pending_create`` holds: a create whose outcome is not known yet."""
    return {
        "key": key,
        "profile": profile.model_dump(mode="json") if isinstance(profile, MemberProfile) else profile,
        "consents": consents.model_dump(mode="json") if isinstance(consents, Consents) else consents,
    }


def unsettled_create(record: CustomerRecord) -> tuple[MemberProfile, Consents, str] | None:
    """The create a later attempt must repeat (body and key), if one is unsettled."""
    stored = record.pending_create
    if not stored:
        return None
    try:
        return (
            MemberProfile.model_validate(stored["profile"]),
            Consents.model_validate(stored["consents"]),
            str(stored["key"]),
        )
    except (KeyError, TypeError, ValidationError):
        logger.warning("unreadable pending create ignored", extra={"customer": pseudonym(record.customer_id)})
        return None


def settled_by_refusal(exc: errors.BridgeError) -> dict[str, Any]:
    """The record update that goes with a refused create: a refusal made no account (the
    platform remembers successes only), so the next attempt sends the customer's current
    details; except a refused key (``idempotency_key_reused``), which says nothing about
    the create that key first carried, so that create stays unsettled."""
    return {} if exc.code == "idempotency_key_reused" else {"pending_create": None}


def requested_create(message: Envelope) -> tuple[MemberProfile, Consents] | None:
    """The creation body frozen in ``message`` (None for messages made before it was)."""
    profile, consents = message.payload.get("profile"), message.payload.get("consents")
    if not isinstance(profile, dict) or not isinstance(consents, dict):
        return None
    try:
        return MemberProfile.model_validate(profile), Consents.model_validate(consents)
    except ValidationError as exc:
        raise errors.Permanent("membership message with an invalid profile") from exc


def not_joined_reason(exc: errors.BridgeError) -> str:
    if isinstance(exc, errors.DuplicateMember):
        return f"duplicate_{exc.field}"
    if isinstance(exc, errors.Retryable):
        return REASON_UNAVAILABLE
    return exc.code


def envelope(kind: str, record: CustomerRecord, payload: dict[str, Any] | None = None) -> Envelope:
    """A membership message. ``message_id`` is deterministic per customer and record version:
    a repeated request re-sends the same id (the worker is idempotent), a new join attempt
    gets a new one (and so its own incident, if refused again)."""
    return Envelope(
        kind=kind,
        message_id=f"{kind}:{record.customer_id}:{record.version}",
        customer_id=record.customer_id,
        version=record.version,
        payload=payload or {},
    )


def send(queue: MessageQueue, message: Envelope) -> None:
    queue.send(message.model_dump_json(), dedup_id=message.message_id, group_id=message.customer_id)


@runtime_checkable
class LinksWithSave(Protocol):
    """A customer store that writes the A5 claims and the joined record in one transaction
    (the DynamoDB one: issue 19, one call fewer per join)."""

    def link_and_save(
        self,
        member_id: str,
        card_number: str,
        record: CustomerRecord,
        *,
        expected_version: int,
        also: Sequence[Any] = (),
    ) -> CustomerRecord: ...


def created_fields(record: CustomerRecord, created: tuple[MemberProfile, Consents]) -> list[str]:
    """The platform's sync-state fields (profile fields and ``consents``) whose values an
    account created with ``created`` (its profile and consents) has as ``record`` has them."""
    profile, consents = created
    mine = profile_of(record)
    same = [name for name in PROFILE_FIELDS if getattr(mine, name) == getattr(profile, name)]
    return [*same, "consents"] if record.consents == consents else same


class RecordUpdater:
    """Read-modify-write of a CustomerRecord, retried when another writer got there first."""

    def __init__(self, customers: CustomerRepository) -> None:
        self.customers = customers

    def load(self, customer_id: str) -> CustomerRecord:
        record = self.customers.get(customer_id)
        if record is None:
            raise errors.NotFound("No customer with this id.", code="customer_not_found")
        return record

    def update(
        self,
        customer_id: str,
        change: Callable[[CustomerRecord], CustomerRecord | None],
        *,
        known: CustomerRecord | None = None,
        save: Callable[[CustomerRecord, int], CustomerRecord] | None = None,
    ) -> CustomerRecord:
        """Apply ``change`` to the current record and save it; ``change`` returns None to
        leave the record as it is. ``known``: the record as the caller just read it, tried
        first (saved under its version, so a record changed since is read again). ``save``:
        how (record, expected version) is saved, when not ``customers.save``."""
        for _ in range(_SAVE_ATTEMPTS):
            current, known = known or self.load(customer_id), None
            changed = change(current)
            if changed is None:
                return current
            try:
                if save is not None:
                    return save(changed, current.version)
                return self.customers.save(changed, expected_version=current.version)
            except errors.Conflict as exc:
                if exc.code == "already_linked":
                    raise  # A5: not another writer, another web account (link_and_save)
                continue
        raise errors.Retryable("The customer is being changed by other requests; try again.")


@dataclass
class Incidents:
    """Builds and reports the two membership incident categories."""

    sink: IncidentSink

    def new_account(
        self, record: CustomerRecord, message: Envelope, answer: str, *, action: str = ""
    ) -> bool:
        how = (
            "after a replay"
            if message.replay_of
            else ("on join" if message.payload.get("join") else "at signup")
        )
        incident = ErrorRecord(
            error_id=error_id_for(ErrorCategory.NEW_ACCOUNT, message.message_id),
            category=ErrorCategory.NEW_ACCOUNT,
            customer_id=record.customer_id,
            subject_id=mask_email(record.email),
            attempted=f"Create a loyalty account for {mask_email(record.email)} ({how})",
            platform_answer=answer,
            action=action,
            replay={"queue": "membership", "body": message.model_dump(mode="json")},
        )
        return self.sink.report(incident)

    def attach(
        self,
        record: CustomerRecord,
        card_number: str,
        answer: str,
        *,
        action: str = "",
        message: Envelope | None = None,
        via: str = "email code",
    ) -> bool:
        replay: dict[str, Any] = {}
        if message is not None:
            replay = {"queue": "membership", "body": message.model_dump(mode="json")}
        incident = ErrorRecord(
            error_id=error_id_for(ErrorCategory.ATTACH_ACCOUNT, record.customer_id, pseudonym(card_number)),
            category=ErrorCategory.ATTACH_ACCOUNT,
            customer_id=record.customer_id,
            subject_id=f"card {mask_card(card_number)}",
            attempted=f"Attach card {mask_card(card_number)} to {mask_email(record.email)} ({via})",
            platform_answer=answer,
            action=action,
            replay=replay,
        )
        return self.sink.report(incident)


class Linker:
    """Links a loyalty account to a customer (A5) and marks the customer joined."""

    def __init__(
        self,
        updater: RecordUpdater,
        platform: LoyaltyPlatform,
        balances: BalanceRecorder | None = None,
        on_joined: Callable[[CustomerRecord], None] | None = None,
        sync_state: SyncStateItems | None = None,
    ) -> None:
        self.updater = updater
        self.platform = platform
        # REST platforms: the login summary's balance, read when an account is linked
        # (join, attach, phone confirm, merge) (services/balances.py).
        self.balances = balances
        # Tells the marketing side (P4: Mailchimp's loyalty flag) that the customer joined.
        self.on_joined = on_joined
        # The platform's sync state of an account just made, written with the join.
        self.sync_state = sync_state

    def link(
        self,
        customer_id: str,
        member: Member,
        *,
        known: CustomerRecord | None = None,
        created: tuple[MemberProfile, Consents] | None = None,
        **changes: Any,
    ) -> CustomerRecord:
        """Claim ``member`` for ``customer_id`` (errors.Conflict when it belongs to another
        web account, or the customer already has another) and save status joined.
        ``known``: the customer's record as the caller read it (RecordUpdater.update).
        ``created``: the profile and consents the account was just made with. The join then
        marks, in its own transaction, the platform's sync state of every field the account
        has as the joined record has it, at the joined record's version: the full push the
        join queues sends the platform only what changed while the account was being made,
        not the profile it was made with again."""
        customers = self.updater.customers
        together = isinstance(customers, LinksWithSave)
        if not together:
            customers.link_member(customer_id, member.member_id, member.card.number)

        def joined(current: CustomerRecord) -> CustomerRecord:
            return current.model_copy(
                update={
                    "status": LoyaltyStatus.JOINED,
                    "status_reason": None,
                    "member_id": member.member_id,
                    "card_number": member.card.number,
                    "card_kind": member.card.kind.value,
                    "verifying_until": None,
                    "pending_create": None,
                    **changes,
                }
            )

        def link_and_save(record: CustomerRecord, expected: int) -> CustomerRecord:
            linking = cast("LinksWithSave", customers)
            also: list[Any] = []
            if created is not None and self.sync_state is not None:
                fields = created_fields(record, created)
                also = self.sync_state.applied_items(customer_id, PLATFORM, expected + 1, fields)
            return linking.link_and_save(
                member.member_id, member.card.number, record, expected_version=expected, also=also
            )

        saved = self.updater.update(
            customer_id, joined, known=known, save=link_and_save if together else None
        )
        self.balance_moved(member.member_id)
        self.announce(saved)
        return saved

    def relink(self, current: CustomerRecord, member: Member) -> CustomerRecord:
        """A8: the customer's primary card is now ``member`` (another account than the one
        linked): move the A5 claims in one step, then point the record at it. Safe to repeat
        (a retried request finishes a relink that stopped half way)."""
        if not current.member_id or not current.card_number:
            return self.link(current.customer_id, member)
        if current.member_id != member.member_id:
            self.updater.customers.relink_member(
                current.customer_id,
                from_member_id=current.member_id,
                from_card=current.card_number,
                to_member_id=member.member_id,
                to_card=member.card.number,
            )

        def primary(record: CustomerRecord) -> CustomerRecord:
            return record.model_copy(
                update={
                    "status": LoyaltyStatus.JOINED,
                    "status_reason": None,
                    "member_id": member.member_id,
                    "card_number": member.card.number,
                    "card_kind": member.card.kind.value,
                    "verifying_until": None,
                    "pending_create": None,
                }
            )

        saved = self.updater.update(current.customer_id, primary)
        self.balance_moved(member.member_id)
        # The new account gets the customer's details and consents (a full push).
        self.announce(saved)
        return saved

    def announce(self, saved: CustomerRecord) -> None:
        """Queue the full push of a joined customer (P4 flag, and the changes made while
        the account was being created). Called again when a join is seen a second time (a
        redelivered message after a lost reply or a failed announce): repeats are harmless."""
        if self.on_joined is None:
            return
        try:
            self.on_joined(saved)
        except errors.BridgeError as exc:
            # The join stands; the flag follows with the customer's next synced change.
            logger.warning("join not announced to marketing sync", extra={"code": exc.code})

    def balance_moved(self, member_id: str) -> None:
        """The customer now has this account's points: the summary shows them at once.
        The full push ``announce`` queues carries the loyalty data (P6), so the move itself
        queues no refresh when there is one (issue 19: the join's second sync message)."""
        if self.balances is not None:
            self.balances.moved(member_id, announce=self.on_joined is None)
