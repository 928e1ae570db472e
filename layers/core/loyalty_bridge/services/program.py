"""The program as data (R9, R11): admins read, replace and list its versions; storefronts
read it in words.

Version 1 is the template's ``EarnRulesJson`` (the seed) until an admin stores another:
reads never write, and the first PUT stores the seed as version 1 and the new program as
version 2 in one write, so the history starts where the deployment did. Each PUT is the
whole program, validated by ``ProgramRules`` (the model the ledger prices with), stored as
the next version with who (the admin key id) and when. Two PUTs at the same moment cannot
both take a number: the loser re-reads and takes the next one (the kind check included).

The kind (points or discount) may change only while no member exists
(``program_kind_locked``, 409).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import datetime

from loyalty_bridge import errors
from loyalty_bridge.models.program import (
    CategoryWay,
    ProductWay,
    ProgramVersion,
    ProgramVersionPage,
    ReferralOffer,
    SpendWay,
    StorefrontProgram,
    VisitWay,
    WayToEarn,
)
from loyalty_bridge.models.records import utcnow
from loyalty_bridge.observability import logger
from loyalty_bridge.ports import MemberPresence, ProgramSource, ProgramStore
from loyalty_bridge.program.earn_rules import (
    CategoryRule,
    EarnRule,
    ProductRule,
    ProgramRules,
    SpendRule,
)
from loyalty_bridge.services.program_words import describe

SEED_AUTHOR = "EarnRulesJson"
_PUT_TRIES = 5
_RETRY_PAUSE_SECONDS = 0.05  # times the attempt: lets the other writer's version land


class ProgramAdmin:
    def __init__(
        self,
        store: ProgramStore,
        members: MemberPresence,
        seed: ProgramRules,
        *,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._store = store
        self._members = members
        self._seed = seed
        self._clock = clock
        self._sleep = sleep

    def seed_version(self, stored_at: datetime | None = None) -> ProgramVersion:
        return ProgramVersion(version=1, program=self._seed, created_by=SEED_AUTHOR, created_at=stored_at)

    def current(self) -> ProgramVersion:
        return self._store.latest() or self.seed_version()

    def replace(self, program: ProgramRules, *, by: str) -> ProgramVersion:
        """Store ``program`` as the next version (ProgramKindLocked: a kind change once any
        member exists)."""
        for attempt in range(_PUT_TRIES):
            if attempt:
                self._sleep(_RETRY_PAUSE_SECONDS * attempt)
            latest = self._store.latest()
            base = latest or self.seed_version()
            if program.kind != base.program.kind and self._members.any_member():
                raise errors.ProgramKindLocked(
                    f"The program is a {base.program.kind} program and members exist: "
                    "its kind can no longer change.",
                    errors=[{"field": "kind", "message": "fixed once any member exists"}],
                )
            now = self._clock()
            stored = ProgramVersion(version=base.version + 1, program=program, created_by=by, created_at=now)
            try:
                self._store.add(stored, seed=None if latest else self.seed_version(now))
            except errors.Conflict:
                continue  # another PUT took the number: re-read and take the next one
            logger.info("program version stored", extra={"version": stored.version, "key_id": by})
            return stored
        raise errors.Conflict(
            "The program is being changed by other requests; try again.", code="program_version_conflict"
        )

    def versions(self, *, limit: int, cursor: str | None) -> ProgramVersionPage:
        found, next_cursor = self._store.versions(limit=limit, cursor=cursor)
        if not found and cursor is None:
            found = [self.seed_version()]  # nothing stored yet: the seed is version 1
        return ProgramVersionPage(versions=found, next_cursor=next_cursor)


# ---------------------------------------------------------------- the storefront's view (R11)


def way_to_earn(rule: EarnRule, currency: str) -> WayToEarn:
    fields = {**dict(rule), "description": describe(rule, currency)}
    if isinstance(rule, SpendRule):
        return SpendWay(**fields)
    if isinstance(rule, ProductRule):
        return ProductWay(**fields)
    if isinstance(rule, CategoryRule):
        return CategoryWay(**fields)
    return VisitWay(**fields)


def storefront_program(version: int, rules: ProgramRules) -> StorefrontProgram:
    return StorefrontProgram(
        version=version,
        kind=rules.kind,
        currency=rules.currency,
        point_value=rules.point_value,
        max_redeem_share=rules.max_redeem_share,
        # R9: a discount program earns no points.
        ways_to_earn=[]
        if rules.kind == "discount"
        else [way_to_earn(rule, rules.currency) for rule in rules.rules],
        tiers=list(rules.tiers),
        rewards=list(rules.rewards),
        expiry_months=rules.expiry_months,
        referral=ReferralOffer(bonus_points=rules.referral_bonus_points)
        if rules.referral_bonus_points
        else None,
    )


class StorefrontProgramView:
    """GET /v1/program: the program in force (cached by the source), rendered once per
    version, with a strong ETag over the rendered bytes."""

    def __init__(self, source: ProgramSource) -> None:
        self._source = source
        self._rendered: tuple[int, ProgramRules, str, str] | None = None

    def current(self) -> tuple[str, str]:
        """(JSON body, ETag)."""
        version, rules = self._source.current()
        cached = self._rendered
        if cached is None or cached[0] != version or cached[1] is not rules:
            body = storefront_program(version, rules).model_dump_json()
            etag = f'"{version}-{hashlib.sha256(body.encode()).hexdigest()[:20]}"'
            cached = self._rendered = (version, rules, body, etag)
        return cached[2], cached[3]
