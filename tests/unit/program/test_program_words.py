"""Ways to earn in words (R11): each rule of a program as the sentence a storefront shows,
and the storefront's view of the program (sets sorted, ETag over what is rendered)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from bridge_local.__main__ import SAMPLE_PROGRAM
from loyalty_bridge.program.earn_rules import ProgramRules
from loyalty_bridge.services.program import StorefrontProgramView, storefront_program
from loyalty_bridge.services.program_words import describe, money
from tests.fakes import FixedProgramSource


def rule_words(rule: dict[str, object], currency: str = "GBP") -> str:
    program = ProgramRules.model_validate({"currency": currency, "rules": [rule]})
    return describe(program.rules[0], currency)


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ({"kind": "spend", "points": 1, "per": 1}, "1 point per £1 spent"),
        ({"kind": "spend", "points": 3, "per": 10}, "3 points per £10 spent"),
        ({"kind": "spend", "points": "0.5", "per": "2.50"}, "0.5 points per £2.50 spent"),
        ({"kind": "sku", "skus": ["COFFEE-1"], "points_per_item": 5}, "5 points for every COFFEE-1"),
        (
            {"kind": "sku", "skus": ["TEA-2", "COFFEE-1"], "points_per_item": 1},
            "1 point for every COFFEE-1 or TEA-2",
        ),
        (
            {"kind": "category", "categories": ["Garden"], "points": 2, "per": 1},
            "2 points per £1 spent on Garden",
        ),
        (
            {"kind": "category", "categories": ["Garden", "Books"], "points_per_item": 4},
            "4 points for every item in Books or Garden",
        ),
        (
            {"kind": "category", "categories": ["Garden"], "points_per_item": 1, "points": 2, "per": 5},
            "1 point for every item in Garden and 2 points per £5 spent on Garden",
        ),
        ({"kind": "visit", "points": 10}, "10 points for every order"),
        ({"kind": "visit", "points": 10, "channels": ["store"]}, "10 points for every order in store"),
        (
            {"kind": "spend", "points": 1, "per": 1, "channels": ["webshop"], "store_ids": ["S2", "S1"]},
            "1 point per £1 spent online at stores S1 or S2",
        ),
        ({"kind": "visit", "points": 1, "channels": ["webshop", "store"]}, "1 point for every order"),
    ],
)
def test_each_rule_reads_as_a_sentence(rule: dict[str, object], words: str) -> None:
    assert rule_words(rule) == words


def test_amounts_use_the_currency_symbol_or_its_code() -> None:
    assert (money(Decimal(1), "EUR"), money(Decimal("12.5"), "USD"), money(Decimal(5), "CHF")) == (
        "€1",
        "$12.50",
        "CHF 5",
    )


def test_the_sample_program_is_valid_and_every_rule_has_its_sentence() -> None:
    program = ProgramRules.model_validate(json.loads(SAMPLE_PROGRAM.read_text()))
    view = storefront_program(1, program)

    assert [way.description for way in view.ways_to_earn] == [
        "1 point per €1 spent",
        "2 points per €1 spent on Garden",
        "5 points for every COFFEE-1",
        "10 points for every order in store",
    ]
    assert [tier.name for tier in view.tiers] == ["Bronze", "Silver", "Gold"]
    assert [reward.reward_id for reward in view.rewards] == ["free-shipping", "mug"]
    assert (view.expiry_months, view.referral, view.kind, view.currency) == (
        12,
        view.referral,
        "points",
        "EUR",
    )
    assert view.referral is not None
    assert view.referral.bonus_points == 200


def test_the_view_lists_sets_sorted_and_the_rule_fields_beside_the_sentence() -> None:
    program = ProgramRules.model_validate(
        {
            "rules": [
                {
                    "kind": "sku",
                    "skus": ["B-2", "A-1", "C-3"],
                    "points_per_item": 2,
                    "store_ids": ["S9", "S1"],
                }
            ]
        }
    )

    [way] = json.loads(storefront_program(1, program).model_dump_json())["ways_to_earn"]

    assert way == {
        "description": "2 points for every A-1, B-2 or C-3 at stores S1 or S9",
        "kind": "sku",
        "skus": ["A-1", "B-2", "C-3"],
        "points_per_item": 2,
        "channels": [],
        "store_ids": ["S1", "S9"],
    }


def test_the_etag_follows_the_version_and_is_stable_for_the_same_program() -> None:
    program = ProgramRules.model_validate({"rules": [{"kind": "visit", "points": 3}]})
    source = FixedProgramSource(program, version=4)
    view = StorefrontProgramView(source)

    body, etag = view.current()
    again_body, again_etag = StorefrontProgramView(FixedProgramSource(program, version=4)).current()
    source.version, source.rules = 5, program.model_copy(update={"expiry_months": 6})
    _, newer = view.current()

    assert (again_body, again_etag) == (body, etag)
    assert json.loads(body)["version"] == 4
    assert etag.startswith('"4-')
    assert newer.startswith('"5-')
