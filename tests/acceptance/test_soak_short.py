"""A short soak inside ``make test`` (issue 7): signups, profile and consent changes,
orders, redemptions, refunds and cancellations through the local stack while platform and
AWS faults are injected, then a drain and an audit: nothing lost, nothing moved twice.

It runs ``python -m bench.soak`` (what ``make soak`` runs, smaller) in a child process: the
soak runs the functions in its own process and instruments their AWS calls.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.ops.cfn import ROOT

pytestmark = pytest.mark.acceptance


@pytest.fixture(scope="module", params=["rest", "talon-one"])
def soak(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The REST adapter on the fake platform server, and the Talon.One adapter on the fake
    Talon.One (issue 14: the soak with Talon.One faults)."""
    out = tmp_path_factory.mktemp("soak")
    results = out / "soak.json"
    done = subprocess.run(  # noqa: S603 (our interpreter, our module)
        [
            sys.executable,
            "-m",
            "bench.soak",
            "--customers",
            "6",
            "--threads",
            "2",
            "--seed",
            "11",
            "--json",
            str(results),
            "--log",
            str(out / "soak.log"),
            "--platform",
            request.param,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert results.exists(), f"the soak did not finish:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    document = json.loads(results.read_text())
    document["stdout"] = done.stdout
    return document


def test_faults_were_injected_on_both_sides(soak):
    assert soak["faults_injected"]["platform_total"] > 0
    assert soak["faults_injected"]["aws_total"] > 0


def test_every_kind_of_operation_was_sent(soak):
    sent = soak["audit"]["sent"]
    for kind in ("signup", "profile change", "consent change", "order", "refund", "cancel"):
        assert sent.get(kind, 0) > 0, kind


def test_nothing_is_lost(soak):
    assert soak["audit"]["lost"] == 0, soak["stdout"]


def test_no_points_move_twice(soak):
    assert soak["audit"]["moved_twice"] == 0, soak["stdout"]


def test_every_operation_is_accounted_for(soak):
    audit = soak["audit"]
    for kind, sent in audit["sent"].items():
        accounted = (
            audit["credited"].get(kind, 0)
            + audit["in_error_store"].get(kind, 0)
            + audit["not_for_points"].get(kind, 0)
        )
        if kind != "redemption hold":
            assert accounted == sent, kind


def test_every_exchange_with_talon_one_kept_to_its_schema(soak):
    assert soak.get("schema_violations", []) == [], soak["stdout"]
