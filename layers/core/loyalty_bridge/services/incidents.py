"""Failures that need a human (PRODUCT.md "Errors that need a human"; P2).

``IncidentReporter.report(record)`` stores the failure once per ``error_id`` and, when
``settings.notify_admins``, emails the admins ONCE: which of the four categories, what was
attempted, for whom (masked), what the platform answered, what to do (``record.action``),
where to read the full change (``error_route``: the admin read of one error) and how to
replay. The email never carries unmasked contact data (docs/SECURITY.md).

Callers build the ErrorRecord with a deterministic ``error_id`` (``privacy.error_id_for``) and a
``replay`` = ``{"queue": "membership"|"profile_sync"|"order", "body": <envelope dict>}``.
Workers that process a replayed message (``Envelope.replay_of``) call ``resolve`` once it
went through.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from loyalty_bridge import errors
from loyalty_bridge.models.records import ErrorRecord, ErrorStatus
from loyalty_bridge.observability import MetricName, logger
from loyalty_bridge.ports import ErrorStore, Mailer, Metrics
from loyalty_bridge.privacy import masked_text, masked_value, pseudonym
from loyalty_bridge.settings import Settings


def _render(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value or "(empty)"
    return json.dumps(value, sort_keys=True, default=str)


def masked_change(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[str]:
    """One line per changed field: ``name: before -> after`` (emails and phones masked)."""
    before = before or {}
    after = after or {}
    lines = []
    for field in sorted(set(before) | set(after)):
        old = _render(masked_value(field, before.get(field)))
        new = _render(masked_value(field, after.get(field)))
        lines.append(f"  {field}: {old} -> {new}")
    return lines


def error_route(error_id: str) -> str:
    """The admin route that reads one error in full, its id URL-encoded as the path needs."""
    return f"/v1/admin/errors/{quote(error_id, safe='')}"


def subject_for(record: ErrorRecord, stage: str) -> str:
    who = f" for customer {record.customer_id}" if record.customer_id else ""
    return f"[loyalty-bridge {stage}] {record.category.label}: {record.attempted[:80]}{who}"[:200]


def email_text(record: ErrorRecord, stage: str) -> str:
    lines = [
        f"{record.category.label}",
        "",
        f"What was attempted: {record.attempted}",
        f"For: customer {record.customer_id or '(unknown)'}"
        + (f", {record.subject_id}" if record.subject_id else ""),
        f"What the platform answered: {masked_text(record.platform_answer) or '(no answer)'}",
    ]
    read_route = error_route(record.error_id)
    if record.change_before is not None or record.change_after is not None:
        change = masked_change(record.change_before, record.change_after)
        lines += ["", "The change (before -> after; emails and phones masked, in full below):", *change]
    lines += [
        "",
        f"What to do: {record.action}",
        "",
        f"Error id: {record.error_id}",
        f"Read it in full (the whole change, unmasked) with an admin key: GET {read_route}",
        f"First seen: {record.created_at.isoformat()} (stage {stage})",
        f"To replay after the fix: POST {read_route}/replay with an admin key; "
        "list open errors with GET /v1/admin/errors?status=open.",
        "",
        "You get one email per error; repeats of the same failure are counted on the record.",
    ]
    return "\n".join(lines)


class IncidentReporter:
    """Stores failures that need a human and tells the admins once."""

    def __init__(self, store: ErrorStore, mailer: Mailer, settings: Settings, *, metrics: Metrics) -> None:
        self._store = store
        self._mailer = mailer
        self._settings = settings
        self._metrics = metrics

    def report(self, record: ErrorRecord) -> bool:
        """Store ``record`` once per error id; email the admins once. True when it is new.

        A mail failure that retrying can fix raises errors.Retryable (the caller's message goes
        back to its queue and the next report sends the email); any other mail failure is
        logged and the record stays listable.
        """
        new = self._store.record(record)
        log_context = {
            "error_id": record.error_id,
            "category": record.category.value,
            "customer": pseudonym(record.customer_id),
            "new": new,
        }
        if new:
            self._metrics.count_by(MetricName.ERRORS_RECORDED, category=record.category.value)
            logger.warning("incident recorded", extra=log_context)
        else:
            logger.info("incident repeated", extra=log_context)
        self._notify(record)
        return new

    def _notify(self, record: ErrorRecord) -> None:
        if not self._settings.notify_admins or not self._settings.admin_emails:
            return
        if not self._store.claim_notification(record.error_id):
            return  # already emailed (or being emailed by a concurrent delivery)
        stored = self._store.get(record.error_id) or record
        try:
            self._mailer.send(
                to=list(self._settings.admin_emails),
                subject=subject_for(stored, self._settings.stage),
                text=email_text(stored, self._settings.stage),
            )
        except Exception as exc:
            self._store.release_notification(record.error_id)
            if errors.is_retryable(exc):
                raise errors.Retryable("could not email the admins yet", error_id=record.error_id) from exc
            logger.error(
                "incident email refused",
                extra={"error_id": record.error_id, "error_type": type(exc).__name__},
            )

    def resolve(self, error_id: str | None, *, note: str = "replayed successfully") -> bool:
        """Mark a replayed failure resolved (workers call it when ``replay_of`` went through).
        False when there is nothing to resolve."""
        if not error_id:
            return False
        try:
            self._store.set_status(error_id, ErrorStatus.RESOLVED.value, note=note)
        except errors.NotFound:
            logger.warning("replayed error not found", extra={"error_id": error_id})
            return False
        logger.info("incident resolved", extra={"error_id": error_id})
        return True

    def replay_failed(self, error_id: str | None, *, note: str = "replay failed") -> bool:
        """A replay did not go through: the error is open again (the new failure, if it has
        another id, is reported separately)."""
        if not error_id:
            return False
        try:
            self._store.set_status(error_id, ErrorStatus.OPEN.value, note=note)
        except errors.NotFound:
            return False
        return True
