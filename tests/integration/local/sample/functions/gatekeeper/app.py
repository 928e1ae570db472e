"""Sample authorizer (payload 2.0, simple responses): allows when x-allow is "yes"."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    with (Path(os.environ["RECORD_DIR"]) / "authorizer.jsonl").open("a") as out:
        out.write(json.dumps(event) + "\n")
    headers = event.get("headers") or {}
    if headers.get("x-allow") == "garbage":
        return {"allowed": "maybe"}
    allowed = headers.get("x-allow") == "yes" or headers.get("x-gate") == "open"
    return {"isAuthorized": allowed, "context": {"who": headers.get("x-who", "nobody"), "level": 3}}
