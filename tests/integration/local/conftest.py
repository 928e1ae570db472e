"""Fixtures for testing the local stack itself: a small sample template (sample/) run by
``python -m bridge_local`` in a child process, its functions recording what they got."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge_local.stack import LocalStackProcess

SAMPLE = Path(__file__).resolve().parent / "sample"


@dataclass
class SampleStack:
    stack: LocalStackProcess
    record_dir: Path
    http: httpx.Client

    def records(self, name: str) -> list[dict[str, Any]]:
        path = self.record_dir / f"{name}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout}s\n{self.stack.log_tail()}")
            time.sleep(0.1)


@pytest.fixture(scope="session")
def sample_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SampleStack]:
    base = tmp_path_factory.mktemp("sample-stack")
    record_dir = base / "records"
    record_dir.mkdir()
    stack = LocalStackProcess(
        template=SAMPLE / "template.yaml",
        state_dir=base / "state",
        stack_name="sample",
        parameter_overrides={"RecordDir": str(record_dir)},
        visibility_seconds=1,
    )
    stack.start()
    try:
        with httpx.Client(base_url=stack.base_url, timeout=30) as http:
            yield SampleStack(stack=stack, record_dir=record_dir, http=http)
    finally:
        stack.stop()
