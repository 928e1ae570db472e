"""Members and cards of the built-in ledger: create (A1), find, attach a card (A4), update
the profile and consents, and the card stock (A4). Merging cards (A8) is ``merges.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_bridge.adapters.aws_errors import error_code
from loyalty_bridge.adapters.ledger.accounts import LedgerAccounts
from loyalty_bridge.adapters.ledger.table import (
    Cancelled,
    Item,
    Retry,
    from_av,
    iso,
    key,
    member_pk,
    to_av,
)
from loyalty_bridge.errors import CardNotAttachable, DuplicateMember, InvalidInput, MemberNotFound
from loyalty_bridge.models.card_stock import CardImportResult
from loyalty_bridge.models.domain import CardKind, CardState, Consents, Member, MemberProfile, ProfileChanges
from loyalty_bridge.models.loyalty_profile import LoyaltyProfile
from loyalty_bridge.program import card_numbers
from loyalty_bridge.program.members import changed_profile, normalize_email
from loyalty_bridge.program.referrals import new_referral_code, normalize_referral_code

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


class LedgerMembers(LedgerAccounts):
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

        tries = 0

        def attempt() -> Member:
            nonlocal tries
            tries += 1
            # A first delivery reads nothing first: a repeated request's transaction is
            # cancelled on its request item, and the retry answers the member it made.
            first = self._get(request_pk, "REQUEST") if tries > 1 else None
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
            except Cancelled as exc:
                if "request" in exc.failed:
                    raise Retry from exc  # a twin request won: answer like it did
                if "email" in exc.failed:
                    raise DuplicateMember(field="email") from exc
                raise Retry from exc  # card number or referral code collision: draw again
            # The member as written (a new account: no spend yet), not read back.
            written = dict(items)["profile"]["Put"]["Item"]
            return self._member_from(from_av(written), Decimal(0))

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
        pk = member_pk(member_id)
        referral_code = new_referral_code()
        profile_item = self._profile_item(
            member_id, number, kind, profile, consents, referral_code, referred_by
        )
        account_item: Item = {
            "pk": pk,
            "sk": "ACCOUNT",
            "available": 0,
            "held": 0,
            "lifetime_spend": Decimal(0),
            "points_by_day": "{}",
            "version": 0,
        }
        email_pk = f"EMAIL#{normalize_email(profile.email)}"
        return [
            ("profile", self._put_new(profile_item)),
            ("account", self._put_new(account_item)),
            (
                "referral",
                self._put_new({"pk": f"REFERRAL#{referral_code}", "sk": "REFERRAL", "member_id": member_id}),
            ),
            ("email", self._put_new({"pk": email_pk, "sk": "EMAIL", "member_id": member_id})),
            ("request", self._request(request_pk, member_id)),
            (
                "card",
                self._new_card(number, kind, member_id)
                if new_card
                else self._register_card(number, member_id),
            ),
        ]

    def _profile_item(
        self,
        member_id: str,
        number: str,
        kind: CardKind,
        profile: MemberProfile,
        consents: Consents,
        referral_code: str,
        referred_by: str | None,
    ) -> Item:
        pk = member_pk(member_id)
        item: Item = {
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
            "created_at": iso(self._clock()),
        }
        if profile.mobile:
            item |= {"gsi1pk": f"MOBILE#{profile.mobile}", "gsi1sk": pk}
        return item

    def _new_card(self, number: str, kind: CardKind, member_id: str) -> TransactWriteItemTypeDef:
        return self._put_new(
            {
                "pk": f"CARD#{number}",
                "sk": "CARD",
                "number": number,
                "kind": kind.value,
                "state": CardState.ACTIVE.value,
                "member_id": member_id,
            }
        )

    def _register_card(self, number: str, member_id: str) -> TransactWriteItemTypeDef:
        """A4: a printed card of the stock becomes the new member's card."""
        return self._update(
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
        )

    def _card(self, raw: str) -> Item | None:
        number = card_numbers.normalize(raw)
        return self._get(f"CARD#{number}", "CARD") if card_numbers.is_valid(number) else None

    def get_member(self, member_id: str) -> Member:
        return self._member(member_id)

    def find_members(
        self, *, card_number: str | None = None, email: str | None = None, mobile: str | None = None
    ) -> list[Member]:
        if card_number is None and email is None and mobile is None:
            raise InvalidInput("give a card number, an email or a mobile")
        found: set[str] | None = None
        if card_number is not None:
            card = self._card(card_number)
            found = {str(card["member_id"])} if card and card.get("member_id") else set()
        if email is not None:
            owner = self._get(f"EMAIL#{normalize_email(email)}", "EMAIL") if email.strip() else None
            ids = {str(owner["member_id"])} if owner else set()
            found = ids if found is None else found & ids
        if mobile is not None:
            ids = {str(item["member_id"]) for item in self._query_index(f"MOBILE#{mobile}")}
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
            card = self._card(number)
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
                except Cancelled as exc:
                    if exc.failed & {"request", "card", "referral"}:
                        raise Retry from exc  # a twin request or someone else registered it first
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

    def update_profile(self, member_id: str, changes: ProfileChanges, *, idempotency_key: str) -> Member:
        return self.update_profile_recorded(member_id, changes, idempotency_key=idempotency_key, record=())[0]

    def update_profile_recorded(
        self,
        member_id: str,
        changes: ProfileChanges,
        *,
        idempotency_key: str,
        record: Sequence[TransactWriteItemTypeDef],
        read: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> tuple[Member, bool]:
        """``update_profile`` writing ``record`` (the bridge's sync state of the change) in
        its transaction (services/new_changes.RecordsSyncState); whether it was. A record
        whose condition fails (a newer version is marked) is left out, not retried.
        ``read``: the items at ``profile_reads(member_id)`` as the caller read them with its
        own (services/profile_sync.py). The first attempt uses them and reads nothing: an
        earlier answer of the key cancels its transaction on the request's item, a profile
        changed since on its version, and either sends it back to a fresh read."""
        request_pk = f"REQUEST#update#{idempotency_key}"
        state = [("state", item) for item in record]
        pk = member_pk(member_id)
        ahead: list[dict[tuple[str, str], Item]] = []
        if read and read[0] is not None:  # a member not found ahead is looked for afresh
            at = ((pk, "PROFILE"), (pk, "ACCOUNT"))
            ahead.append({where: from_av(item) for where, item in zip(at, read, strict=True) if item})

        def attempt() -> tuple[Member, bool]:
            if ahead:
                found = ahead.pop()
            else:  # the earlier answer, the profile and the account in one read
                found = self._get_many((request_pk, "REQUEST"), (pk, "PROFILE"), (pk, "ACCOUNT"))
            first = found.get((request_pk, "REQUEST"))
            if first is not None:
                return Member.model_validate_json(first["result"]), False
            current = found.get((pk, "PROFILE"))
            if current is None:
                raise MemberNotFound("no such loyalty member", code="member_not_found")
            old = MemberProfile.model_validate_json(current["profile"])
            new = changed_profile(old, changes)
            old_email, new_email = normalize_email(old.email), normalize_email(new.email)
            items = [("profile", self._profile_update(member_id, current, new))]
            if new_email != old_email:
                items.append(
                    (
                        "email",
                        self._put_new({"pk": f"EMAIL#{new_email}", "sk": "EMAIL", "member_id": member_id}),
                    )
                )
                items.append(("old_email", self._delete(f"EMAIL#{old_email}", "EMAIL")))
            account = found.get((pk, "ACCOUNT"))
            lifetime = Decimal(account["lifetime_spend"]) if account else Decimal(0)
            result = self._member_from(current | {"profile": new.model_dump_json()}, lifetime)
            items.append(("request", self._request(request_pk, member_id, result=result.model_dump_json())))
            try:
                written = self._transact_optional(items, state)
            except Cancelled as exc:
                if exc.failed == {"email"}:
                    raise DuplicateMember(field="email") from exc
                raise Retry from exc
            return result, written

        return self._retrying(attempt)

    def profile_reads(self, member_id: str) -> list[dict[str, Any]]:
        """What a profile update of ``member_id`` reads besides its request's earlier answer
        (the member's profile and account), for a caller that reads them with its own in
        one call (services/new_changes.ReadsForProfile)."""
        pk = member_pk(member_id)
        return [{"TableName": self._table, "Key": key(pk, sk)} for sk in ("PROFILE", "ACCOUNT")]

    def _profile_update(self, member_id: str, current: Item, new: MemberProfile) -> TransactWriteItemTypeDef:
        pversion = int(current.get("pversion", 0))
        expression = "SET profile = :p, email = :e, pversion = :next"
        values: dict[str, Any] = {
            ":p": new.model_dump_json(),
            ":e": normalize_email(new.email),
            ":next": pversion + 1,
            ":seen": pversion,
        }
        if new.mobile:
            expression += ", gsi1pk = :g, gsi1sk = :gs"
            values |= {":g": f"MOBILE#{new.mobile}", ":gs": member_pk(member_id)}
        else:
            expression += " REMOVE gsi1pk, gsi1sk"
        return self._update(
            member_pk(member_id),
            "PROFILE",
            expression,
            values,
            condition="attribute_not_exists(pversion) OR pversion = :seen",
        )

    def set_consents(self, member_id: str, consents: Consents, *, idempotency_key: str) -> None:
        self.set_consents_recorded(member_id, consents, idempotency_key=idempotency_key, record=())

    def set_consents_recorded(
        self,
        member_id: str,
        consents: Consents,
        *,
        idempotency_key: str,
        record: Sequence[TransactWriteItemTypeDef],
    ) -> bool:
        """``set_consents`` with the change's sync state, as ``update_profile_recorded``."""
        request_pk = f"REQUEST#consents#{idempotency_key}"
        # No read first: a replay's transaction is cancelled on its request item alone.
        items = [
            (
                "profile",
                self._update(
                    member_pk(member_id),
                    "PROFILE",
                    "SET consents = :c",
                    {":c": consents.model_dump_json()},
                    condition="attribute_exists(pk)",
                ),
            ),
            ("request", self._request(request_pk, member_id)),
        ]
        try:
            return self._transact_optional(items, [("state", item) for item in record])
        except Cancelled as exc:
            if "profile" in exc.failed:
                raise MemberNotFound("no such loyalty member", code="member_not_found") from exc
            return False  # "request" only: a twin call already did it

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
            item = {
                "pk": f"CARD#{number}",
                "sk": "CARD",
                "number": number,
                "kind": CardKind.PHYSICAL.value,
                "state": CardState.UNREGISTERED.value,
            }
            try:
                self._db.put_item(
                    TableName=self._table, Item=to_av(item), ConditionExpression="attribute_not_exists(pk)"
                )
                added += 1
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    self._fail(exc, "card import")
            except BotoCoreError as exc:
                self._fail(exc, "card import")
        return added

    def import_cards(self, batch_id: str, numbers: Sequence[str]) -> CardImportResult:
        """Card stock (seed 000), idempotent by number: adapters/ledger/cards.py."""
        from loyalty_bridge.adapters.ledger.cards import import_cards

        return import_cards(self._db, self._table, batch_id, numbers, now=self._clock())

    def member_profile(self, member_id: str) -> LoyaltyProfile:
        """Seed 002: the member's profile and the required fields (A9) it lacks."""
        member = self.get_member(member_id)
        missing = self._rules.missing_profile_fields(member.profile)
        return LoyaltyProfile(member_id=member.member_id, profile=member.profile, missing_fields=missing)
