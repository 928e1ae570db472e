"""Core integration fixtures. AWS is the root ``moto_server`` (moto on a free
port): ``aws_env`` for adapters on resources made here, ``aws`` for template.yaml's own."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest


@pytest.fixture
def boto(aws_env: str) -> Any:
    """boto3 clients on the moto server: ``boto("sqs")``."""

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=aws_env, region_name="us-east-1")

    return client


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]
