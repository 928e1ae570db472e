"""Sample scheduled function: records each run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> None:
    with (Path(os.environ["RECORD_DIR"]) / "ticker.jsonl").open("a") as out:
        out.write(json.dumps(event) + "\n")
