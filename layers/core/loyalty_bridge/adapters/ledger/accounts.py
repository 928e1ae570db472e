"""Reading a member's partition into a ``program.account.Account`` and writing one back:
the version-checked ACCOUNT update with the settlement it carries (expired holds, matured
pending points, expired points), the expiry sweep (R3) and the member as the port shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from loyalty_bridge.adapters.ledger.table import (
    EXPIRY_INDEX,
    Item,
    LedgerTable,
    iso,
    member_pk,
    parse_time,
)
from loyalty_bridge.errors import MemberNotFound, PlatformError
from loyalty_bridge.models.domain import Card, CardKind, CardState, Consents, Member, MemberProfile
from loyalty_bridge.program.account import (
    Account,
    HeldPoints,
    PendingLot,
    check_arithmetic,
    settle,
    settlement_entries,
)
from loyalty_bridge.program.point_lots import PointLots

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

_MAX_MERGE_CHAIN = 10


@dataclass(kw_only=True)
class StoredAccount(Account):
    """An account as read from LedgerTable, with its PROFILE item."""

    profile: Item = field(default_factory=dict)


@dataclass
class _Partition:
    """A member partition that is not a whole account: a PROFILE without an ACCOUNT, or
    nothing (``profile`` empty)."""

    profile: Item


def _hold_row(member_id: str, item: Item) -> HeldPoints:
    return HeldPoints(
        redemption_id=item["redemption_id"],
        member_id=member_id,
        points=int(item["points"]),
        discount=Decimal(item["discount"]),
        expires_at=parse_time(item["expires_at"]),
        state=item["state"],
        cart=item.get("cart"),
    )


def _lot_row(item: Item) -> PendingLot:
    return PendingLot(
        order_id=item["order_id"], points=int(item["points"]), available_at=parse_time(item["available_at"])
    )


class LedgerAccounts(LedgerTable):
    """Accounts in and out of LedgerTable."""

    # ------------------------------------------------------------------ reading a member

    def _load(self, member_id: str, *, follow_merge: bool = False) -> StoredAccount:
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

    def _load_owner(self, member_id: str) -> StoredAccount:
        return self._load(member_id, follow_merge=True)

    def _partition(self, member_id: str) -> StoredAccount | _Partition:
        """The member's account, or what was found when it is not a whole account."""
        profile: Item | None = None
        account: Item | None = None
        holds: dict[str, HeldPoints] = {}
        lots: dict[str, PendingLot] = {}
        for item in self._query_partition(member_pk(member_id)):
            sk = item["sk"]
            if sk == "PROFILE":
                profile = item
            elif sk == "ACCOUNT":
                account = item
            elif sk.startswith("HOLD#"):
                row = _hold_row(member_id, item)
                holds[row.redemption_id] = row
            elif sk.startswith("LOT#"):
                lot = _lot_row(item)
                lots[lot.order_id] = lot
        if profile is None or account is None:
            return _Partition(profile=profile or {})
        missing = self._rules.missing_profile_fields(MemberProfile.model_validate_json(profile["profile"]))
        return StoredAccount(
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
            missing=missing,
            accumulate_only=bool(missing),
            referral_code=profile.get("referral_code"),
            referred_by=profile.get("referred_by"),
            card_blocked=profile.get("card_state") == CardState.BLOCKED.value,  # A10
        )

    def _owner_id(self, member_id: str) -> str:
        """A8: a merged (blocked) member's points live with the member it was merged into."""
        current = member_id
        for _ in range(_MAX_MERGE_CHAIN):
            profile = self._get(member_pk(current), "PROFILE")
            if profile is None:
                raise MemberNotFound("no such loyalty member", code="member_not_found")
            merged_into = profile.get("merged_into")
            if not merged_into:
                return current
            current = str(merged_into)
        raise PlatformError("merge chain too long", code="ledger_error")

    def _owner_of(self, member_id: str, loaded: StoredAccount) -> str:
        """``_owner_id`` without a read when ``member_id`` is the account already loaded
        (an unmerged member: the usual case)."""
        if member_id == loaded.member_id and not loaded.profile.get("merged_into"):
            return member_id
        return self._owner_id(member_id)

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

    def _member(self, member_id: str) -> Member:
        pk = member_pk(member_id)
        found = self._get_many((pk, "PROFILE"), (pk, "ACCOUNT"))  # one read
        profile, account = found.get((pk, "PROFILE")), found.get((pk, "ACCOUNT"))
        if profile is None or account is None:
            raise MemberNotFound("no such loyalty member", code="member_not_found")
        return self._member_from(profile, Decimal(account["lifetime_spend"]))

    # ------------------------------------------------------------------ writing a balance

    def _account_items(self, acc: Account, now: datetime) -> list[tuple[str, TransactWriteItemTypeDef]]:
        """The version-checked ACCOUNT update plus the settlement it carries."""
        check_arithmetic(acc)
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
            values |= {":gp": EXPIRY_INDEX, ":gs": f"{first_expiry.isoformat()}#{acc.member_id}"}
        else:
            expression += " REMOVE gsi1pk, gsi1sk"
        pk = member_pk(acc.member_id)
        items: list[tuple[str, TransactWriteItemTypeDef]] = [
            ("account", self._update(pk, "ACCOUNT", expression, values, condition="version = :seen"))
        ]
        for entry in settlement_entries(acc):
            items.append(("settle", self._entry(entry, now)))
        for row in acc.closed:
            items.append(("settle", self._close_hold(acc.member_id, row.redemption_id, row.state, now)))
        for lot in acc.matured:
            items.append(("settle", self._delete_lot(acc.member_id, lot)))
        return items

    def _lot_item(self, member_id: str, lot: PendingLot) -> Item:
        return {
            "pk": member_pk(member_id),
            "sk": f"LOT#{lot.order_id}",
            "order_id": lot.order_id,
            "points": lot.points,
            "available_at": iso(lot.available_at),
        }

    def _delete_lot(self, member_id: str, lot: PendingLot) -> TransactWriteItemTypeDef:
        return self._delete(member_pk(member_id), f"LOT#{lot.order_id}", condition="attribute_exists(pk)")

    def entries(self, member_id: str) -> list[Item]:
        """The member's ledger entries, oldest first (history; property tests)."""
        return list(self._query_index(f"ENTRIES#{member_id}"))

    # ------------------------------------------------------------------ settling for a read (R3)

    def _owner_now(self, member_id: str) -> tuple[StoredAccount, datetime]:
        """The account a change writes to, settled as of the change's time, which is taken
        after the read: a change that read the newest version is never dated before the
        entry it follows (the history is ordered by time); one that read an older version
        fails its version check and tries again with a new time."""
        acc = self._load_owner(member_id)
        now = self._clock()
        return settle(acc, now), now

    def _settled(self, member_id: str, now: datetime) -> StoredAccount:
        """The member's account as of ``now`` for a read. Expiry changes the balance, so
        points found expired are written off first (one transaction), never only shown."""
        acc = settle(self._load_owner(member_id), now, limit=None)
        if acc.expired:
            self._write_off_expired(acc.member_id, now)
            acc = settle(self._load(acc.member_id), now, limit=None)
        return acc

    def _write_off_expired(self, member_id: str, now: datetime) -> int:
        """Persist the settlement of ``member_id`` (expired points, expired holds, matured
        points) when points expired; the points written off."""

        def attempt() -> int:
            acc = settle(self._load(member_id), now)
            if not acc.expired:
                return 0
            self._transact_or_retry(self._account_items(acc, now))
            return acc.expired

        return self._retrying(attempt)

    def expire_points(self, now: datetime | None = None, *, limit: int = 500) -> int:
        """The sweeper (R3): write off the points expired by ``now`` of up to ``limit``
        members due (the rest on the next run). Answers how many members lost points."""
        moment = now or self._clock()
        due = self._query_index(EXPIRY_INDEX, until=moment.astimezone(UTC).date().isoformat() + "~")
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
        return settle(self._load_owner(member_id), self._clock(), limit=None).aged.as_dict()
