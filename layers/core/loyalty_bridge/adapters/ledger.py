"""The built-in loyalty platform: members, cards and an append-only points ledger in DynamoDB.

LedgerTable layout (pk / sk, gsi1pk / gsi1sk):

    MEMBER#{id}      PROFILE          profile, consents, card, referral_code, referred_by;
                                      gsi1 MOBILE#{mobile} (A8 lookups)
    MEMBER#{id}      ACCOUNT          available, held, lifetime_spend, points_by_day, version;
                                      gsi1 EXPIRY#DUE / {first expiry}#{id} when points can expire
    MEMBER#{id}      HOLD#{rid}       a redemption hold (C2); gsi1 HOLDS#OPEN / {expires_at} while open
    MEMBER#{id}      LOT#{order_id}   points still pending (return window) and when they mature
    CARD#{number}    CARD             kind, state, member_id (uniqueness of card numbers)
    EMAIL#{email}    EMAIL            member_id (one account per email, case-insensitive)
    ENTRY#{id}       ENTRY            ledger entry keyed by its business id; gsi1 ENTRIES#{member}
    ORDER#{id}       ORDER            what an order earned, per sku, and what was reversed
    REQUEST#{op}#{key} REQUEST        first answer of a keyed non-balance write (replays)
    REFERRAL#{code}  REFERRAL         member_id (R5: the member's referral code, unique)
    COUPONS#{id}     {issued}#{v}#{code} a coupon issued for a reward (R4), newest last
    COUPON#{code}    COUPON           member_id (coupon codes are unique)

Every change to a balance is ONE ``TransactWriteItems``: the entry is put with
``attribute_not_exists`` (so a replay is a no-op that answers like the first time) and the
ACCOUNT item is updated under ``version = :seen`` with values computed (never negative)
from that version. A version race is retried from a fresh read. Expired holds and matured
pending points are settled inside the same transaction as the next write; reads treat them
as settled already. Points past their expiry (R3, services/point_lots: the balance is kept
by credit day, spent and expired oldest first) are expired in the same transaction as the
next write, or by a write of their own when a read or the sweeper (``expire_points``)
finds them, so a balance shown is always a balance stored. Balance = available + held =
sum of the member's entries.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NoReturn

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from loyalty_bridge.adapters.aws_errors import RETRYABLE_CODES, error_code
from loyalty_bridge.errors import (
    CardNotAttachable,
    DuplicateMember,
    InsufficientPoints,
    InvalidInput,
    MemberNotFound,
    PlatformError,
    PlatformRefused,
    PlatformUnavailable,
    ProfileIncomplete,
    RewardNotFound,
)
from loyalty_bridge.models.card_stock import CardImportResult
from loyalty_bridge.models.domain import (
    Balance,
    Basket,
    Card,
    CardKind,
    CardState,
    Consents,
    Coupon,
    CouponCheck,
    CouponStanding,
    CouponStatus,
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
from loyalty_bridge.observability import logger
from loyalty_bridge.privacy import normalize_email
from loyalty_bridge.services import card_numbers
from loyalty_bridge.services.earn_rules import (
    Earn,
    EarnInput,
    ProgramRules,
    earn,
    load_rules,
    merge_refund_lines,
    refund_amount,
    reversal_points,
)
from loyalty_bridge.services.point_lots import PointLots
from loyalty_bridge.services.referrals import new_referral_code, normalize_referral_code
from loyalty_bridge.services.rewards import coupon_check, coupon_code, new_coupon_code
from loyalty_bridge.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

Clock = Callable[[], datetime]
Item = dict[str, Any]  # a plain-Python DynamoDB item (numbers as Decimal)

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
_SETTLE_LIMIT = 20  # expired holds / matured lots settled per transaction (item limit 100)
_MAX_MERGE = 10
_CLOSED_HOLD_DAYS = 30  # closed holds are kept this long (TTL) for replays and audits
_REFERRER_SETTLE_LIMIT = 5  # keeps an order that also credits a referrer under 100 items
_EXPIRY_INDEX = "EXPIRY#DUE"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _to_av(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _SERIALIZER.serialize(v) for k, v in item.items() if v is not None}


def _from_av(item: Mapping[str, Any]) -> Item:
    return {k: _DESERIALIZER.deserialize(v) for k, v in item.items()}


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _member_pk(member_id: str) -> str:
    return f"MEMBER#{member_id}"


class _Retry(Exception):
    """A concurrent write won the race: read again and recompute."""


class _Cancelled(Exception):
    def __init__(self, failed: set[str]) -> None:
        super().__init__(", ".join(sorted(failed)))
        self.failed = failed


# ---------------------------------------------------------------------------- account state


@dataclass
class _HoldRow:
    redemption_id: str
    member_id: str
    points: int
    discount: Decimal
    expires_at: datetime
    state: str

    def hold(self) -> Hold:
        return Hold(
            redemption_id=self.redemption_id,
            member_id=self.member_id,
            points=self.points,
            discount=self.discount,
            expires_at=self.expires_at,
        )


@dataclass
class _Partition:
    """A member partition that is not a whole account: a PROFILE without an ACCOUNT, or
    nothing (``profile`` empty)."""

    profile: Item


@dataclass
class _LotRow:
    order_id: str
    points: int
    available_at: datetime


@dataclass
class _Account:
    """One member's partition as read (consistently), with settlement applied in memory."""

    member_id: str
    profile: Item
    available: int
    held: int
    lifetime_spend: Decimal
    version: int
    holds: dict[str, _HoldRow] = field(default_factory=dict)
    lots: dict[str, _LotRow] = field(default_factory=dict)  # pending points (return window)
    aged: PointLots = field(default_factory=PointLots)  # the balance by credit day (R3)
    expiry_months: int | None = None
    # Settlement this write will persist:
    released: list[_HoldRow] = field(default_factory=list)
    matured: list[_LotRow] = field(default_factory=list)
    expired: int = 0

    @property
    def balance(self) -> int:
        return self.available + self.held

    def settle(self, now: datetime, limit: int | None = _SETTLE_LIMIT) -> _Account:
        """Release expired holds, mature pending points, then expire points past their
        expiry (R3) (in memory; ``_account_items`` persists them). ``limit`` caps how many
        holds and lots one transaction may carry."""
        expired = sorted(
            (h for h in self.holds.values() if h.state == "open" and h.expires_at <= now),
            key=lambda h: h.expires_at,
        )
        for row in expired[:limit]:
            row.state = "expired"
            self.held -= row.points
            self.available += row.points
            self.released.append(row)
        ripe = sorted(
            (lot for lot in self.lots.values() if lot.available_at <= now), key=lambda lot: lot.available_at
        )
        for lot in ripe[:limit]:
            del self.lots[lot.order_id]
            self.available += lot.points
            self.aged.credit(lot.available_at, lot.points)
            self.matured.append(lot)
        written_off = self.aged.expire(now, self.expiry_months, self.available)
        self.available -= written_off
        self.expired += written_off
        return self

    def debit(self, points: int) -> None:
        """``points`` are about to leave the balance: spend the oldest first (call before
        changing ``available`` / ``held``)."""
        self.aged.spend(points, self.balance)

    @property
    def pending(self) -> int:
        return sum(lot.points for lot in self.lots.values())


# ---------------------------------------------------------------------------- the adapter


class DynamoDbLedger:
    """``ports.LoyaltyPlatform`` implemented by the bridge itself on LedgerTable."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        settings: Settings,
        rules: ProgramRules | None = None,
        clock: Clock = _utcnow,
        *,
        max_attempts: int = 40,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._db = client
        self._table = table_name
        self._settings = settings
        self._rules = rules or load_rules(settings)
        self._clock = clock
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._rng = random.SystemRandom()

    @property
    def rules(self) -> ProgramRules:
        return self._rules

    # ------------------------------------------------------------------ low-level I/O

    def _fail(self, exc: ClientError | BotoCoreError, what: str) -> NoReturn:
        if isinstance(exc, BotoCoreError):
            raise PlatformUnavailable(f"ledger {what}: DynamoDB unreachable") from exc
        code = error_code(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in RETRYABLE_CODES or status >= 500:
            raise PlatformUnavailable(f"ledger {what}: DynamoDB busy", aws_code=code) from exc
        raise PlatformError(f"ledger {what} failed", code="ledger_error", aws_code=code) from exc

    def _get(self, pk: str, sk: str) -> Item | None:
        try:
            answer = self._db.get_item(TableName=self._table, Key=_key(pk, sk), ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, "read")
        raw = answer.get("Item")
        return _from_av(raw) if raw else None

    def _query(self, **kwargs: Any) -> Iterator[Item]:
        start: dict[str, Any] | None = None
        while True:
            page_args = dict(kwargs, TableName=self._table)
            if start:
                page_args["ExclusiveStartKey"] = start
            try:
                page = self._db.query(**page_args)
            except (ClientError, BotoCoreError) as exc:
                self._fail(exc, "query")
            for raw in page.get("Items", []):
                yield _from_av(raw)
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    def _transact(self, labelled: Sequence[tuple[str, TransactWriteItemTypeDef]]) -> None:
        """Write all or nothing. _Cancelled names the items whose condition failed;
        _Retry means a concurrent transaction touched the same items."""
        try:
            self._db.transact_write_items(TransactItems=[item for _, item in labelled])
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons", [])
                failed = {
                    labelled[i][0]
                    for i, reason in enumerate(reasons)
                    if reason.get("Code") == "ConditionalCheckFailed" and i < len(labelled)
                }
                codes = {reason.get("Code") for reason in reasons}
                if failed:
                    raise _Cancelled(failed) from exc
                if codes & {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}:
                    raise _Retry from exc
                raise PlatformUnavailable(
                    "ledger write cancelled", aws_code=",".join(sorted(map(str, codes)))
                ) from exc
            if error_code(exc) == "TransactionConflictException":
                raise _Retry from exc
            self._fail(exc, "write")
        except BotoCoreError as exc:
            self._fail(exc, "write")

    def _put(self, item: Mapping[str, Any], *, condition: str | None = None) -> TransactWriteItemTypeDef:
        put: dict[str, Any] = {"TableName": self._table, "Item": _to_av(item)}
        if condition:
            put["ConditionExpression"] = condition
        return {"Put": put}  # type: ignore[typeddict-item]

    def _update(
        self,
        pk: str,
        sk: str,
        expression: str,
        values: Mapping[str, Any],
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> TransactWriteItemTypeDef:
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": _key(pk, sk),
            "UpdateExpression": expression,
        }
        if values:
            update["ExpressionAttributeValues"] = _to_av(values)
        if names:
            update["ExpressionAttributeNames"] = dict(names)
        if condition:
            update["ConditionExpression"] = condition
        return {"Update": update}  # type: ignore[typeddict-item]

    def _delete(self, pk: str, sk: str, *, condition: str | None = None) -> TransactWriteItemTypeDef:
        delete: dict[str, Any] = {"TableName": self._table, "Key": _key(pk, sk)}
        if condition:
            delete["ConditionExpression"] = condition
        return {"Delete": delete}  # type: ignore[typeddict-item]

    def _retrying[T](self, attempt: Callable[[], T]) -> T:
        for tries in range(self._max_attempts):
            try:
                return attempt()
            except _Retry:
                # Full jitter; small, since the competing write has already committed.
                self._sleep(self._rng.uniform(0, min(0.25, 0.004 * 2 ** min(tries, 8))))
        raise PlatformUnavailable("ledger busy: too many concurrent changes to one balance")

    # ------------------------------------------------------------------ reading a member

    def _load(self, member_id: str, *, follow_merge: bool = False) -> _Account:
        """The member's whole partition in one consistent Query. With ``follow_merge`` (A8)
        a merged member's partition leads to the member it was merged into (its PROFILE
        says ``merged_into``): the usual, unmerged member costs that one read, no lookup."""
        account = self._partition(member_id)
        merged_into = account.profile.get("merged_into")
        if follow_merge and merged_into:
            return self._load(self._owner_id(str(merged_into)))
        if isinstance(account, _Partition):
            raise MemberNotFound("no such loyalty member", code="member_not_found")
        return account

    def _partition(self, member_id: str) -> _Account | _Partition:
        """The member's account, or what was found when it is not a whole account."""
        profile: Item | None = None
        account: Item | None = None
        holds: dict[str, _HoldRow] = {}
        lots: dict[str, _LotRow] = {}
        for item in self._query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": _member_pk(member_id)}},
            ConsistentRead=True,
        ):
            sk = item["sk"]
            if sk == "PROFILE":
                profile = item
            elif sk == "ACCOUNT":
                account = item
            elif sk.startswith("HOLD#"):
                row = _HoldRow(
                    redemption_id=item["redemption_id"],
                    member_id=member_id,
                    points=int(item["points"]),
                    discount=Decimal(item["discount"]),
                    expires_at=_parse_time(item["expires_at"]),
                    state=item["state"],
                )
                holds[row.redemption_id] = row
            elif sk.startswith("LOT#"):
                lot = _LotRow(
                    order_id=item["order_id"],
                    points=int(item["points"]),
                    available_at=_parse_time(item["available_at"]),
                )
                lots[lot.order_id] = lot
        if profile is None or account is None:
            return _Partition(profile=profile or {})
        return _Account(
            member_id=member_id,
            profile=profile,
            available=int(account["available"]),
            held=int(account["held"]),
            lifetime_spend=Decimal(account["lifetime_spend"]),
            version=int(account["version"]),
            holds=holds,
            lots=lots,
            aged=PointLots.from_json(account.get("points_by_day")),
            expiry_months=self._rules.expiry_months,
        )

    def _owner_id(self, member_id: str) -> str:
        """A8: a merged (blocked) member's points live with the member it was merged into."""
        current = member_id
        for _ in range(10):
            profile = self._get(_member_pk(current), "PROFILE")
            if profile is None:
                raise MemberNotFound("no such loyalty member", code="member_not_found")
            merged_into = profile.get("merged_into")
            if not merged_into:
                return current
            current = str(merged_into)
        raise PlatformError("merge chain too long", code="ledger_error")

    def _load_owner(self, member_id: str) -> _Account:
        return self._load(member_id, follow_merge=True)

    def _member_from(self, profile: Item, lifetime_spend: Decimal) -> Member:
        tier = self._rules.tier_for(lifetime_spend)
        person = MemberProfile.model_validate_json(profile["profile"])
        return Member(
            member_id=profile["member_id"],
            profile=person,
            card=Card(
                number=profile["card_number"],
                kind=CardKind(profile["card_kind"]),
                state=CardState(profile["card_state"]),
            ),
            consents=Consents.model_validate_json(profile["consents"]),
            tier=tier.name if tier else None,
            accumulate_only=self._rules.accumulate_only(person),
            referral_code=profile.get("referral_code"),
        )

    def _missing_fields(self, acc: _Account) -> list[str]:
        """A9: required profile fields the member has not filled (accumulate-only if any)."""
        return self._rules.missing_profile_fields(MemberProfile.model_validate_json(acc.profile["profile"]))

    def _member(self, member_id: str) -> Member:
        profile = self._get(_member_pk(member_id), "PROFILE")
        account = self._get(_member_pk(member_id), "ACCOUNT")
        if profile is None or account is None:
            raise MemberNotFound("no such loyalty member", code="member_not_found")
        return self._member_from(profile, Decimal(account["lifetime_spend"]))

    # ------------------------------------------------------------------ writing a balance

    def _account_items(self, acc: _Account, now: datetime) -> list[tuple[str, TransactWriteItemTypeDef]]:
        """The version-checked ACCOUNT update plus the settlement it carries."""
        if acc.available < 0 or acc.held < 0 or acc.aged.total > acc.balance:
            raise AssertionError("ledger arithmetic produced a negative balance")  # a bug, never data
        expression = "SET available = :a, held = :h, lifetime_spend = :l, points_by_day = :d, version = :next"
        values: dict[str, Any] = {
            ":a": acc.available,
            ":h": acc.held,
            ":l": acc.lifetime_spend,
            ":d": acc.aged.to_json(),
            ":next": acc.version + 1,
            ":seen": acc.version,
        }
        first_expiry = acc.aged.first_expiry(acc.expiry_months)
        if first_expiry is not None:
            # The sweeper finds members with points due by this index (R3).
            expression += ", gsi1pk = :gp, gsi1sk = :gs"
            values |= {":gp": _EXPIRY_INDEX, ":gs": f"{first_expiry.isoformat()}#{acc.member_id}"}
        else:
            expression += " REMOVE gsi1pk, gsi1sk"
        items: list[tuple[str, TransactWriteItemTypeDef]] = [
            (
                "account",
                self._update(
                    _member_pk(acc.member_id), "ACCOUNT", expression, values, condition="version = :seen"
                ),
            )
        ]
        if acc.expired:
            # Keyed by the version it settles: a replay of this settlement cannot apply twice.
            entry_id = f"expire:{acc.member_id}:v{acc.version}"
            items.append(("settle", self._entry(entry_id, acc.member_id, "expire", -acc.expired, 0, now)))
        for row in acc.released:
            items.append(("settle", self._close_hold(acc.member_id, row.redemption_id, row.state, now)))
        for lot in acc.matured:
            items.append(
                (
                    "settle",
                    self._delete(
                        _member_pk(acc.member_id), f"LOT#{lot.order_id}", condition="attribute_exists(pk)"
                    ),
                )
            )
            items.append(
                (
                    "settle",
                    self._entry(
                        f"mature:{lot.order_id}", acc.member_id, "mature", lot.points, -lot.points, now
                    ),
                )
            )
        return items

    def _close_hold(
        self,
        member_id: str,
        redemption_id: str,
        state: str,
        now: datetime,
    ) -> TransactWriteItemTypeDef:
        expires = int((now + timedelta(days=_CLOSED_HOLD_DAYS)).timestamp())
        return self._update(
            _member_pk(member_id),
            f"HOLD#{redemption_id}",
            "SET #state = :new, closed_at = :now, #ttl = :ttl REMOVE gsi1pk, gsi1sk",
            {":new": state, ":open": "open", ":now": _iso(now), ":ttl": expires},
            condition="#state = :open",
            names={"#state": "state", "#ttl": "ttl"},
        )

    def _entry(
        self,
        entry_id: str,
        member_id: str,
        kind: str,
        delta: int,
        pending_delta: int,
        now: datetime,
        result: str = "",
    ) -> TransactWriteItemTypeDef:
        return self._put(
            {
                "pk": f"ENTRY#{entry_id}",
                "sk": "ENTRY",
                "entry_id": entry_id,
                "member_id": member_id,
                "kind": kind,
                "delta": delta,
                "pending_delta": pending_delta,
                "at": _iso(now),
                "result": result or None,
                "gsi1pk": f"ENTRIES#{member_id}",
                "gsi1sk": f"{_iso(now)}#{entry_id}",
            },
            condition="attribute_not_exists(pk)",
        )

    def entries(self, member_id: str) -> list[Item]:
        """The member's ledger entries, oldest first (history; property tests)."""
        return list(
            self._query(
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"ENTRIES#{member_id}"}},
            )
        )

    # ------------------------------------------------------------------ members

    def create_member(
        self,
        profile: MemberProfile,
        consents: Consents,
        *,
        idempotency_key: str,
        referral_code: str | None = None,
    ) -> Member:
        request_pk = f"REQUEST#create#{idempotency_key}"
        email = normalize_email(profile.email)
        if not email:
            raise InvalidInput("email is required")

        def attempt() -> Member:
            first = self._get(request_pk, "REQUEST")
            if first is not None:
                return self._member(str(first["member_id"]))
            member_id = uuid.uuid4().hex
            number = card_numbers.new_virtual_number()
            items = self._new_member_items(
                member_id,
                number,
                CardKind.VIRTUAL,
                profile,
                consents,
                request_pk,
                new_card=True,
                referred_by=self._referrer(referral_code),
            )
            try:
                self._transact(items)
            except _Cancelled as exc:
                if "request" in exc.failed:
                    raise _Retry from exc  # a twin request won: answer like it did
                if "email" in exc.failed:
                    raise DuplicateMember(field="email") from exc
                raise _Retry from exc  # card number or referral code collision: draw again
            return self._member(member_id)

        return self._retrying(attempt)

    def _referrer(self, referral_code: str | None) -> str | None:
        """R5: the member a referral code belongs to (unknown codes are ignored)."""
        code = normalize_referral_code(referral_code or "")
        if not code:
            return None
        found = self._get(f"REFERRAL#{code}", "REFERRAL")
        return str(found["member_id"]) if found else None

    def _new_member_items(
        self,
        member_id: str,
        number: str,
        kind: CardKind,
        profile: MemberProfile,
        consents: Consents,
        request_pk: str,
        *,
        new_card: bool,
        referred_by: str | None = None,
    ) -> list[tuple[str, TransactWriteItemTypeDef]]:
        pk = _member_pk(member_id)
        referral_code = new_referral_code()
        profile_item: Item = {
            "pk": pk,
            "sk": "PROFILE",
            "member_id": member_id,
            "profile": profile.model_dump_json(),
            "consents": consents.model_dump_json(),
            "email": normalize_email(profile.email),
            "card_number": number,
            "card_kind": kind.value,
            "card_state": CardState.ACTIVE.value,
            "referral_code": referral_code,
            "referred_by": referred_by,  # None is left out
            "created_at": _iso(self._clock()),
        }
        if profile.mobile:
            profile_item |= {"gsi1pk": f"MOBILE#{profile.mobile}", "gsi1sk": pk}
        items: list[tuple[str, TransactWriteItemTypeDef]] = [
            ("profile", self._put(profile_item, condition="attribute_not_exists(pk)")),
            (
                "account",
                self._put(
                    {
                        "pk": pk,
                        "sk": "ACCOUNT",
                        "available": 0,
                        "held": 0,
                        "lifetime_spend": Decimal(0),
                        "points_by_day": "{}",
                        "version": 0,
                    },
                    condition="attribute_not_exists(pk)",
                ),
            ),
            (
                "referral",
                self._put(
                    {"pk": f"REFERRAL#{referral_code}", "sk": "REFERRAL", "member_id": member_id},
                    condition="attribute_not_exists(pk)",
                ),
            ),
            (
                "email",
                self._put(
                    {"pk": f"EMAIL#{normalize_email(profile.email)}", "sk": "EMAIL", "member_id": member_id},
                    condition="attribute_not_exists(pk)",
                ),
            ),
            (
                "request",
                self._put(
                    {"pk": request_pk, "sk": "REQUEST", "member_id": member_id},
                    condition="attribute_not_exists(pk)",
                ),
            ),
        ]
        if new_card:
            items.append(
                (
                    "card",
                    self._put(
                        {
                            "pk": f"CARD#{number}",
                            "sk": "CARD",
                            "number": number,
                            "kind": kind.value,
                            "state": CardState.ACTIVE.value,
                            "member_id": member_id,
                        },
                        condition="attribute_not_exists(pk)",
                    ),
                )
            )
        else:
            items.append(
                (
                    "card",
                    self._update(
                        f"CARD#{number}",
                        "CARD",
                        "SET #state = :active, member_id = :m",
                        {
                            ":active": CardState.ACTIVE.value,
                            ":unregistered": CardState.UNREGISTERED.value,
                            ":m": member_id,
                        },
                        condition="#state = :unregistered",
                        names={"#state": "state"},
                    ),
                )
            )
        return items

    def get_member(self, member_id: str) -> Member:
        return self._member(member_id)

    def find_members(
        self, *, card_number: str | None = None, email: str | None = None, mobile: str | None = None
    ) -> list[Member]:
        if card_number is None and email is None and mobile is None:
            raise InvalidInput("give a card number, an email or a mobile")
        found: set[str] | None = None
        if card_number is not None:
            number = card_numbers.normalize(card_number)
            card = self._get(f"CARD#{number}", "CARD") if card_numbers.is_valid(number) else None
            found = {str(card["member_id"])} if card and card.get("member_id") else set()
        if email is not None:
            owner = self._get(f"EMAIL#{normalize_email(email)}", "EMAIL") if email.strip() else None
            ids = {str(owner["member_id"])} if owner else set()
            found = ids if found is None else found & ids
        if mobile is not None:
            ids = {
                str(item["member_id"])
                for item in self._query(
                    IndexName="gsi1",
                    KeyConditionExpression="gsi1pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": f"MOBILE#{mobile}"}},
                )
            }
            found = ids if found is None else found & ids
        return [self._member(member_id) for member_id in sorted(found or set())]

    def attach_card(self, card_number: str, profile: MemberProfile, *, idempotency_key: str) -> Member:
        request_pk = f"REQUEST#attach#{idempotency_key}"
        number = card_numbers.normalize(card_number)
        email = normalize_email(profile.email)

        def attempt() -> Member:
            first = self._get(request_pk, "REQUEST")
            if first is not None:
                return self._member(str(first["member_id"]))
            card = self._get(f"CARD#{number}", "CARD") if card_numbers.is_valid(number) else None
            if card is None or not email:
                raise CardNotAttachable()
            state = CardState(card["state"])
            if state == CardState.UNREGISTERED:
                member_id = uuid.uuid4().hex
                items = self._new_member_items(
                    member_id, number, CardKind(card["kind"]), profile, Consents(), request_pk, new_card=False
                )
                try:
                    self._transact(items)
                except _Cancelled as exc:
                    if exc.failed & {"request", "card", "referral"}:
                        raise _Retry from exc  # a twin request or someone else registered it first
                    raise CardNotAttachable() from exc  # the email belongs to another account
                return self._member(member_id)
            member_id = str(card.get("member_id") or "")
            if state != CardState.ACTIVE or not member_id:
                raise CardNotAttachable()
            member = self._member(member_id)
            if normalize_email(member.profile.email) != email:
                raise CardNotAttachable()
            return member

        return self._retrying(attempt)

    def merge_cards(self, primary_card: str, cards: Sequence[str], *, idempotency_key: str) -> Member:
        request_pk = f"REQUEST#merge#{idempotency_key}"

        def card_member(raw: str) -> str:
            number = card_numbers.normalize(raw)
            card = self._get(f"CARD#{number}", "CARD") if card_numbers.is_valid(number) else None
            if card is None or card["state"] != CardState.ACTIVE.value or not card.get("member_id"):
                raise CardNotAttachable()
            return str(card["member_id"])

        def attempt() -> Member:
            first = self._get(request_pk, "REQUEST")
            if first is not None:
                return self._member(str(first["member_id"]))
            now = self._clock()
            primary = self._load(card_member(primary_card)).settle(now)
            mobile = MemberProfile.model_validate_json(primary.profile["profile"]).mobile
            others: list[_Account] = []
            for raw in cards:
                other_id = card_member(raw)
                if other_id == primary.member_id or any(o.member_id == other_id for o in others):
                    continue
                other = self._load(other_id).settle(now)
                other_mobile = MemberProfile.model_validate_json(other.profile["profile"]).mobile
                if not mobile or other_mobile != mobile or other.held:
                    raise CardNotAttachable()
                others.append(other)
            if len(others) > _MAX_MERGE:
                raise PlatformRefused(
                    f"at most {_MAX_MERGE} cards can be merged at once", code="too_many_cards"
                )
            items: list[tuple[str, TransactWriteItemTypeDef]] = []
            for other in others:
                moved = other.available
                entry = f"merge:{idempotency_key}:{other.member_id}"
                items.append(
                    (
                        "entry",
                        self._entry(
                            f"{entry}:out", other.member_id, "merge_out", -moved, -other.pending, now
                        ),
                    )
                )
                items.append(
                    (
                        "entry",
                        self._entry(f"{entry}:in", primary.member_id, "merge_in", moved, other.pending, now),
                    )
                )
                primary.available += moved
                primary.lifetime_spend += other.lifetime_spend
                primary.aged.absorb(other.aged)
                other.available = 0
                other.lifetime_spend = Decimal(0)
                for lot in other.lots.values():
                    items.append(
                        (
                            "lot",
                            self._delete(
                                _member_pk(other.member_id),
                                f"LOT#{lot.order_id}",
                                condition="attribute_exists(pk)",
                            ),
                        )
                    )
                    items.append(
                        (
                            "lot",
                            self._put(
                                self._lot_item(primary.member_id, lot), condition="attribute_not_exists(pk)"
                            ),
                        )
                    )
                other.lots = {}
                number = str(other.profile["card_number"])
                items.append(
                    (
                        "card",
                        self._update(
                            f"CARD#{number}",
                            "CARD",
                            "SET #state = :blocked",
                            {":blocked": CardState.BLOCKED.value, ":active": CardState.ACTIVE.value},
                            condition="#state = :active",
                            names={"#state": "state"},
                        ),
                    )
                )
                items.append(
                    (
                        "profile",
                        self._update(
                            _member_pk(other.member_id),
                            "PROFILE",
                            "SET card_state = :blocked, merged_into = :p",
                            {":blocked": CardState.BLOCKED.value, ":p": primary.member_id},
                        ),
                    )
                )
                # A merged account gives up its email, so the customer's details can move to
                # the primary card (A8) and a new account may use that address later.
                other_profile = MemberProfile.model_validate_json(other.profile["profile"])
                other_email = normalize_email(other_profile.email)
                if other_email:
                    items.append(("email", self._delete(f"EMAIL#{other_email}", "EMAIL")))
                items.extend(self._account_items(other, now))
            items.extend(self._account_items(primary, now))
            items.append(
                (
                    "request",
                    self._put(
                        {"pk": request_pk, "sk": "REQUEST", "member_id": primary.member_id},
                        condition="attribute_not_exists(pk)",
                    ),
                )
            )
            try:
                self._transact(items)
            except _Cancelled as exc:
                raise _Retry from exc  # anything moved under us: start again from fresh reads
            return self._member(primary.member_id)

        return self._retrying(attempt)

    def update_profile(self, member_id: str, changes: ProfileChanges, *, idempotency_key: str) -> Member:
        request_pk = f"REQUEST#update#{idempotency_key}"

        def attempt() -> Member:
            first = self._get(request_pk, "REQUEST")
            if first is not None:
                return Member.model_validate_json(first["result"])
            current = self._get(_member_pk(member_id), "PROFILE")
            if current is None:
                raise MemberNotFound("no such loyalty member", code="member_not_found")
            old = MemberProfile.model_validate_json(current["profile"])
            update = {name: getattr(changes, name) for name in changes.model_fields_set}
            new = old.model_copy(update={k: v for k, v in update.items() if v is not None})
            old_email, new_email = normalize_email(old.email), normalize_email(new.email)
            if not new_email:
                raise InvalidInput("email must not be blank")
            pversion = int(current.get("pversion", 0))
            expression = "SET profile = :p, email = :e, pversion = :next"
            values: dict[str, Any] = {
                ":p": new.model_dump_json(),
                ":e": new_email,
                ":next": pversion + 1,
                ":seen": pversion,
            }
            if new.mobile:
                expression += ", gsi1pk = :g, gsi1sk = :gs"
                values |= {":g": f"MOBILE#{new.mobile}", ":gs": _member_pk(member_id)}
            else:
                expression += " REMOVE gsi1pk, gsi1sk"
            items: list[tuple[str, TransactWriteItemTypeDef]] = [
                (
                    "profile",
                    self._update(
                        _member_pk(member_id),
                        "PROFILE",
                        expression,
                        values,
                        condition="attribute_not_exists(pversion) OR pversion = :seen",
                    ),
                )
            ]
            if new_email != old_email:
                items.append(
                    (
                        "email",
                        self._put(
                            {"pk": f"EMAIL#{new_email}", "sk": "EMAIL", "member_id": member_id},
                            condition="attribute_not_exists(pk)",
                        ),
                    )
                )
                items.append(("old_email", self._delete(f"EMAIL#{old_email}", "EMAIL")))
            account = self._get(_member_pk(member_id), "ACCOUNT")
            lifetime = Decimal(account["lifetime_spend"]) if account else Decimal(0)
            result = self._member_from(current | {"profile": new.model_dump_json()}, lifetime)
            items.append(
                (
                    "request",
                    self._put(
                        {
                            "pk": request_pk,
                            "sk": "REQUEST",
                            "member_id": member_id,
                            "result": result.model_dump_json(),
                        },
                        condition="attribute_not_exists(pk)",
                    ),
                )
            )
            try:
                self._transact(items)
            except _Cancelled as exc:
                if exc.failed == {"email"}:
                    raise DuplicateMember(field="email") from exc
                raise _Retry from exc
            return result

        return self._retrying(attempt)

    def set_consents(self, member_id: str, consents: Consents, *, idempotency_key: str) -> None:
        request_pk = f"REQUEST#consents#{idempotency_key}"
        if self._get(request_pk, "REQUEST") is not None:
            return
        items: list[tuple[str, TransactWriteItemTypeDef]] = [
            (
                "profile",
                self._update(
                    _member_pk(member_id),
                    "PROFILE",
                    "SET consents = :c",
                    {":c": consents.model_dump_json()},
                    condition="attribute_exists(pk)",
                ),
            ),
            (
                "request",
                self._put(
                    {"pk": request_pk, "sk": "REQUEST", "member_id": member_id},
                    condition="attribute_not_exists(pk)",
                ),
            ),
        ]
        try:
            self._transact(items)
        except _Cancelled as exc:
            if "profile" in exc.failed:
                raise MemberNotFound("no such loyalty member", code="member_not_found") from exc
            # "request" only: a twin call already did it

    def import_physical_cards(self, numbers: Sequence[str]) -> int:
        """Card stock: printed numbers, unregistered until a customer attaches one (A4)."""
        cleaned = [card_numbers.normalize(raw) for raw in numbers]
        bad = [i for i, number in enumerate(cleaned) if not card_numbers.is_valid(number)]
        if bad:
            raise InvalidInput(
                "card numbers fail the check digit",
                code="invalid_card_number",
                errors=[{"loc": ["numbers", i], "msg": "invalid card number"} for i in bad],
            )
        added = 0
        for number in dict.fromkeys(cleaned):
            try:
                self._db.put_item(
                    TableName=self._table,
                    Item=_to_av(
                        {
                            "pk": f"CARD#{number}",
                            "sk": "CARD",
                            "number": number,
                            "kind": CardKind.PHYSICAL.value,
                            "state": CardState.UNREGISTERED.value,
                        }
                    ),
                    ConditionExpression="attribute_not_exists(pk)",
                )
                added += 1
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    self._fail(exc, "card import")
            except BotoCoreError as exc:
                self._fail(exc, "card import")
        return added

    # ------------------------------------------------------------------ balances

    def _balance(self, acc: _Account, now: datetime) -> Balance:
        tier = self._rules.tier_for(acc.lifetime_spend)
        nxt = self._rules.next_tier(acc.lifetime_spend)
        expiring, expiry_on = acc.aged.next_expiry(now, acc.expiry_months)
        return Balance(
            member_id=acc.member_id,
            balance=acc.balance,
            pending=acc.pending,
            held=acc.held,
            next_expiry_points=expiring,
            next_expiry_on=expiry_on,
            tier=tier.name if tier else None,
            next_tier=nxt.name if nxt else None,
            spend_to_next_tier=(nxt.min_spend - acc.lifetime_spend) if nxt else None,
            lifetime_spend=acc.lifetime_spend,
            accumulate_only=bool(self._missing_fields(acc)),
            referral_code=acc.profile.get("referral_code"),
        )

    def _settled(self, member_id: str, now: datetime) -> _Account:
        """The member's account as of ``now`` for a read. Expiry changes the balance, so
        points found expired are written off first (one transaction), never only shown."""
        acc = self._load_owner(member_id).settle(now, limit=None)
        if acc.expired:
            self._write_off_expired(acc.member_id, now)
            acc = self._load(acc.member_id).settle(now, limit=None)
        return acc

    def _write_off_expired(self, member_id: str, now: datetime) -> int:
        """Persist the settlement of ``member_id`` (expired points, expired holds, matured
        points) when points expired; the points written off."""

        def attempt() -> int:
            acc = self._load(member_id).settle(now)
            if not acc.expired:
                return 0
            try:
                self._transact(self._account_items(acc, now))
            except _Cancelled as exc:
                raise _Retry from exc
            return acc.expired

        return self._retrying(attempt)

    def expire_points(self, now: datetime | None = None, *, limit: int = 500) -> int:
        """The sweeper (R3): write off the points expired by ``now`` of up to ``limit``
        members due (the rest on the next run). Answers how many members lost points."""
        moment = now or self._clock()
        due = self._query(
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk AND gsi1sk <= :until",
            ExpressionAttributeValues={
                ":pk": {"S": _EXPIRY_INDEX},
                ":until": {"S": moment.astimezone(UTC).date().isoformat() + "~"},
            },
        )
        touched = 0
        for count, item in enumerate(due):
            if count >= limit:
                break
            member_id = str(item["pk"]).removeprefix("MEMBER#")
            if self._write_off_expired(member_id, moment):
                touched += 1
        return touched

    def points_by_day(self, member_id: str) -> dict[str, int]:
        """The member's balance by credit day as of now (R3; history and property tests)."""
        return self._load_owner(member_id).settle(self._clock(), limit=None).aged.as_dict()

    def get_balance(self, member_id: str) -> Balance:
        now = self._clock()
        return self._balance(self._settled(member_id, now), now)

    def quote(self, member_id: str | None, basket: Basket, *, redeem_points: int = 0) -> Quote:
        if redeem_points < 0:
            raise InvalidInput("redeem_points must not be negative")
        acc = self._settled(member_id, self._clock()) if member_id is not None else None
        spend = acc.lifetime_spend if acc else Decimal(0)
        amount = EarnInput.from_basket(basket).subtotal - basket.discount
        available = acc.available if acc else 0
        if acc is not None and (missing := self._missing_fields(acc)):
            if redeem_points:
                raise ProfileIncomplete("complete the profile to redeem points", missing=missing)
            available = 0  # A9: earning, not redeeming
        redeemable = self._rules.redeemable_points(available, amount, spend)
        if redeem_points > redeemable:
            raise InsufficientPoints(f"at most {redeemable} points can be redeemed on this order")
        discount = self._rules.discount_for(redeem_points, spend)
        earned = earn(self._rules, EarnInput.from_basket(basket, discount), spend)
        return Quote(
            points_to_earn=earned.points,
            balance=acc.balance if acc else 0,
            redeemable_points=redeemable,
            point_value=self._rules.point_value_for(spend),
            max_discount=self._rules.discount_for(redeemable, spend),
            discount=discount,
            coupon=self._coupon_check(acc.member_id if acc else None, basket.promo_code),
        )

    # ------------------------------------------------------------------ holds (C2)

    def hold_points(
        self, member_id: str, redemption_id: str, points: int, *, order_total: Any, expires_at: datetime
    ) -> Hold:
        total = Decimal(str(order_total))

        def attempt() -> Hold:
            now = self._clock()
            acc = self._load_owner(member_id).settle(now)
            existing = acc.holds.get(redemption_id)
            if existing is not None:
                return existing.hold()
            if points <= 0:
                raise InvalidInput("points to hold must be positive")
            if expires_at <= now:
                raise InvalidInput("a hold must expire in the future")
            if missing := self._missing_fields(acc):
                raise ProfileIncomplete("complete the profile to redeem points", missing=missing)
            if points > acc.available:
                raise InsufficientPoints("not enough points")
            if points > self._rules.redeemable_points(points, total, acc.lifetime_spend):
                raise InsufficientPoints("points exceed the share of the order payable with points")
            row = _HoldRow(
                redemption_id=redemption_id,
                member_id=acc.member_id,
                points=points,
                discount=self._rules.discount_for(points, acc.lifetime_spend),
                expires_at=expires_at,
                state="open",
            )
            acc.available -= points
            acc.held += points
            items = self._account_items(acc, now)
            items.append(
                (
                    "hold",
                    self._put(
                        {
                            "pk": _member_pk(acc.member_id),
                            "sk": f"HOLD#{redemption_id}",
                            "redemption_id": redemption_id,
                            "points": points,
                            "discount": row.discount,
                            "expires_at": _iso(expires_at),
                            "state": "open",
                            "created_at": _iso(now),
                            "gsi1pk": "HOLDS#OPEN",
                            "gsi1sk": f"{_iso(expires_at)}#{acc.member_id}#{redemption_id}",
                        },
                        condition="attribute_not_exists(pk)",
                    ),
                )
            )
            try:
                self._transact(items)
            except _Cancelled as exc:
                raise _Retry from exc
            return row.hold()

        return self._retrying(attempt)

    def _release(self, member_id: str, redemption_id: str, *, only_expired_at: datetime | None) -> bool:
        def attempt() -> bool:
            now = self._clock()
            acc = self._load(member_id)
            row = acc.holds.get(redemption_id)
            if row is None or row.state != "open":
                return False
            if only_expired_at is not None and row.expires_at > only_expired_at:
                return False
            acc.settle(now)
            if row.state == "open":  # not already released by settle (expired)
                row.state = "released"
                acc.held -= row.points
                acc.available += row.points
                acc.released.append(row)
            try:
                self._transact(self._account_items(acc, now))
            except _Cancelled as exc:
                raise _Retry from exc
            return True

        return self._retrying(attempt)

    def release_hold(self, member_id: str, redemption_id: str) -> None:
        self._release(self._owner_id(member_id), redemption_id, only_expired_at=None)

    def release_expired_holds(self, now: datetime | None = None) -> int:
        """The sweeper (hold_sweeper): give back the points of every hold expired by ``now``."""
        moment = now or self._clock()
        released = 0
        due = list(
            self._query(
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pk AND gsi1sk <= :until",
                ExpressionAttributeValues={":pk": {"S": "HOLDS#OPEN"}, ":until": {"S": _iso(moment) + "~"}},
            )
        )
        for item in due:
            member_id = str(item["pk"]).removeprefix("MEMBER#")
            if self._release(member_id, str(item["redemption_id"]), only_expired_at=moment):
                released += 1
        return released

    # ------------------------------------------------------------------ orders (C4) and reversals (C5)

    def _lot_item(self, member_id: str, lot: _LotRow) -> Item:
        return {
            "pk": _member_pk(member_id),
            "sk": f"LOT#{lot.order_id}",
            "order_id": lot.order_id,
            "points": lot.points,
            "available_at": _iso(lot.available_at),
        }

    def post_order(self, member_id: str, order: PlatformOrder) -> OrderResult:
        entry_id = f"order:{order.order_id}"

        def attempt() -> OrderResult:
            first = self._get(f"ENTRY#{entry_id}", "ENTRY")
            if first is not None:
                return OrderResult.model_validate_json(first["result"])
            now = self._clock()
            acc = self._load_owner(member_id).settle(now)
            items: list[tuple[str, TransactWriteItemTypeDef]] = []
            redeemed = 0
            if order.redemption_id is not None:
                row = acc.holds.get(order.redemption_id)
                if row is None:
                    raise PlatformRefused("no hold for this redemption", code="hold_not_found")
                redeemed = row.points
                if row.state == "open":
                    acc.debit(redeemed)
                    acc.held -= redeemed
                    items.append(
                        ("hold", self._close_hold(acc.member_id, row.redemption_id, "captured", now))
                    )
                elif row.state == "expired" and acc.available >= redeemed:
                    # C2: the hold lapsed before the order arrived (a slow payment, a delayed
                    # push) but the storefront gave the discount: spend the points directly.
                    # A hold the storefront released itself is refused (its discount is gone).
                    acc.debit(redeemed)
                    acc.available -= redeemed
                else:
                    raise PlatformRefused("the hold expired or was released", code="hold_expired")
            earned = earn(self._rules, EarnInput.from_order(order), acc.lifetime_spend)
            available_at = order.placed_at + timedelta(days=self._settings.pending_days)
            pending = earned.points if earned.points and available_at > now else 0
            if pending:
                lot = _LotRow(order_id=order.order_id, points=pending, available_at=available_at)
                items.append(
                    (
                        "lot",
                        self._put(self._lot_item(acc.member_id, lot), condition="attribute_not_exists(pk)"),
                    )
                )
            acc.available += earned.points - pending
            acc.aged.credit(now, earned.points - pending)
            acc.lifetime_spend += earned.base
            coupon_items, coupon_refused = self._coupon_items(acc.member_id, order)
            result = OrderResult(
                order_id=order.order_id,
                points_earned=earned.points,
                points_redeemed=redeemed,
                balance=acc.balance,
                coupon_refused=coupon_refused,
            )
            items.append(
                (
                    "entry",
                    self._entry(
                        entry_id,
                        acc.member_id,
                        "order",
                        earned.points - pending - redeemed,
                        pending,
                        now,
                        result.model_dump_json(),
                    ),
                )
            )
            items.append(
                (
                    "order",
                    self._put(
                        {
                            "pk": f"ORDER#{order.order_id}",
                            "sk": "ORDER",
                            "member_id": acc.member_id,
                            "earn": earned.model_dump_json(),
                            "redeemed": redeemed,
                            "returned": 0,
                            "reversed": "{}",
                            "order_points_reversed": False,
                            "version": 0,
                        },
                        condition="attribute_not_exists(pk)",
                    ),
                )
            )
            items.extend(self._account_items(acc, now))
            items.extend(self._referral_items(acc, now))
            items.extend(coupon_items)
            try:
                self._transact(items)
            except _Cancelled as exc:
                raise _Retry from exc  # a twin delivery or a concurrent change: re-read
            return result

        return self._retrying(attempt)

    def _coupon(self, promo_code: str | None) -> tuple[str, Item, Coupon] | None:
        """R4: the coupon a promo code names, if it is one: its holder's owner (A8), its row
        and the coupon. Any other promo code is not ours to track (C3 still applies to it)."""
        code = coupon_code(promo_code)
        owned = self._get(f"COUPON#{code}", "COUPON") if code else None
        if owned is None:
            return None
        holder = str(owned["member_id"])
        for item in self._query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"COUPONS#{holder}"}},
            ConsistentRead=True,
        ):
            coupon = Coupon.model_validate_json(item["coupon"])
            if coupon.code == code:
                return self._owner_id(holder), item, coupon
        return None

    def _coupon_check(self, owner_id: str | None, promo_code: str | None) -> CouponCheck | None:
        found = self._coupon(promo_code)
        return None if found is None else coupon_check(found[2], yours=found[0] == owner_id)

    def _coupon_items(
        self, owner_id: str, order: PlatformOrder
    ) -> tuple[list[tuple[str, TransactWriteItemTypeDef]], CouponStanding | None]:
        """R4: an order whose promo code is one of the member's available coupons uses it,
        in the order's own transaction (so a coupon is spent exactly once, with its order).
        A coupon used already or another member's is not used: answered as the refusal."""
        found = self._coupon(order.promo_code)
        if found is None:
            return [], None
        holder_owner, item, coupon = found
        status = coupon_check(coupon, yours=holder_owner == owner_id).status
        if status is not CouponStanding.AVAILABLE:
            logger.warning(
                "order named a coupon it may not use",
                extra={"order_id": order.order_id, "coupon": status.value},
            )
            return [], status
        used = coupon.model_copy(update={"status": CouponStatus.USED})
        write = self._update(
            str(item["pk"]),
            str(item["sk"]),
            "SET coupon = :used",
            {":used": used.model_dump_json(), ":seen": item["coupon"]},
            condition="coupon = :seen",  # a concurrent use cancels: re-read
        )
        return [("coupon", write)], None

    def _referral_items(
        self, referred: _Account, now: datetime
    ) -> list[tuple[str, TransactWriteItemTypeDef]]:
        """R5: the referrer's bonus, written with the referred member's first credited order
        (the entry is keyed by the referred member: it can only ever be written once)."""
        bonus = self._rules.referral_bonus_points
        referred_by = referred.profile.get("referred_by")
        if not bonus or not referred_by:
            return []
        entry_id = f"referral:{referred.member_id}"
        if self._get(f"ENTRY#{entry_id}", "ENTRY") is not None:
            return []
        referrer_id = self._owner_id(str(referred_by))
        if referrer_id == referred.member_id:
            return []
        referrer = self._load(referrer_id).settle(now, limit=_REFERRER_SETTLE_LIMIT)
        referrer.available += bonus
        referrer.aged.credit(now, bonus)
        items = [("referral", self._entry(entry_id, referrer_id, "referral", bonus, 0, now))]
        items.extend(self._account_items(referrer, now))
        return items

    def reverse(self, member_id: str, reversal: Reversal) -> ReversalResult:
        entry_id = reversal.key  # refund ids are only unique within their order

        def attempt() -> ReversalResult:
            first = self._get(f"ENTRY#{entry_id}", "ENTRY")
            if first is not None:
                return ReversalResult.model_validate_json(first["result"])
            now = self._clock()
            acc = self._load_owner(member_id).settle(now)
            order = self._get(f"ORDER#{reversal.order_id}", "ORDER")
            if order is None or self._owner_id(str(order["member_id"])) != acc.member_id:
                raise PlatformRefused("no such order for this member", code="order_not_found")
            earned = Earn.model_validate_json(order["earn"])
            reversed_qty: dict[str, int] = json.loads(order["reversed"])
            owed, spend_back = 0, Decimal(0)
            whole = reversal.cancel or not reversal.lines
            wanted = merge_refund_lines(reversal.lines)
            for line in earned.lines:
                before = reversed_qty.get(line.sku, 0)
                asked = line.quantity if whole else wanted.get(line.sku, 0)
                points, counted = reversal_points(line, before, asked)
                owed += points
                spend_back += refund_amount(line, before, counted)
                reversed_qty[line.sku] = before + counted
            order_points_reversed = bool(order["order_points_reversed"])
            if not order_points_reversed and all(
                reversed_qty.get(ln.sku, 0) >= ln.quantity for ln in earned.lines
            ):
                owed += earned.order_points
                order_points_reversed = True
            redeemed, returned_before = int(order["redeemed"]), int(order["returned"])
            returned = redeemed - returned_before if reversal.cancel else 0
            acc.available += returned
            acc.aged.credit(now, returned)
            items: list[tuple[str, TransactWriteItemTypeDef]] = []
            from_pending = 0
            lot = acc.lots.get(reversal.order_id)
            if lot is not None and owed:
                from_pending = min(lot.points, owed)
                lot.points -= from_pending
                if lot.points:
                    items.append(("lot", self._put(self._lot_item(acc.member_id, lot))))
                else:
                    del acc.lots[lot.order_id]
                    items.append(
                        (
                            "lot",
                            self._delete(
                                _member_pk(acc.member_id),
                                f"LOT#{lot.order_id}",
                                condition="attribute_exists(pk)",
                            ),
                        )
                    )
            from_balance = min(owed - from_pending, acc.available)
            acc.debit(from_balance)
            acc.available -= from_balance
            acc.lifetime_spend = max(acc.lifetime_spend - spend_back, Decimal(0))
            result = ReversalResult(
                points_reversed=from_pending + from_balance,
                points_returned=returned,
                shortfall=owed - from_pending - from_balance,
                balance=acc.balance,
            )
            order_version = int(order["version"])
            items.append(
                (
                    "order",
                    self._update(
                        f"ORDER#{reversal.order_id}",
                        "ORDER",
                        "SET reversed = :r, order_points_reversed = :o, returned = :ret, version = :next, "
                        "shortfall = if_not_exists(shortfall, :zero) + :short",
                        {
                            ":r": json.dumps(reversed_qty, sort_keys=True),
                            ":o": order_points_reversed,
                            ":ret": returned_before + returned,
                            ":next": order_version + 1,
                            ":seen": order_version,
                            ":zero": 0,
                            ":short": result.shortfall,
                        },
                        condition="version = :seen",
                    ),
                )
            )
            items.append(
                (
                    "entry",
                    self._entry(
                        entry_id,
                        acc.member_id,
                        "reversal",
                        returned - from_balance,
                        -from_pending,
                        now,
                        result.model_dump_json(),
                    ),
                )
            )
            items.extend(self._account_items(acc, now))
            try:
                self._transact(items)
            except _Cancelled as exc:
                raise _Retry from exc
            return result

        return self._retrying(attempt)

    # ------------------------------------------------------------------ rewards (R4)

    def rewards(self) -> list[Reward]:
        return sorted(self._rules.rewards, key=lambda reward: (reward.points, reward.reward_id))

    def redeem_reward(self, member_id: str, reward_id: str, *, idempotency_key: str) -> Coupon:
        entry_id = f"reward:{idempotency_key}"

        def attempt() -> Coupon:
            first = self._get(f"ENTRY#{entry_id}", "ENTRY")
            if first is not None:
                return Coupon.model_validate_json(first["result"])
            reward = self._rules.reward(reward_id)
            if reward is None:
                raise RewardNotFound("no such reward")
            now = self._clock()
            acc = self._load_owner(member_id).settle(now)
            if missing := self._missing_fields(acc):
                raise ProfileIncomplete("complete the profile to redeem points", missing=missing)
            if reward.points > acc.available:
                raise InsufficientPoints("not enough points for this reward")
            acc.debit(reward.points)
            acc.available -= reward.points
            coupon = Coupon(
                code=new_coupon_code(),
                member_id=acc.member_id,
                reward_id=reward.reward_id,
                name=reward.name,
                kind=reward.kind,
                value=reward.value,
                points=reward.points,
                issued_at=now,
            )
            items = [
                (
                    "entry",
                    self._entry(
                        entry_id, acc.member_id, "reward", -reward.points, 0, now, coupon.model_dump_json()
                    ),
                ),
                (
                    "coupon",
                    self._put(
                        {
                            "pk": f"COUPONS#{acc.member_id}",
                            # Newest last; the version orders coupons issued at the same instant.
                            "sk": f"{_iso(now)}#{acc.version:012d}#{coupon.code}",
                            "coupon": coupon.model_dump_json(),
                        },
                        condition="attribute_not_exists(pk)",
                    ),
                ),
                (
                    "code",
                    self._put(
                        {"pk": f"COUPON#{coupon.code}", "sk": "COUPON", "member_id": acc.member_id},
                        condition="attribute_not_exists(pk)",
                    ),
                ),
            ]
            items.extend(self._account_items(acc, now))
            try:
                self._transact(items)
            except _Cancelled as exc:
                raise _Retry from exc  # a twin request, a concurrent change or a code collision
            return coupon

        return self._retrying(attempt)

    def coupons(self, member_id: str) -> list[Coupon]:
        owner = self._owner_id(member_id)
        return [
            Coupon.model_validate_json(item["coupon"])
            for item in self._query(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"COUPONS#{owner}"}},
                ConsistentRead=True,
                ScanIndexForward=False,
            )
        ]

    # ------------------------------------------------------------------ card stock and profile read

    def import_cards(self, batch_id: str, numbers: Sequence[str]) -> CardImportResult:
        """Card stock (seed 000), idempotent by number: adapters/ledger_cards.py."""
        from loyalty_bridge.adapters.ledger_cards import import_cards

        return import_cards(self._db, self._table, batch_id, numbers, now=self._clock())

    def member_profile(self, member_id: str) -> LoyaltyProfile:
        """Seed 002: the member's profile and the required fields (A9) it lacks."""
        member = self.get_member(member_id)
        missing = self._rules.missing_profile_fields(member.profile)
        return LoyaltyProfile(member_id=member.member_id, profile=member.profile, missing_fields=missing)
