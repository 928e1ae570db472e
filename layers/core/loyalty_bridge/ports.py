"""Ports: what services need from the outside world, as Protocols.

Adapters (adapters/) implement them over DynamoDB, SQS, SES, SNS, httpx; unit tests use
in-memory fakes (tests/fakes.py). Services depend only on these.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

# Only for annotations (postponed): a port costs no model imports at a function's cold start.
if TYPE_CHECKING:
    from loyalty_bridge.models.activity import ActivityPage, Adjustment, AdjustmentResult, StatsReport
    from loyalty_bridge.models.card_stock import CardImportResult
    from loyalty_bridge.models.checkout_records import OrderRecord, RedemptionRecord, ReversalRecord
    from loyalty_bridge.models.data_rights import AttemptWindow, ErasureRecord, VerificationAttempt
    from loyalty_bridge.models.domain import (
        AudienceMember,
        Balance,
        Basket,
        Consents,
        Coupon,
        Hold,
        Member,
        MemberProfile,
        OrderResult,
        PlatformOrder,
        ProfileChanges,
        Quote,
        Reversal,
        ReversalResult,
        Reward,
    )
    from loyalty_bridge.models.loyalty_profile import LoyaltyProfile
    from loyalty_bridge.models.member_import import LineOutcome, MemberLine
    from loyalty_bridge.models.program import ProgramVersion
    from loyalty_bridge.models.records import CustomerRecord, ErrorRecord, SyncState
    from loyalty_bridge.models.stores import DirectoryLookup, StaffMember, Store
    from loyalty_bridge.models.verification import AttemptCount, Challenge, Purpose
    from loyalty_bridge.program.earn_rules import ProgramRules


class LoyaltyPlatform(Protocol):
    """The loyalty platform. Implemented by the built-in DynamoDB ledger and the REST adapter.

    Every write takes a business ``idempotency_key`` (order, refund, redemption, request id):
    repeating a call with the same key changes nothing and answers like the first time.
    Errors: loyalty_bridge.errors PlatformRefused subclasses (permanent) and
    PlatformUnavailable (retryable).
    """

    def create_member(
        self,
        profile: MemberProfile,
        consents: Consents,
        *,
        idempotency_key: str,
        referral_code: str | None = None,
    ) -> Member:
        """``referral_code`` (R5): the code of the member who referred this person; an
        unknown code is ignored (joining never fails because of it)."""
        ...

    def get_member(self, member_id: str) -> Member: ...

    def find_members(
        self, *, card_number: str | None = None, email: str | None = None, mobile: str | None = None
    ) -> list[Member]: ...

    def attach_card(self, card_number: str, profile: MemberProfile, *, idempotency_key: str) -> Member:
        """Attach an existing card to a person (A4 ownership rule: the card account's email
        must match; an unregistered physical card takes ``profile``). CardNotAttachable
        otherwise, whatever the reason."""
        ...

    def merge_cards(self, primary_card: str, cards: Sequence[str], *, idempotency_key: str) -> Member:
        """A8: block ``cards`` and move their points to ``primary_card`` in one atomic step."""
        ...

    def get_balance(self, member_id: str) -> Balance: ...

    def update_profile(self, member_id: str, changes: ProfileChanges, *, idempotency_key: str) -> Member: ...

    def set_consents(self, member_id: str, consents: Consents, *, idempotency_key: str) -> None: ...

    def quote(self, member_id: str | None, basket: Basket, *, redeem_points: int = 0) -> Quote: ...

    def hold_points(
        self,
        member_id: str,
        redemption_id: str,
        points: int,
        *,
        order_total: Any,
        expires_at: datetime,
        currency: str | None = None,
    ) -> Hold:
        """Hold ``points`` against an order of ``order_total`` in ``currency`` (R10; None: the
        program's); the discount is answered in that currency."""
        ...

    def release_hold(self, member_id: str, redemption_id: str) -> None: ...

    def post_order(self, member_id: str, order: PlatformOrder) -> OrderResult:
        """Credit the order's points (R1 rules) and capture its hold; keyed by order_id.
        The answered ``balance`` is what ``get_balance`` reads right after (as is every
        write's effect on holds, pending points and tier: the login summary keeps that read)."""
        ...

    def reverse(self, member_id: str, reversal: Reversal) -> ReversalResult:
        """Refund or cancel; the answered ``balance`` is what ``get_balance`` reads right after."""
        ...

    # ---- rewards (R4)

    def rewards(self) -> list[Reward]:
        """The program's reward catalogue, cheapest first."""
        ...

    def redeem_reward(self, member_id: str, reward_id: str, *, idempotency_key: str) -> Coupon:
        """Spend the reward's points (oldest first) and issue a coupon, atomically.
        RewardNotFound, InsufficientPoints, ProfileIncomplete (A9) otherwise."""
        ...

    def coupons(self, member_id: str) -> list[Coupon]:
        """The member's coupons, newest first (unused ones stay available)."""
        ...

    # ---- card stock (seed 000) and the profile read (seed 002, A9)

    def import_cards(self, batch_id: str, numbers: Sequence[str]) -> CardImportResult:
        """Add each number as an unregistered physical card (A4: the first customer to
        attach it gives it their details). Idempotent by number: one known already (from
        this or any batch, or a card in use) is counted ``already_known`` and left as it is;
        numbers that fail program.card_stock.screen are answered ``invalid``."""
        ...

    def import_members(self, import_id: str, lines: Sequence[tuple[int, MemberLine]]) -> list[LineOutcome]:
        """Seed 002: each (line number, screened line) becomes an unlinked member with its
        card and one opening entry keyed by the card (program/member_import.py): answered
        ``created``, ``already_there`` (opened by another import), or ``refused``
        (``card_in_use``, ``email_in_use``). Within one ``import_id`` a line again answers
        as the first time. A platform without member import raises PlatformRefused
        ``not_supported_by_platform``."""
        ...

    def member_profile(self, member_id: str) -> LoyaltyProfile:
        """What the account holds about the person and the required fields (A9) it lacks.
        MemberNotFound when there is no such member."""
        ...

    # ---- adjustments (R7), history (R8), daily statistics (R6)

    def adjust(self, member_id: str, adjustment: Adjustment) -> AdjustmentResult:
        """Staff credit (+) or debit (-) points, once per ``adjustment.adjustment_id`` (a
        replay answers the first result). A credit expires like earned points; a debit takes
        available points only, never held ones, never below zero (InsufficientPoints)."""
        ...

    def activity(self, member_id: str, *, limit: int = 20, cursor: str | None = None) -> ActivityPage:
        """The member's movements of points, newest first, ``limit`` a page; ``cursor`` is a
        page's ``next_cursor`` (InvalidInput ``invalid_cursor`` otherwise). A platform that
        keeps no history answers ``available=False``."""
        ...

    def stats(self, store_id: str | None, start: date, end: date) -> StatsReport:
        """Per UTC day from ``start`` to ``end`` (at most MAX_STATS_DAYS; InvalidInput
        ``invalid_range``): orders and points earned, redeemed, reversed, adjusted, new
        members; of one store with ``store_id``. ``available=False`` where the platform
        counts none."""

    # ---- card lifecycle (A10; rules: program/card_lifecycle.py)

    def block_card(self, card_number: str, *, reason: str, idempotency_key: str) -> Member:
        """Block a member's card (lost or stolen): from now on orders, redeeming quotes,
        holds and rewards of its member are refused with CardBlocked. Blocking a blocked
        card changes nothing. CardNotFound when no member's card has this number."""
        ...

    def replace_card(self, card_number: str, new_card_number: str, *, idempotency_key: str) -> Member:
        """Give the member of ``card_number`` the unregistered stock card ``new_card_number``
        in one atomic step: the member (balance, point lots and their expiry, tier spend,
        history) stays, its card changes, the old card is blocked and a ``replaced`` entry
        is written. A repeat to the same new number answers the same member;
        CardNotReplaceable (card_in_use, card_already_replaced, card_merged), CardNotInStock,
        CardNotFound or InvalidInput (invalid_card_number) otherwise."""
        ...

    # ---- erasure (D2, GDPR Art. 17; rules: program/erasure.py)

    def erase_member(self, member_id: str, *, idempotency_key: str) -> None:
        """Remove every personal field of the member (email, names, mobile, birthday,
        address, consents) and free its email for a new member; its balance, entries, lots,
        holds, order ids and card stay under the member id. Erasing an erased or unknown
        member changes nothing. NotSupportedByPlatform-like PlatformRefused where the
        platform offers no erasure (the admin is told what to erase by hand)."""
        ...


class CustomerRepository(Protocol):
    """The bridge's own record of each web customer and their loyalty link."""

    def get(self, customer_id: str) -> CustomerRecord | None: ...

    def create(self, record: CustomerRecord) -> bool:
        """Store a new customer; False if one with that id exists already."""
        ...

    def save(self, record: CustomerRecord, *, expected_version: int) -> CustomerRecord:
        """Optimistic update: Conflict if the stored version is not ``expected_version``."""
        ...

    def link_member(self, customer_id: str, member_id: str, card_number: str) -> None:
        """A5: claim member and card for this customer; Conflict if another holds them."""
        ...

    def linked_customer(self, *, member_id: str | None = None, card_number: str | None = None) -> str | None:
        """A5: the web customer that holds this loyalty account (or card), if any."""
        ...

    def relink_member(
        self,
        customer_id: str,
        *,
        from_member_id: str,
        from_card: str,
        to_member_id: str,
        to_card: str,
    ) -> None:
        """A8: move the customer's link to another loyalty account in one step (after a
        merge); Conflict if another web account holds the new one. Repeating is a no-op.
        A10: with ``to_member_id == from_member_id`` only the card claim moves (a replace)."""
        ...

    def customers_with_email(self, email: str) -> list[str]:
        """The web customers whose current email is ``email`` (trimmed, case-insensitive;
        several web accounts may share one). Kept in the same write as the record."""
        ...


class MessageQueue(Protocol):
    def send(
        self, body: str, *, group_id: str | None = None, dedup_id: str | None = None, delay_seconds: int = 0
    ) -> None: ...


class Mailer(Protocol):
    def send(self, *, to: Sequence[str], subject: str, text: str, html: str | None = None) -> str:
        """Send one email; returns the provider's message id."""
        ...


class SmsSender(Protocol):
    def send(self, *, to: str, text: str) -> str: ...


class ErrorStore(Protocol):
    """Failures that need a human (PRODUCT.md, four categories), listable and replayable."""

    def record(self, record: ErrorRecord) -> bool:
        """Store once per ``record.error_id``; False when it was already recorded (so the
        caller does not email again)."""
        ...

    def get(self, error_id: str) -> ErrorRecord | None: ...

    def list(
        self, *, category: str | None, status: str | None, limit: int, cursor: str | None
    ) -> tuple[list[ErrorRecord], str | None]: ...

    def set_status(self, error_id: str, status: str, *, note: str = "") -> ErrorRecord: ...

    def claim_notification(self, error_id: str) -> bool:
        """Mark the admins as being emailed about ``error_id``; False if that was done
        already (two deliveries of one failure never send two emails)."""
        ...

    def release_notification(self, error_id: str) -> None:
        """The email could not be sent: let the next report of this failure try again."""
        ...


# ---------------------------------------------------------------- membership flows (A4, A6, A7)


class VerificationStore(Protocol):
    """One-time-code challenges and attempt counters (BridgeTable; in-memory in tests)."""

    def put_challenge(self, challenge: Challenge) -> None:
        """Store (replace) the customer's challenge for ``challenge.purpose``."""
        ...

    def get_challenge(self, customer_id: str, purpose: Purpose) -> Challenge | None: ...

    def use_try(self, customer_id: str, purpose: Purpose) -> int | None:
        """Atomically spend one try; the tries left after it, or None when there was no
        challenge or no try left (so parallel guesses cannot exceed the limit)."""
        ...

    def delete_challenge(self, customer_id: str, purpose: Purpose) -> None: ...

    def count_attempt(self, key: str, *, window_seconds: int) -> AttemptCount:
        """Count one attempt against ``key`` in the current fixed window."""
        ...


class BalanceSource(Protocol):
    """Where the login summary (A6) reads points from without calling a remote platform."""

    def get_balance(self, member_id: str) -> Balance: ...


class BalanceSnapshots(Protocol):
    """Last known balance per member, kept in BridgeTable for platforms we must not call
    on the login path (REST adapter). Written by services/balances.BalanceRecorder, which
    every change of points goes through (and by the summary's first read of a member)."""

    def get(self, member_id: str) -> Balance | None: ...

    def put(self, balance: Balance) -> None: ...


class IncidentSink(Protocol):
    """Failures that need a human (services.incidents.IncidentReporter), as every service
    sees them: ``report`` stores one once per error id and tells the admins once."""

    def report(self, record: ErrorRecord) -> bool: ...

    def resolve(self, error_id: str | None, *, note: str = ...) -> bool:
        """A replayed failure went through (``Envelope.replay_of``)."""
        ...

    def replay_failed(self, error_id: str | None, *, note: str = ...) -> bool:
        """A replay did not go through: the error is open again."""
        ...


class Metrics(Protocol):
    """Business metrics, names from observability.MetricName only (the dashboard charts
    each). observability.PowertoolsMetrics emits them as EMF; tests pass a recorder."""

    def count(self, name: str, value: float = 1) -> None: ...

    def milliseconds(self, name: str, value: float) -> None: ...

    def count_by(self, name: str, value: float = 1, **dimensions: str) -> None:
        """One Count with its own dimensions (e.g. ``target="mailchimp"``), kept off the
        other metrics of the invocation."""
        ...


class CheckoutStore(Protocol):
    """The bridge's record of orders and redemption holds (checkout, C2-C6)."""

    def get_order(self, order_id: str) -> OrderRecord | None:
        """The order with its reversals, or None."""
        ...

    def create_order(self, record: OrderRecord) -> bool:
        """Store a new order; False if one with that id exists already."""
        ...

    def record_credit(self, order_id: str, member_id: str, result: OrderResult) -> tuple[OrderResult, bool]:
        """Set the order's credit (and the member credited) once; answers the credit stored
        first and whether this call stored it."""
        ...

    def record_failure(self, order_id: str, answer: str) -> None:
        """Keep the platform's refusal on an order not credited yet."""
        ...

    def set_order_loyalty(self, order_id: str, loyalty: str, member_id: str | None) -> None:
        """A pending order learnt whose it is (the customer joined, or never will)."""
        ...

    def record_reversal(self, order_id: str, reversal: ReversalRecord) -> tuple[ReversalRecord, bool]:
        """Store a refund or cancellation once per reversal id; answers the one stored first
        and whether this call stored it."""
        ...

    def get_redemption(self, redemption_id: str) -> RedemptionRecord | None: ...

    def put_redemption(self, record: RedemptionRecord) -> None: ...

    def set_redemption_status(
        self, redemption_id: str, status: str, *, order_id: str | None = None
    ) -> None: ...

    def swap_cart_redemption(self, customer_id: str, cart_id: str, redemption_id: str) -> str | None:
        """Make ``redemption_id`` the cart's hold; answers the cart's previous hold, if any."""
        ...


# ---------------------------------------------------------------- profile sync (P1-P5)


class MailingList(Protocol):
    """The marketing audience (Mailchimp). Errors: errors.Refused subclasses (permanent, e.g.
    a forgotten or compliance-state email) and errors.Retryable (throttled, 5xx, timeouts)."""

    def upsert_member(self, member: AudienceMember) -> None: ...

    def delete_permanently(self, email: str) -> bool:
        """D2: delete the member and its history for good (Mailchimp then refuses to re-add
        the address through the API). False when the address was not a member."""
        ...


class SmsOptOutList(Protocol):
    """Phone numbers that must not get marketing SMS (P3)."""

    def set_opted_out(self, phone: str, opted_out: bool, *, customer_id: str) -> None: ...

    def is_opted_out(self, phone: str) -> bool: ...


class SyncStateStore(Protocol):
    """Per customer and target: the versions already applied (BridgeTable)."""

    def load(self, customer_id: str, target: str) -> SyncState: ...

    def mark_applied(
        self,
        customer_id: str,
        target: str,
        version: int,
        fields: Sequence[str],
        *,
        facts: dict[str, str] | None = None,
    ) -> None:
        """Record ``fields`` as applied at ``version`` (never lowers a version)."""
        ...

    def remember_email(self, email: str, customer_id: str) -> None:
        """Index an email so a Mailchimp webhook about it finds the customer."""
        ...

    def customer_for_email(self, email: str) -> str | None: ...


# ---------------------------------------------------------------- stores and staff (R6)


class StoreRegistry(Protocol):
    """Points of sale and staff users, kept by the bridge (BridgeTable; in-memory in tests)."""

    def put_store(self, store: Store) -> None:
        """Register or change a store (and mark the directory as in use)."""
        ...

    def put_staff(self, staff: StaffMember) -> None:
        """Register or change a staff user; UnknownStore, writing nothing, when
        ``staff.store_id`` is not a registered store (checked in the same write)."""
        ...

    def list_stores(self, *, limit: int, cursor: str | None) -> tuple[list[Store], str | None]: ...

    def list_staff(self, *, limit: int, cursor: str | None) -> tuple[list[StaffMember], str | None]: ...

    def lookup(self, store_id: str | None, staff_id: str | None) -> DirectoryLookup:
        """Whether any store is registered, and the store and staff user named: ONE read
        (this is on the order path)."""
        ...


class StoreCheck(Protocol):
    """services.stores.StoreDirectory as the order, quote and adjustment services see it."""

    def check(self, store_id: str | None, staff_id: str | None) -> None:
        """UnknownStore / UnknownStaff when the operation's store or staff user is refused."""
        ...


class ProgramSource(Protocol):
    """The program in force (R9): versioned data, read through a short cache, never once per
    request. What the ledger and the storefront services read."""

    def current(self) -> tuple[int, ProgramRules]:
        """(version, rules) of the program in force."""
        ...


class ProgramStore(Protocol):
    """The program's stored versions (R9), for the admin routes."""

    def latest(self) -> ProgramVersion | None:
        """The newest stored version (a consistent read); None while only the seed exists."""
        ...

    def add(self, version: ProgramVersion, *, seed: ProgramVersion | None = None) -> None:
        """Store ``version`` as the newest: Conflict when that number is taken or the newest
        stored is not ``version - 1``. ``seed``: version 1, stored in the same write."""
        ...

    def versions(self, *, limit: int, cursor: str | None) -> tuple[list[ProgramVersion], str | None]:
        """Stored versions, newest first."""
        ...


class MemberPresence(Protocol):
    """Whether any loyalty member exists (R9: the program's kind is fixed from then on)."""

    def any_member(self) -> bool: ...


# ---------------------------------------------------------------- data rights (D1, D2)


class CustomerErrors(Protocol):
    """The error records about one customer (ErrorsTable), read whole and pseudonymised."""

    def of_customer(self, customer_id: str) -> list[ErrorRecord]: ...

    def overwrite(self, record: ErrorRecord, *, previous_id: str) -> None: ...


class CustomerDataStore(Protocol):
    """The bridge's own items about one customer, beyond the customer record
    (adapters/customer_data.py), and the erasure records that stay."""

    def sync_states(self, customer_id: str) -> list[SyncState]: ...

    def verification(self, customer_id: str) -> list[VerificationAttempt]:
        """The customer's one-time-code challenges, never a code or its hash."""
        ...

    def attempt_windows(self, customer_id: str) -> list[AttemptWindow]: ...

    def erase_customer(
        self,
        customer_id: str,
        *,
        emails: Sequence[str],
        mobile: str | None,
        member_id: str | None,
        card_number: str | None,
    ) -> int:
        """Delete every item about the person (record, links, indexes, sync state,
        challenges, attempt counters); how many were deleted."""
        ...

    def pseudonymise_orders(self, order_ids: Sequence[str], customer_id: str, alias: str) -> int: ...

    def erase_answers(self, personal: Sequence[str]) -> int:
        """Delete the answers kept for idempotent replays that mention ``personal``."""
        ...

    def erasure(self, erasure_id: str) -> ErasureRecord | None: ...

    def keep_erasure(self, record: ErasureRecord) -> ErasureRecord:
        """Store once; answers the record stored first."""
        ...
