"""Running ``bridge-admin`` (local/bridge_local/admin.py) against a local stack, as a person
would: a child process with the stack's URL and admin key in its environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from bridge_local.stack import LocalStackProcess
from tests.conftest import ROOT


def bridge_admin(stack: LocalStackProcess, *args: str, timeout: float = 300) -> dict[str, Any]:
    """Run ``bridge-admin ARGS``; it must succeed; its printed JSON."""
    key = stack.key("admin")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "core"), str(ROOT / "local")]),
        "BRIDGE_URL": stack.base_url,
        "BRIDGE_ADMIN_KEY_ID": key.key_id,
        "BRIDGE_ADMIN_SECRET": key.secret,
    }
    done = subprocess.run(  # noqa: S603 - our own console script
        [sys.executable, "-m", "bridge_local.admin", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document
