"""Sample SQS worker: records every record; bodies starting with "fail" fail (partial batch)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    with (Path(os.environ["RECORD_DIR"]) / "worker.jsonl").open("a") as out:
        for record in event["Records"]:
            out.write(json.dumps(record) + "\n")
            if record["body"].startswith("fail"):
                failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
