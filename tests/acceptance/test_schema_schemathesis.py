"""schemathesis against the published contract (openapi.yaml) and the running local stack
(issue 7, issue 19 target 6): every check schemathesis 4 has, every phase (examples,
coverage, fuzzing, and the stateful phase that follows openapi.yaml's links), requests
signed as the storefront (admin routes: as an admin) signs them. It fails on any failure:
a 5xx, an answer the document does not declare, a schema-valid request the validators
refuse, a schema-violating one they accept.

Run as the CLI runs it (``schemathesis run``), with tests/acceptance/schemathesis.toml
(its comments say why each setting is so) and the signing hooks of
tests/acceptance/schemathesis_signing.py. Bounded and repeatable: deterministic
generation, SCHEMATHESIS_EXAMPLES per operation (default 6), a few minutes here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ops.cfn import ROOT

pytestmark = pytest.mark.acceptance

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "6"))
CONFIG = Path(__file__).with_name("schemathesis.toml")
# Another document to run against (e.g. a deliberately broken copy, to see this test fail).
SCHEMA = Path(os.environ.get("SCHEMATHESIS_SCHEMA") or ROOT / "openapi.yaml")
TIMEOUT_SECONDS = 840  # the CLI is stopped before pytest-timeout stops this test


def run_schemathesis(schema: Path, base_url: str, keys: dict[str, tuple[str, str]]) -> tuple[int, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "layers" / "core"), str(ROOT / "local"), str(ROOT), os.environ.get("PYTHONPATH", "")]
        ),
        "BRIDGE_SIGNING_KEY_ID": keys["storefront"][0],
        "BRIDGE_SIGNING_KEY_SECRET": keys["storefront"][1],
        "BRIDGE_ADMIN_KEY_ID": keys["admin"][0],
        "BRIDGE_ADMIN_KEY_SECRET": keys["admin"][1],
    }
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        str(schema),
        "--url",
        base_url,
        "--checks",
        "all",
        "--exclude-checks",
        "unsupported_method",  # why: tests/acceptance/schemathesis.toml
        "--max-examples",
        str(EXAMPLES),
        "--workers",
        "1",
        "--no-color",
    ]
    done = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
    )
    return done.returncode, done.stdout + done.stderr


@pytest.mark.timeout(900)
def test_every_check_and_the_stateful_phase_find_no_failure(local_stack):
    keys = {
        scope: (local_stack.key(scope).key_id, local_stack.key(scope).secret)
        for scope in ("storefront", "admin")
    }
    code, output = run_schemathesis(SCHEMA, local_stack.base_url, keys)
    print(output[-6000:])
    assert "Stateful" in output, "the stateful phase did not run"
    assert code == 0, output[-20000:]
