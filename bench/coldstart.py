"""Cold-start proxy: how long importing each function's handler module takes in a fresh
interpreter, next to ``import boto3`` alone (the classic heavy import of a Python Lambda).

A Lambda cold start = runtime start + INIT (imports and module-level code) + first
invoke. INIT is the part the code controls; importing the handler module in a fresh
interpreter measures exactly that, minus the network (nothing may touch it at import).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

from bridge_local.template import load_template

ROOT = Path(__file__).resolve().parents[1]

_IMPORT_HANDLER = """
import importlib.util, sys, time
t = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", {path!r})
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module  # as Lambda's runtime imports it: a real module named app
spec.loader.exec_module(module)
getattr(module, {attr!r})
print(time.perf_counter() - t)
"""

_IMPORT_BOTO3 = """
import time
t = time.perf_counter()
import boto3
print(time.perf_counter() - t)
"""

# Settings a handler may read at import; fake values, nothing is contacted.
_ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_SERVICE_NAME": "loyalty-bridge",
    "POWERTOOLS_METRICS_NAMESPACE": "LoyaltyBridge",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "PYTHONDONTWRITEBYTECODE": "1",
}


def _time_once(code: str, cwd: Path) -> float:
    env = {**os.environ, **_ENV}
    env.pop("AWS_ENDPOINT_URL", None)
    done = subprocess.run(  # noqa: S603 (our own interpreter, our own code)
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr else "import failed")
    return float(done.stdout.strip().splitlines()[-1]) * 1000.0


def _median(code: str, cwd: Path, runs: int) -> float:
    return statistics.median(_time_once(code, cwd) for _ in range(runs))


def measure(runs: int = 5) -> dict[str, object]:
    """Median import time per function handler (ms) and its ratio to ``import boto3``."""
    _time_once(_IMPORT_BOTO3, ROOT)  # warm the OS file cache once: we compare imports, not disks
    boto3_ms = _median(_IMPORT_BOTO3, ROOT, runs)
    functions: dict[str, dict[str, object]] = {}
    for logical_id, spec in sorted(load_template().functions.items()):
        code = _IMPORT_HANDLER.format(path=str(spec.module_file), attr=spec.handler_attr)
        try:
            _time_once(code, spec.module_file.parent)
            ms = _median(code, spec.module_file.parent, runs)
        except (RuntimeError, FileNotFoundError) as exc:
            functions[logical_id] = {"error": str(exc)}
            continue
        functions[logical_id] = {
            "import_ms": round(ms, 1),
            "ratio_to_boto3": round(ms / boto3_ms, 2),
            "memory_mb": spec.memory,
        }
    return {"runs": runs, "boto3_import_ms": round(boto3_ms, 1), "functions": functions}
