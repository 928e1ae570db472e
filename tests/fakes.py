"""In-memory fakes of the ports (ports.py) for unit tests. Shared: add your fake additively."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from loyalty_bridge.errors import Conflict, NotFound
from loyalty_bridge.models.checkout_records import (
    OrderLoyalty,
    OrderRecord,
    RedemptionRecord,
    RedemptionStatus,
    ReversalRecord,
)
from loyalty_bridge.models.domain import AudienceMember, OrderResult
from loyalty_bridge.models.records import CustomerRecord, ErrorRecord, ErrorStatus, SyncState, utcnow
from loyalty_bridge.privacy import normalize_email
from tests.fake_platform import FakeClock, InMemoryPlatform  # noqa: F401  (re-exported)


class InMemoryCustomers:
    """CustomerRepository with the same rules as adapters/customers.py (versions, A5 claims)."""

    def __init__(self) -> None:
        self.records: dict[str, CustomerRecord] = {}
        self.member_owner: dict[str, str] = {}  # member_id -> customer_id
        self.card_owner: dict[str, str] = {}  # card_number -> customer_id
        self.customer_member: dict[str, str] = {}  # customer_id -> member_id
        self.email_index: dict[str, set[str]] = {}  # privacy.normalize_email(email) -> customer ids

    def get(self, customer_id: str) -> CustomerRecord | None:
        record = self.records.get(customer_id)
        return record.model_copy(deep=True) if record else None

    def create(self, record: CustomerRecord) -> bool:
        if record.customer_id in self.records:
            return False
        self.records[record.customer_id] = record.model_copy(deep=True)
        self.email_index.setdefault(normalize_email(record.email), set()).add(record.customer_id)
        return True

    def save(self, record: CustomerRecord, *, expected_version: int) -> CustomerRecord:
        current = self.records.get(record.customer_id)
        if current is None or current.version != expected_version:
            raise Conflict("The customer was changed by another request; try again.", code="version_conflict")
        saved = record.model_copy(update={"version": expected_version + 1, "updated_at": utcnow()}, deep=True)
        self.records[record.customer_id] = saved
        old, new = normalize_email(current.email), normalize_email(saved.email)
        if old != new:
            self.email_index.get(old, set()).discard(record.customer_id)
            self.email_index.setdefault(new, set()).add(record.customer_id)
        return saved.model_copy(deep=True)

    def customers_with_email(self, email: str) -> list[str]:
        return sorted(self.email_index.get(normalize_email(email), set()))

    def relink_member(
        self, customer_id: str, *, from_member_id: str, from_card: str, to_member_id: str, to_card: str
    ) -> None:
        if (
            self.customer_member.get(customer_id) == to_member_id
            and self.member_owner.get(to_member_id) == customer_id
            and self.card_owner.get(to_card) == customer_id
        ):
            return
        if (
            self.member_owner.get(from_member_id, customer_id) != customer_id
            or self.card_owner.get(from_card, customer_id) != customer_id
            or self.member_owner.get(to_member_id, customer_id) != customer_id
            or self.card_owner.get(to_card, customer_id) != customer_id
            or self.customer_member.get(customer_id, from_member_id) != from_member_id
        ):
            raise Conflict(
                "This loyalty account is already linked to another web account.", code="already_linked"
            )
        self.member_owner.pop(from_member_id, None)
        self.card_owner.pop(from_card, None)
        self.member_owner[to_member_id] = customer_id
        self.card_owner[to_card] = customer_id
        self.customer_member[customer_id] = to_member_id

    def link_member(self, customer_id: str, member_id: str, card_number: str) -> None:
        if (
            self.member_owner.get(member_id, customer_id) != customer_id
            or self.card_owner.get(card_number, customer_id) != customer_id
            or self.customer_member.get(customer_id, member_id) != member_id
        ):
            raise Conflict(
                "This loyalty account is already linked to another web account.", code="already_linked"
            )
        self.member_owner[member_id] = customer_id
        self.card_owner[card_number] = customer_id
        self.customer_member[customer_id] = member_id

    def linked_customer(self, *, member_id: str | None = None, card_number: str | None = None) -> str | None:
        if member_id is not None:
            return self.member_owner.get(member_id)
        if card_number is not None:
            return self.card_owner.get(card_number)
        return None


class InMemoryErrorStore:
    """ErrorStore with the same rules as adapters/error_store.py (once per id, newest first,
    repeats counted and reopened, one notification claim per error)."""

    def __init__(self) -> None:
        self.records: dict[str, ErrorRecord] = {}

    def record(self, record: ErrorRecord) -> bool:
        current = self.records.get(record.error_id)
        if current is None:
            self.records[record.error_id] = record.model_copy(deep=True)
            return True
        update: dict[str, Any] = {
            "attempts": current.attempts + 1,
            "updated_at": utcnow(),
            "platform_answer": record.platform_answer,
        }
        if current.status != ErrorStatus.OPEN:
            update |= {"status": ErrorStatus.OPEN, "note": "failed again after a replay"}
        self.records[record.error_id] = current.model_copy(update=update)
        return False

    def get(self, error_id: str) -> ErrorRecord | None:
        record = self.records.get(error_id)
        return record.model_copy(deep=True) if record else None

    def list(
        self, *, category: str | None, status: str | None, limit: int, cursor: str | None
    ) -> tuple[list[ErrorRecord], str | None]:
        ordered = sorted(
            self.records.values(), key=lambda r: (r.created_at.isoformat(), r.error_id), reverse=True
        )
        chosen = [
            r
            for r in ordered
            if (not category or r.category == category) and (not status or r.status == status)
        ]
        start = int(cursor) if cursor else 0
        page = chosen[start : start + limit]
        more = start + limit < len(chosen)
        return [r.model_copy(deep=True) for r in page], (str(start + limit) if more else None)

    def set_status(self, error_id: str, status: str, *, note: str = "") -> ErrorRecord:
        current = self.records.get(error_id)
        if current is None:
            raise NotFound("No such error.", code="error_not_found")
        updated = current.model_copy(
            update={"status": ErrorStatus(status), "note": note, "updated_at": utcnow()}
        )
        self.records[error_id] = updated
        return updated.model_copy(deep=True)

    def claim_notification(self, error_id: str) -> bool:
        current = self.records.get(error_id)
        if current is None or current.notified_at is not None:
            return False
        self.records[error_id] = current.model_copy(update={"notified_at": utcnow()})
        return True

    def release_notification(self, error_id: str) -> None:
        current = self.records.get(error_id)
        if current is not None:
            self.records[error_id] = current.model_copy(update={"notified_at": None})


@dataclass
class SentMail:
    to: list[str]
    subject: str
    text: str
    html: str | None = None


class CapturingMailer:
    """Mailer that keeps every email; ``fail_with`` makes the next sends raise."""

    def __init__(self) -> None:
        self.sent: list[SentMail] = []
        self.fail_with: Exception | None = None

    def send(self, *, to: Sequence[str], subject: str, text: str, html: str | None = None) -> str:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(SentMail(list(to), subject, text, html))
        return f"mail-{len(self.sent)}"


@dataclass
class QueuedMessage:
    body: str
    group_id: str | None = None
    dedup_id: str | None = None
    delay_seconds: int = 0
    attributes: dict[str, Any] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


class InMemoryQueue:
    """MessageQueue that keeps what was sent, in order. ``fifo=True`` drops a dedup id seen
    before, as an SQS FIFO queue does within its deduplication window."""

    def __init__(self, *, fifo: bool = False) -> None:
        self.fifo = fifo
        self.messages: list[QueuedMessage] = []
        self.fail_with: Exception | None = None  # every send raises it while set
        self._dedup: set[str] = set()

    def send(
        self, body: str, *, group_id: str | None = None, dedup_id: str | None = None, delay_seconds: int = 0
    ) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        if self.fifo:
            if not group_id:
                raise ValueError("a FIFO queue needs a group_id")
            if dedup_id and dedup_id in self._dedup:
                return
            if dedup_id:
                self._dedup.add(dedup_id)
        self.messages.append(QueuedMessage(body, group_id, dedup_id, delay_seconds))

    def drain(self) -> list[QueuedMessage]:
        taken, self.messages = self.messages, []
        return taken


@dataclass
class SentSms:
    to: str
    text: str


class CapturingSms:
    """SmsSender that keeps every SMS; ``fail_with`` makes the next sends raise."""

    def __init__(self) -> None:
        self.sent: list[SentSms] = []
        self.fail_with: Exception | None = None

    def send(self, *, to: str, text: str) -> str:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(SentSms(to, text))
        return f"sms-{len(self.sent)}"


class InMemoryCheckoutStore:
    """CheckoutStore (ports.py) with the same once-only rules as adapters/checkout_store.py."""

    def __init__(self) -> None:
        self.orders: dict[str, OrderRecord] = {}
        self.redemptions: dict[str, RedemptionRecord] = {}
        self.carts: dict[tuple[str, str], str] = {}

    def get_order(self, order_id: str) -> OrderRecord | None:
        record = self.orders.get(order_id)
        return record.model_copy(deep=True) if record else None

    def create_order(self, record: OrderRecord) -> bool:
        if record.order_id in self.orders:
            return False
        self.orders[record.order_id] = record.model_copy(
            update={"credit": None, "failure": None, "reversals": []}
        )
        return True

    def record_credit(self, order_id: str, member_id: str, result: OrderResult) -> tuple[OrderResult, bool]:
        record = self.orders[order_id]
        if record.credit is not None:
            return record.credit, False
        self.orders[order_id] = record.model_copy(
            update={"credit": result, "member_id": member_id, "loyalty": OrderLoyalty.MEMBER, "failure": None}
        )
        return result, True

    def record_failure(self, order_id: str, answer: str) -> None:
        record = self.orders.get(order_id)
        if record is not None and record.credit is None:
            self.orders[order_id] = record.model_copy(update={"failure": answer})

    def set_order_loyalty(self, order_id: str, loyalty: str, member_id: str | None) -> None:
        record = self.orders[order_id]
        update: dict[str, Any] = {"loyalty": OrderLoyalty(loyalty)}
        if member_id:
            update["member_id"] = member_id
        self.orders[order_id] = record.model_copy(update=update)

    def record_reversal(self, order_id: str, reversal: ReversalRecord) -> tuple[ReversalRecord, bool]:
        record = self.orders[order_id]
        stored = record.reversal(reversal.reversal_id)
        if stored is not None:
            return stored, False
        self.orders[order_id] = record.model_copy(update={"reversals": [*record.reversals, reversal]})
        return reversal, True

    def get_redemption(self, redemption_id: str) -> RedemptionRecord | None:
        return self.redemptions.get(redemption_id)

    def put_redemption(self, record: RedemptionRecord) -> None:
        self.redemptions[record.redemption_id] = record

    def set_redemption_status(self, redemption_id: str, status: str, *, order_id: str | None = None) -> None:
        record = self.redemptions.get(redemption_id)
        if record is None:
            return
        update: dict[str, Any] = {"status": RedemptionStatus(status)}
        if order_id is not None:
            update["order_id"] = order_id
        self.redemptions[redemption_id] = record.model_copy(update=update)

    def swap_cart_redemption(self, customer_id: str, cart_id: str, redemption_id: str) -> str | None:
        previous = self.carts.get((customer_id, cart_id))
        self.carts[(customer_id, cart_id)] = redemption_id
        return previous if previous != redemption_id else None


class InMemorySyncState:
    """SyncStateStore with the rules of adapters/profile_sync_state.py (versions only go up)."""

    def __init__(self) -> None:
        self.states: dict[tuple[str, str], SyncState] = {}
        self.emails: dict[str, str] = {}

    def load(self, customer_id: str, target: str) -> SyncState:
        state = self.states.get((customer_id, target))
        return state.model_copy(deep=True) if state else SyncState(customer_id=customer_id, target=target)

    def mark_applied(
        self,
        customer_id: str,
        target: str,
        version: int,
        fields: Sequence[str],
        *,
        facts: dict[str, str] | None = None,
    ) -> None:
        state = self.load(customer_id, target)
        for name in fields:
            state.versions[name] = max(state.versions.get(name, -1), version)
        state.facts.update(facts or {})
        self.states[(customer_id, target)] = state

    def remember_email(self, email: str, customer_id: str) -> None:
        self.emails[normalize_email(email)] = customer_id

    def customer_for_email(self, email: str) -> str | None:
        return self.emails.get(normalize_email(email))


class RecordingMailingList:
    """MailingList that keeps the audience as Mailchimp would (by lowercased email) and every
    upsert; ``fail_next(exc)`` makes the next upserts raise."""

    def __init__(self) -> None:
        self.upserts: list[AudienceMember] = []
        self.members: dict[str, dict[str, Any]] = {}
        self._failures: list[BaseException] = []

    def fail_next(self, exc: BaseException, times: int = 1) -> None:
        self._failures.extend([exc] * times)

    def upsert_member(self, member: AudienceMember) -> None:
        if self._failures:
            raise self._failures.pop(0)
        self.upserts.append(member)
        key = (member.previous_email or member.email).strip().lower()
        current = self.members.pop(key, None) or self.members.pop(member.email.strip().lower(), None)
        if current is None:
            current = {"status": "subscribed" if member.subscribed_if_new else "unsubscribed", "merge": {}}
        if member.subscribed is not None:
            current["status"] = "subscribed" if member.subscribed else "unsubscribed"
        if member.first_name is not None:
            current["merge"]["FNAME"] = member.first_name
        if member.last_name is not None:
            current["merge"]["LNAME"] = member.last_name
        if member.loyalty_member is not None:
            current["merge"]["LOYALTY"] = "yes" if member.loyalty_member else "no"
        current["merge"].update(member.loyalty_data or {})
        current["email"] = member.email
        self.members[member.email.strip().lower()] = current

    def delete_permanently(self, email: str) -> bool:
        return self.members.pop(email.strip().lower(), None) is not None


class InMemorySmsOptOuts:
    def __init__(self) -> None:
        self.opted_out: dict[str, str] = {}  # phone -> customer id
        self._failures: list[BaseException] = []

    def fail_next(self, exc: BaseException, times: int = 1) -> None:
        self._failures.extend([exc] * times)

    def set_opted_out(self, phone: str, opted_out: bool, *, customer_id: str) -> None:
        if self._failures:
            raise self._failures.pop(0)
        if opted_out:
            self.opted_out[phone] = customer_id
        else:
            self.opted_out.pop(phone, None)

    def is_opted_out(self, phone: str) -> bool:
        return phone in self.opted_out


class InMemoryVerificationStore:
    """VerificationStore (ports.py) like adapters/verification.py: one challenge per customer
    and purpose, tries spent atomically, fixed-window attempt counters on ``clock``."""

    def __init__(self, clock: Any = None) -> None:
        from loyalty_bridge.models.records import utcnow as _utcnow

        self.clock = clock or _utcnow
        self.challenges: dict[tuple[str, str], Any] = {}
        self.counters: dict[tuple[str, int], int] = {}

    def put_challenge(self, challenge: Any) -> None:
        self.challenges[(challenge.customer_id, challenge.purpose.value)] = challenge

    def get_challenge(self, customer_id: str, purpose: Any) -> Any:
        return self.challenges.get((customer_id, purpose.value))

    def use_try(self, customer_id: str, purpose: Any) -> int | None:
        current = self.challenges.get((customer_id, purpose.value))
        if current is None or current.tries_left <= 0:
            return None
        left = int(current.tries_left) - 1
        self.challenges[(customer_id, purpose.value)] = current.model_copy(update={"tries_left": left})
        return left

    def delete_challenge(self, customer_id: str, purpose: Any) -> None:
        self.challenges.pop((customer_id, purpose.value), None)

    def count_attempt(self, key: str, *, window_seconds: int) -> Any:
        from loyalty_bridge.models.verification import AttemptCount

        now = int(self.clock().timestamp())
        start = now - now % window_seconds
        self.counters[(key, start)] = self.counters.get((key, start), 0) + 1
        count = self.counters[(key, start)]
        return AttemptCount(count=count, retry_after=max(start + window_seconds - now, 1))


class InMemoryBalanceSnapshots:
    """BalanceSnapshots (ports.py): last known balance per member."""

    def __init__(self) -> None:
        self.balances: dict[str, Any] = {}

    def get(self, member_id: str) -> Any:
        return self.balances.get(member_id)

    def put(self, balance: Any) -> None:
        self.balances[balance.member_id] = balance


class RecordingMetrics:
    """ports.Metrics for tests: every metric as ``(name, unit, value, dimensions)``.

    ``counts["Joins"]`` / ``total("Joins")``: how much a Count added up to;
    ``latencies``: the ``(name, milliseconds)`` recorded; ``of(name)``: every value of one
    metric, in order."""

    def __init__(self) -> None:
        self.values: list[tuple[str, str, float, dict[str, str]]] = []

    def count(self, name: str, value: float = 1) -> None:
        self.values.append((name, "Count", value, {}))

    def milliseconds(self, name: str, value: float) -> None:
        self.values.append((name, "Milliseconds", value, {}))

    def count_by(self, name: str, value: float = 1, **dimensions: str) -> None:
        self.values.append((name, "Count", value, dict(dimensions)))

    @property
    def counts(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for name, unit, value, _ in self.values:
            if unit == "Count":
                totals[name] = totals.get(name, 0) + value
        return totals

    @property
    def latencies(self) -> list[tuple[str, float]]:
        return [(name, value) for name, unit, value, _ in self.values if unit == "Milliseconds"]

    def total(self, name: str) -> float:
        return self.counts.get(name, 0)

    def of(self, name: str) -> list[float]:
        return [value for metric, _, value, _ in self.values if metric == name]


class InMemoryStoreRegistry:
    """StoreRegistry (ports.py): stores and staff users; ``lookups`` counts the reads the
    order path makes (one per checked operation at most)."""

    def __init__(self) -> None:
        self.stores: dict[str, Any] = {}
        self.staff: dict[str, Any] = {}
        self.lookups = 0

    def put_store(self, store: Any) -> None:
        self.stores[store.store_id] = store

    def put_staff(self, staff: Any) -> None:
        from loyalty_bridge.errors import UnknownStore

        if staff.store_id is not None and staff.store_id not in self.stores:
            raise UnknownStore("The staff member's store is not registered.")
        self.staff[staff.staff_id] = staff

    def _page(self, items: dict[str, Any], limit: int, cursor: str | None) -> tuple[list[Any], str | None]:
        keys = sorted(k for k in items if cursor is None or k > cursor)
        page = keys[:limit]
        return [items[k] for k in page], (page[-1] if len(keys) > limit else None)

    def list_stores(self, *, limit: int, cursor: str | None) -> tuple[list[Any], str | None]:
        return self._page(self.stores, limit, cursor)

    def list_staff(self, *, limit: int, cursor: str | None) -> tuple[list[Any], str | None]:
        return self._page(self.staff, limit, cursor)

    def lookup(self, store_id: str | None, staff_id: str | None) -> Any:
        from loyalty_bridge.models.stores import DirectoryLookup

        self.lookups += 1
        return DirectoryLookup(
            any_store=bool(self.stores),
            store=self.stores.get(store_id) if store_id is not None else None,
            staff=self.staff.get(staff_id) if staff_id is not None else None,
        )


class InMemoryProgramStore:
    """ProgramStore (ports.py): versions by number; ``add`` refuses a taken number or a gap
    as the DynamoDB adapter's conditions do. ``race`` stores one version behind the caller's
    back on the next ``add`` (another admin's PUT at the same moment)."""

    def __init__(self) -> None:
        self.stored: dict[int, Any] = {}
        self.race: Any = None

    def latest(self) -> Any:
        return self.stored[max(self.stored)] if self.stored else None

    def add(self, version: Any, *, seed: Any = None) -> None:
        from loyalty_bridge.errors import Conflict

        if self.race is not None:
            self.stored[self.race.version] = self.race
            self.race = None
        newest = max(self.stored, default=seed.version if seed is not None else 0)
        if version.version in self.stored or version.version != newest + 1:
            raise Conflict("version taken", code="program_version_conflict")
        if seed is not None:
            self.stored[seed.version] = seed
        self.stored[version.version] = version

    def versions(self, *, limit: int, cursor: str | None) -> tuple[list[Any], str | None]:
        numbers = sorted((n for n in self.stored if cursor is None or n < int(cursor)), reverse=True)
        page = numbers[:limit]
        return [self.stored[n] for n in page], (str(page[-1]) if len(numbers) > limit else None)


class FakeMembers:
    """MemberPresence (ports.py)."""

    def __init__(self, exist: bool = False) -> None:
        self.exist = exist

    def any_member(self) -> bool:
        return self.exist


class FixedProgramSource:
    """ProgramSource (ports.py): the program an admin "stored" last; ``reads`` counts calls."""

    def __init__(self, rules: Any, version: int = 1) -> None:
        self.version, self.rules, self.reads = version, rules, 0

    def current(self) -> tuple[int, Any]:
        self.reads += 1
        return self.version, self.rules
