"""Member import (seed 002), the program's side: which lines are importable and what an
imported member's account opens with. The built-in ledger (adapters/ledger/imports.py) and
the test platform call these, so both refuse, open and replay alike.

A line is importable (``screen_line``) when its card number is a card number (digits,
8-19 of them, Luhn check digit), the card is not on an earlier line of the file, and every
field is well formed: an E.164 mobile, an email, names, a birthday, a balance of zero or
more, lots (points with the old program's expiry date, ``100@2027-03-31;50@2027-06-30`` in
a CSV) adding up to at most the balance (the rest never expires), a lifetime spend. A bad
line is refused with its reason; it never stops the others.

An imported member (``open_account``) is unlinked (no web account: a customer takes it
over by verifying the mobile, A7/A8), carries what the line knew of the person, and
opens with ONE entry keyed by its card (``opening:{card}``): the balance as
``opening`` (counted apart in the statistics, never as earned), the lots with their dates,
the lifetime spend for tiers. The entry keeps the import id and line, so the same line again
answers ``created`` within that import (a retried chunk), another line of that import with
the same card ``duplicate_card`` (even in a later chunk), and any other import
``already_there`` (a repeated file changes nothing).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from loyalty_bridge.models.domain import ActivityKind, MemberProfile
from loyalty_bridge.models.member_import import (
    FIELDS,
    LineOutcome,
    MemberImportResult,
    MemberLine,
    RefusalReason,
)
from loyalty_bridge.program import card_numbers
from loyalty_bridge.program.account import Account, Entry
from loyalty_bridge.program.card_stock import reason_refused

_FIELD_REASONS: dict[str, RefusalReason] = {
    "card_number": "bad_check_digit",
    "mobile": "bad_mobile",
    "email": "bad_email",
    "lots": "bad_lots",
}


def opening_entry_id(card_number: str) -> str:
    return f"opening:{card_number}"


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_lots(value: object) -> object:
    """A CSV's ``points@yyyy-mm-dd`` separated by ``;`` (or ``|``), or JSON's list of
    ``{points, expires_on}``; anything else is left for validation to refuse."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            return value
    lots: list[dict[str, str]] = []
    for part in text.replace("|", ";").split(";"):
        if not part.strip():
            continue
        points, sep, day = part.partition("@")
        if not sep:
            return value
        lots.append({"points": points.strip(), "expires_on": day.strip()})
    return lots


def screen_line(line: int, raw: Mapping[str, Any], seen: set[str]) -> MemberLine | LineOutcome:
    """One line of a file (its fields by name): a MemberLine, or why it is refused.
    ``seen`` holds the card numbers of the earlier lines; a valid line's number is added."""
    shown = str(raw.get("card_number") or "").strip()[:64]
    number = card_numbers.normalize(shown)
    if not number or reason_refused(number) is not None:
        return refused(line, shown, "bad_check_digit", "card_number")
    if number in seen:
        return refused(line, shown, "duplicate_card", "card_number")
    unknown = sorted(str(name) for name in raw if name not in FIELDS)
    if unknown:
        return refused(line, shown, "bad_field", ", ".join(unknown)[:200])
    fields = {name: value for name, value in raw.items() if not _blank(value)}
    fields["card_number"] = number
    if "lots" in fields:
        fields["lots"] = parse_lots(fields["lots"])
    balance = fields.get("balance")
    if isinstance(balance, str) and balance.strip().lstrip("-").isdigit():
        fields["balance"] = int(balance.strip())
    if isinstance(fields.get("balance"), int) and fields["balance"] < 0:
        return refused(line, shown, "negative_balance", "balance")
    try:
        member = MemberLine.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        field = str(first["loc"][0]) if first["loc"] else "line"
        return refused(line, shown, _FIELD_REASONS.get(field, "bad_field"), field)
    if sum(lot.points for lot in member.lots) > member.balance:
        return refused(line, shown, "bad_lots", "lots add up to more than the balance")
    seen.add(number)
    return member


def refused(line: int, card_number: str, reason: RefusalReason, detail: str | None = None) -> LineOutcome:
    return LineOutcome(line=line, card_number=card_number, outcome="refused", reason=reason, detail=detail)


def profile_of(line: MemberLine) -> MemberProfile:
    """What the import knew of the person (the profile form is prefilled with it, A11)."""
    return MemberProfile(
        email=line.email or "",
        first_name=line.first_name,
        last_name=line.last_name,
        mobile=line.mobile,
        birthday=line.birthday,
    )


def open_account(acc: Account, line: MemberLine, import_id: str, number: int) -> Entry:
    """Open a new member's account with the line's balance, lots and spend: its one entry."""
    acc.available += line.balance
    for lot in line.lots:
        acc.aged.credit_until(lot.expires_on, lot.points)
    acc.lifetime_spend += line.lifetime_spend
    return Entry(
        entry_id=opening_entry_id(line.card_number),
        member_id=acc.member_id,
        kind="opening",
        delta=line.balance,
        result=json.dumps({"import_id": import_id, "line": number}),
        activity=ActivityKind.OPENING,
        points_in=line.balance,
        balance_after=acc.balance,
        reason=line.source_program or None,
    )


def first_import(result: str) -> tuple[str, int]:
    """The import id and line an opening entry's ``result`` records."""
    first = json.loads(result or "{}")
    return str(first.get("import_id", "")), int(first.get("line", 0))


def outcome_of_known(
    line: int, card_number: str, member_id: str, first: tuple[str, int], import_id: str
) -> LineOutcome:
    """The line's card opened already: by this very line of this import (a retried chunk:
    answered as the first time), by an earlier line of it (a duplicate card), or by
    another import (a repeated file)."""
    if first[0] == import_id:
        if first[1] == line:
            return created(line, card_number, member_id)
        return refused(line, card_number, "duplicate_card", f"card_number (line {first[1]})")
    return LineOutcome(line=line, card_number=card_number, outcome="already_there", member_id=member_id)


def created(line: int, card_number: str, member_id: str) -> LineOutcome:
    return LineOutcome(line=line, card_number=card_number, outcome="created", member_id=member_id)


def result(import_id: str, outcomes: Sequence[LineOutcome]) -> MemberImportResult:
    ordered = sorted(outcomes, key=lambda o: o.line)
    return MemberImportResult(
        import_id=import_id,
        lines=len(ordered),
        created=sum(o.outcome == "created" for o in ordered),
        already_there=sum(o.outcome == "already_there" for o in ordered),
        refused=sum(o.outcome == "refused" for o in ordered),
        outcomes=ordered,
    )
