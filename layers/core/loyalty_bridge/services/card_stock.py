"""Card stock (seed 000): the admin imports printed card numbers (JSON or a CSV file); each
valid number becomes an unregistered physical card on the platform, which a customer then
attaches online with an emailed code (A4: the card takes the customer's details).

Which numbers are importable (``screen``, every platform implementation applies it too) is
a program rule: ``program/card_stock.py``. Importing is idempotent by number: a repeated
batch (same ``batch_id`` or not) imports nothing twice, it reports the numbers as
``already_known``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from loyalty_bridge import errors
from loyalty_bridge.models.card_stock import (
    MAX_CARDS_PER_REQUEST,
    CardImportRequest,
    CardImportResult,
)
from loyalty_bridge.observability import logger
from loyalty_bridge.ports import LoyaltyPlatform
from loyalty_bridge.program.card_stock import result, screen


def csv_numbers(text: str) -> list[str]:
    """One number a line (first column of a CSV row); blank lines skipped; the first line is
    a header when it holds no digit at all (e.g. ``card_number``)."""
    numbers: list[str] = []
    for index, line in enumerate(text.splitlines()):
        field = line.split(",", 1)[0].split(";", 1)[0].strip().strip('"').strip()
        if not field:
            continue
        if index == 0 and not any(ch.isdigit() for ch in field):
            continue
        numbers.append(field)
    return numbers


class CardStock:
    def __init__(self, platform: LoyaltyPlatform) -> None:
        self._platform = platform

    def import_batch(self, batch_id: str, numbers: Sequence[str]) -> CardImportResult:
        if not numbers:
            raise errors.InvalidInput(  # an empty CSV, or only its header: no schema can say so
                "The import has no card numbers.",
                code="no_card_numbers",
                errors=[{"field": "cards", "message": "no numbers"}],
            )
        if len(numbers) > MAX_CARDS_PER_REQUEST:
            raise errors.InvalidInput(
                f"At most {MAX_CARDS_PER_REQUEST} card numbers a request; split the file.",
                code="too_many_cards",
                errors=[{"field": "cards", "message": f"{len(numbers)} numbers"}],
            )
        screened = screen(numbers)
        if screened.valid:
            stored = self._platform.import_cards(batch_id, screened.valid)
        else:
            stored = CardImportResult(batch_id=batch_id, imported=0, already_known=0)
        answer = result(
            batch_id,
            stored.imported,
            stored.already_known,
            screened.invalid + stored.invalid,  # the platform may refuse numbers of its own
            len(screened.invalid) + stored.invalid_count,
        )
        logger.info(
            "card stock imported",
            extra={
                "batch_id": batch_id,
                "imported": answer.imported,
                "already_known": answer.already_known,
                "invalid": answer.invalid_count,
            },
        )
        return answer


def import_request(content_type: str | None, text: str, batch_id: str | None) -> tuple[str, list[str]]:
    """The batch id and numbers of a POST /v1/admin/cards/import: a JSON CardImportRequest,
    or a ``text/csv`` body (one number a line) with ``?batch_id=``."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "text/csv":
        if not batch_id:
            raise errors.InvalidInput(  # required with text/csv only: the schema cannot say so
                "A CSV import needs ?batch_id=.",
                code="batch_id_required",
                errors=[{"field": "batch_id", "message": "required"}],
            )
        return batch_id, csv_numbers(text)
    try:
        body = CardImportRequest.model_validate_json(text or "{}")
    except ValidationError as exc:
        raise errors.InvalidInput(
            "The request has invalid or missing fields.",
            errors=[
                {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
                for e in exc.errors(include_input=False, include_url=False)[:20]
            ],
        ) from None
    if batch_id and batch_id != body.batch_id:
        raise errors.InvalidInput(
            "?batch_id= and the body's batch_id differ.", errors=[{"field": "batch_id", "message": "differs"}]
        )
    return body.batch_id, list(body.cards)
