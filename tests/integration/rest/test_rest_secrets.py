"""The REST adapter as wiring builds it: bearer token from Secrets Manager (moto)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from loyalty_bridge import errors, wiring
from loyalty_bridge.adapters.rest_platform import RestPlatform
from loyalty_bridge.adapters.rest_transport import PlatformNotConfigured
from loyalty_bridge.models.domain import Consents, MemberProfile
from tests.fake_rest_platform import DEFAULT_TOKEN, FakePlatformServer

if TYPE_CHECKING:
    from bridge_local.resources import Provisioned

pytestmark = pytest.mark.integration


def a_profile() -> MemberProfile:
    return MemberProfile(email=f"{uuid.uuid4().hex[:8]}@example.com", first_name="Ann")


@pytest.fixture
def platform_secret(
    aws_env: str, fake_platform: FakePlatformServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A platform secret in moto and the environment of a function with PLATFORM_ADAPTER=rest."""
    secrets: Any = wiring.aws_client("secretsmanager")
    arn: str = secrets.create_secret(
        Name=f"platform-{uuid.uuid4().hex[:8]}", SecretString=json.dumps({"token": DEFAULT_TOKEN})
    )["ARN"]
    monkeypatch.setenv("PLATFORM_ADAPTER", "rest")
    monkeypatch.setenv("PLATFORM_BASE_URL", fake_platform.url)
    monkeypatch.setenv("PLATFORM_SECRET_ARN", arn)
    wiring.reset()
    yield arn
    wiring.reset()


def put_token(arn: str, token: str) -> None:
    secrets: Any = wiring.aws_client("secretsmanager")
    secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({"token": token}))


def test_wiring_builds_the_rest_adapter_with_the_token_from_secrets_manager(
    platform_secret: str, fake_platform: FakePlatformServer
) -> None:
    adapter = wiring.platform()

    member = adapter.create_member(a_profile(), Consents(), idempotency_key="join:c-1")

    assert isinstance(adapter, RestPlatform)
    assert adapter.get_member(member.member_id) == member
    assert [call.authorized for call in fake_platform.calls()] == [True, True]


def test_a_token_the_platform_does_not_know_is_technical(
    platform_secret: str, fake_platform: FakePlatformServer
) -> None:
    put_token(platform_secret, "someone-elses-token")

    with pytest.raises(errors.PlatformUnavailable):
        wiring.platform().get_member("m1")

    assert [call.status for call in fake_platform.calls()] == [401, 401]  # one fresh read, no more


def test_a_rotated_secret_is_picked_up_on_the_next_401(
    platform_secret: str, fake_platform: FakePlatformServer
) -> None:
    adapter = wiring.platform()
    member = adapter.create_member(a_profile(), Consents(), idempotency_key="join:c-2")  # token now cached
    put_token(platform_secret, "rotated-token")
    fake_platform.rotate_token("rotated-token")

    assert adapter.get_member(member.member_id) == member

    assert [call.status for call in fake_platform.calls("getMember")] == [401, 200]


def test_an_unset_token_is_a_configuration_error_without_calling_the_platform(
    platform_secret: str, fake_platform: FakePlatformServer
) -> None:
    put_token(platform_secret, "")

    with pytest.raises(PlatformNotConfigured) as caught:
        wiring.platform().get_member("m1")

    assert not errors.is_retryable(caught.value)  # a human must set it: recorded, not retried
    assert fake_platform.calls() == []


def test_the_template_platform_secret_is_the_one_used(
    aws: Provisioned, fake_platform: FakePlatformServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = aws.secrets["PlatformSecret"]
    put_token(arn, DEFAULT_TOKEN)
    monkeypatch.setenv("PLATFORM_ADAPTER", "rest")
    monkeypatch.setenv("PLATFORM_BASE_URL", fake_platform.url)
    wiring.reset()

    member = wiring.platform().create_member(a_profile(), Consents(), idempotency_key="join:c-3")

    assert wiring.settings().platform_secret_arn == arn
    assert member.member_id
    assert fake_platform.calls("createMember")[0].authorized
