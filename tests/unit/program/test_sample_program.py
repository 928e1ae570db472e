"""make run's sample program (issue 13 item 6): the default of ``bridge-local`` unless
``--param EarnRulesJson=...`` is given, never the test stacks' (they keep the template's)."""

from __future__ import annotations

import json

from bridge_local.__main__ import build_parser, sample_program_json, with_sample_program
from loyalty_bridge.program.earn_rules import ProgramRules


def test_the_sample_has_what_a_newcomer_s_first_summary_shows() -> None:
    program = ProgramRules.model_validate(json.loads(sample_program_json()))

    assert len(program.tiers) == 3
    assert {rule.kind for rule in program.rules} >= {"category", "sku", "visit"}
    assert len(program.rewards) == 2
    assert program.expiry_months == 12
    assert program.referral_bonus_points > 0


def test_make_run_starts_with_the_sample_unless_earn_rules_are_given() -> None:
    args = build_parser().parse_args([])
    given = {"EarnRulesJson": '{"rules": []}'}

    assert args.sample_program is True
    assert with_sample_program({}, enabled=True) == {"EarnRulesJson": sample_program_json()}
    assert with_sample_program(given, enabled=True) == given
    assert with_sample_program({"AutoJoin": "false"}, enabled=False) == {"AutoJoin": "false"}
    assert build_parser().parse_args(["--no-sample-program"]).sample_program is False


def test_test_stacks_keep_the_template_default() -> None:
    from bridge_local.stack import LocalStackProcess

    assert LocalStackProcess().sample_program is False
