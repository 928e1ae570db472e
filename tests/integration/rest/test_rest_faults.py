"""RestPlatform against the fake platform with injected faults: each fault gives the
documented outcome (adapters/rest_platform.py module doc; contracts/platform-openapi.yaml)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from decimal import Decimal

import pytest

from loyalty_bridge import errors
from loyalty_bridge.adapters.rest_platform import RestPlatform
from loyalty_bridge.adapters.rest_transport import PlatformInvalidInput
from loyalty_bridge.models.domain import (
    Basket,
    BasketLine,
    Consents,
    Member,
    MemberProfile,
    PlatformOrder,
    PlatformOrderLine,
    ProfileChanges,
)
from loyalty_bridge.observability import MetricName
from tests.fake_rest_platform import FakePlatformServer, Fault
from tests.fakes import InMemoryPlatform, RecordingMetrics
from tests.integration.rest.conftest import SHORT_READ_TIMEOUT, MakeRest, RecordingRandom

pytestmark = pytest.mark.integration


def join(rest: RestPlatform, email: str = "ann@example.com") -> Member:
    profile = MemberProfile(email=email, first_name="Ann", last_name="Lee", mobile="+447700900001")
    return rest.create_member(profile, Consents(email=True), idempotency_key=f"join:{email}")


def an_order(backend: InMemoryPlatform, order_id: str = "o-1", amount: str = "40.00") -> PlatformOrder:
    line = PlatformOrderLine(
        product_code="SKU-1", title="Spade", quantity=1, unit_price=Decimal(amount), sku="SKU-1"
    )
    return PlatformOrder(
        order_id=order_id, placed_at=backend.clock(), currency="EUR", lines=[line], total=Decimal(amount)
    )


# ---------------------------------------------------------------- timeouts


def test_read_timeout_is_retried_then_platform_unavailable(
    fake_platform: FakePlatformServer, rest: RestPlatform, make_rest: MakeRest, sleeps: list[float]
) -> None:
    member = join(rest)
    impatient = make_rest(read_timeout=SHORT_READ_TIMEOUT)
    fake_platform.inject(Fault(kind="timeout", seconds=60, times=3, operation="getBalance"))

    with pytest.raises(errors.PlatformUnavailable) as caught:
        impatient.get_balance(member.member_id)

    assert len(fake_platform.calls("getBalance")) == 3  # platform_max_attempts
    assert len(sleeps) == 2  # backoff between attempts, none after the last
    assert caught.value.context["reason"] == "ReadTimeout"
    assert errors.is_retryable(caught.value)


def test_write_whose_answer_was_lost_is_retried_with_its_key_and_counts_once(
    fake_platform: FakePlatformServer, backend: InMemoryPlatform, rest: RestPlatform, make_rest: MakeRest
) -> None:
    member = join(rest)
    impatient = make_rest(read_timeout=SHORT_READ_TIMEOUT)
    # The platform credits the order, then the answer never arrives in time.
    fake_platform.inject(Fault(kind="timeout", seconds=60, after_effect=True, operation="postOrder"))

    result = impatient.post_order(member.member_id, an_order(backend))

    calls = fake_platform.calls("postOrder")
    assert len(calls) >= 2
    assert {call.idempotency_key for call in calls} == {"order:o-1"}
    assert result.points_earned == 40
    assert rest.get_balance(member.member_id).balance == 40
    assert backend.balance_of(member.member_id) == 40  # one ledger credit, not two


# ---------------------------------------------------------------- 5xx


def test_5xx_after_the_platform_did_the_work_then_success_has_exactly_one_effect(
    fake_platform: FakePlatformServer, backend: InMemoryPlatform, rest: RestPlatform, sleeps: list[float]
) -> None:
    member = join(rest)
    fake_platform.inject(Fault(kind="status", status=502, after_effect=True, operation="postOrder"))

    result = rest.post_order(member.member_id, an_order(backend))

    first, second = fake_platform.calls("postOrder")
    assert (first.status, second.status) == (502, 200)
    assert first.idempotency_key == second.idempotency_key == "order:o-1"
    assert second.replayed  # the platform answered from its idempotency store
    assert result.points_earned == 40
    assert rest.get_balance(member.member_id).balance == 40
    assert backend.balance_of(member.member_id) == 40
    assert len(sleeps) == 1


def test_member_created_once_when_the_first_answers_were_5xx(
    fake_platform: FakePlatformServer, rest: RestPlatform
) -> None:
    fake_platform.inject(Fault(kind="status", status=500, after_effect=True, operation="createMember"))
    fake_platform.fail_next(1, status=503, operation="createMember")

    member = join(rest)

    assert [call.status for call in fake_platform.calls("createMember")] == [500, 503, 201]
    assert rest.find_members(email="ann@example.com") == [member]


def test_5xx_every_time_gives_platform_unavailable_after_max_attempts(
    fake_platform: FakePlatformServer, rest: RestPlatform, sleeps: list[float]
) -> None:
    member = join(rest)
    fake_platform.fail_next(10, status=500, operation="getMember")

    with pytest.raises(errors.PlatformUnavailable) as caught:
        rest.get_member(member.member_id)

    assert len(fake_platform.calls("getMember")) == 3
    assert caught.value.context["status"] == 500
    assert len(sleeps) == 2


def test_dropped_connection_after_the_work_is_retried_and_counts_once(
    fake_platform: FakePlatformServer, rest: RestPlatform
) -> None:
    fake_platform.inject(Fault(kind="disconnect", after_effect=True, operation="createMember"))

    member = join(rest)

    calls = fake_platform.calls("createMember")
    assert [call.status for call in calls] == [None, 201]
    assert calls[1].replayed
    assert rest.find_members(email="ann@example.com") == [member]


def test_unreachable_platform_is_retried_then_unavailable(make_rest: MakeRest, sleeps: list[float]) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    adapter = make_rest(base_url=f"http://127.0.0.1:{closed_port}")

    with pytest.raises(errors.PlatformUnavailable) as caught:
        adapter.get_member("m1")

    assert caught.value.context["reason"] == "ConnectError"
    assert caught.value.context["attempts"] == 3
    assert len(sleeps) == 2


# ---------------------------------------------------------------- 429


def test_429_is_retried_after_retry_after(
    fake_platform: FakePlatformServer, rest: RestPlatform, sleeps: list[float]
) -> None:
    member = join(rest)
    fake_platform.inject(Fault(kind="throttle", retry_after="3", operation="getBalance"))

    balance = rest.get_balance(member.member_id)

    assert balance.member_id == member.member_id
    assert [call.status for call in fake_platform.calls("getBalance")] == [429, 200]
    assert sleeps == [pytest.approx(3.0, abs=1.0)]
    assert sleeps[0] >= 3.0  # at least what the platform asked, jitter never shortens it


def test_429_asking_for_longer_than_we_wait_fails_fast(
    fake_platform: FakePlatformServer, rest: RestPlatform, sleeps: list[float]
) -> None:
    member = join(rest)
    fake_platform.inject(Fault(kind="throttle", retry_after="120", operation="getBalance"))

    with pytest.raises(errors.PlatformUnavailable) as caught:
        rest.get_balance(member.member_id)

    assert len(fake_platform.calls("getBalance")) == 1
    assert sleeps == []
    assert caught.value.context["retry_after"] == 120.0  # a worker can delay its retry by it


def test_no_retry_starts_past_the_call_budget(
    fake_platform: FakePlatformServer, make_rest: MakeRest, sleeps: list[float]
) -> None:
    adapter = make_rest(platform_call_budget_seconds=1.5)
    member = join(adapter)
    fake_platform.inject(Fault(kind="throttle", retry_after="4", operation="getBalance"))

    with pytest.raises(errors.PlatformUnavailable) as caught:
        adapter.get_balance(member.member_id)

    assert len(fake_platform.calls("getBalance")) == 1
    assert sleeps == []
    assert caught.value.context["reason"].endswith("budget_exhausted")


# ---------------------------------------------------------------- malformed answers


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("getBalance", "this is not json"),
        ("getBalance", '{"unexpected": true}'),
        ("getBalance", '{"member_id": "m1", "balance": 12.5}'),  # points must be integers
        ("getBalance", '{"member_id": "m1", "balance": "12"}'),
        ("getBalance", '{"member_id": "m1", "balance": -3}'),
        (
            "quoteBasket",
            '{"points_to_earn": 1, "balance": 0, "redeemable_points": 0, '
            '"point_value": 0.01, "max_discount": "0"}',
        ),  # money must be a string
        (
            "getMember",
            '{"member_id": "m1", "profile": {"email": "a@b.c"}, "card": {"number": "1", '
            '"kind": "wooden", "state": "active"}, "consents": {"email": true, "sms": false}}',
        ),
    ],
)
def test_malformed_body_is_platform_unavailable_without_retry(
    fake_platform: FakePlatformServer,
    backend: InMemoryPlatform,
    rest: RestPlatform,
    sleeps: list[float],
    recorded_metrics: RecordingMetrics,
    operation: str,
    body: str,
) -> None:
    member = join(rest)
    fake_platform.inject(Fault(kind="malformed", body=body, operation=operation))

    calls: dict[str, Callable[[], object]] = {
        "getBalance": lambda: rest.get_balance(member.member_id),
        "getMember": lambda: rest.get_member(member.member_id),
        "quoteBasket": lambda: rest.quote(
            member.member_id,
            Basket(currency="EUR", lines=[BasketLine(sku="S", quantity=1, unit_price=Decimal("1.00"))]),
        ),
    }

    with pytest.raises(errors.PlatformUnavailable) as caught:
        calls[operation]()

    assert caught.value.context["reason"] == "malformed_body"
    assert len(fake_platform.calls(operation)) == 1
    assert sleeps == []
    assert recorded_metrics.of(MetricName.PLATFORM_ERRORS) == [1]


def test_malformed_body_is_logged_without_personal_data(
    fake_platform: FakePlatformServer, rest: RestPlatform, caplog: pytest.LogCaptureFixture
) -> None:
    member = join(rest)
    body = (
        '{"member_id": "m1", "profile": {"email": "hidden.person@example.com", "mobile": 447700900999}, '
        '"card": {"number": "7700123", "kind": "virtual", "state": "active"}, '
        '"consents": {"email": true, "sms": false}}'
    )
    fake_platform.inject(Fault(kind="malformed", body=body, operation="getMember"))
    caplog.clear()

    with pytest.raises(errors.PlatformUnavailable):
        rest.get_member(member.member_id)

    # Everything a log formatter could print comes from the records' attributes.
    output = " ".join(repr(vars(record)) for record in caplog.records)
    assert "does not match the contract" in output  # it was logged...
    assert "profile.mobile" in output  # ...with where the body was wrong...
    for secret in ("hidden.person", "447700900999", "7700123"):
        assert secret not in output  # ...but nothing of what it said


def test_refusal_with_a_body_that_is_not_an_error_is_technical(
    fake_platform: FakePlatformServer, rest: RestPlatform
) -> None:
    member = join(rest)
    fake_platform.inject(
        Fault(kind="malformed", status=409, body="<html>Conflict</html>", operation="getMember")
    )

    with pytest.raises(errors.PlatformUnavailable):
        rest.get_member(member.member_id)

    assert len(fake_platform.calls("getMember")) == 1


# ---------------------------------------------------------------- validation refusals


@pytest.mark.parametrize(
    ("status", "code", "field", "expected", "expected_code"),
    [
        (409, "duplicate_member", "mobile", errors.DuplicateMember, "duplicate_member"),
        (422, "card_not_attachable", None, errors.CardNotAttachable, "card_not_attachable"),
        (409, "insufficient_points", None, errors.InsufficientPoints, "insufficient_points"),
        (404, "member_not_found", None, errors.MemberNotFound, "member_not_found"),
        (400, "validation_error", "profile.email", PlatformInvalidInput, "validation_error"),
        (422, "validation_error", None, errors.InvalidInput, "validation_error"),
        (422, "hold_expired", None, errors.PlatformRefused, "hold_expired"),
        (409, "Not A Code!", None, errors.PlatformRefused, "platform_refused"),
    ],
)
def test_validation_refusal_is_typed_after_exactly_one_request(
    fake_platform: FakePlatformServer,
    rest: RestPlatform,
    sleeps: list[float],
    status: int,
    code: str,
    field: str | None,
    expected: type[errors.PlatformError],
    expected_code: str,
) -> None:
    member = join(rest)
    fake_platform.inject(
        Fault(kind="refuse", status=status, code=code, field=field, operation="updateMember")
    )

    with pytest.raises(expected) as caught:
        rest.update_profile(member.member_id, ProfileChanges(mobile="+447700900002"), idempotency_key="u-1")

    assert len(fake_platform.calls("updateMember")) == 1
    assert sleeps == []
    assert isinstance(caught.value, errors.PlatformRefused)
    assert caught.value.code == expected_code
    assert not errors.is_retryable(caught.value)
    if field == "mobile":
        assert isinstance(caught.value, errors.DuplicateMember)
        assert caught.value.field == "mobile"


def test_platform_refusal_from_its_own_rules_is_not_retried(
    fake_platform: FakePlatformServer, rest: RestPlatform, sleeps: list[float]
) -> None:
    join(rest, "ann@example.com")

    with pytest.raises(errors.DuplicateMember) as caught:
        rest.create_member(MemberProfile(email="ANN@example.com"), Consents(), idempotency_key="join:other")

    assert caught.value.field == "email"
    assert "ann@" not in caught.value.detail.lower()  # the storefront may show detail: no personal data
    assert [call.status for call in fake_platform.calls("createMember")] == [201, 409]
    assert sleeps == []


def test_refused_write_can_be_replayed_with_its_key_once_fixed(
    fake_platform: FakePlatformServer, rest: RestPlatform
) -> None:
    member = join(rest)
    fake_platform.inject(
        Fault(kind="refuse", status=409, code="duplicate_member", field="email", operation="updateMember")
    )

    changes = ProfileChanges(last_name="Fixed")
    with pytest.raises(errors.DuplicateMember):
        rest.update_profile(member.member_id, changes, idempotency_key="sync:u-9")

    # An admin fixed it on the platform and replays the failed sync with the same key.
    updated = rest.update_profile(member.member_id, changes, idempotency_key="sync:u-9")

    assert updated.profile.last_name == "Fixed"


# ---------------------------------------------------------------- credentials


class RotatingToken:
    """Like SecretBearerToken: a cached value until ``invalidate`` makes it re-read."""

    def __init__(self, stored: list[str]) -> None:
        self.stored = stored
        self.cached: str | None = None
        self.reads = 0
        self.invalidations = 0

    def __call__(self) -> str:
        if self.cached is None:
            self.reads += 1
            self.cached = self.stored[0]
        return self.cached

    def invalidate(self) -> None:
        self.invalidations += 1
        self.cached = None


def test_rotated_token_is_read_again_once(fake_platform: FakePlatformServer, make_rest: MakeRest) -> None:
    token = RotatingToken(["fake-platform-token"])
    adapter = make_rest(token_provider=token)
    member = join(adapter)
    fake_platform.rotate_token("rotated-token")
    token.stored[0] = "rotated-token"  # the secret was rotated; our cache is stale

    assert adapter.get_member(member.member_id) == member

    assert [call.status for call in fake_platform.calls("getMember")] == [401, 200]
    assert token.invalidations == 1
    assert token.reads == 2


def test_wrong_token_is_technical_after_one_fresh_read(
    fake_platform: FakePlatformServer, make_rest: MakeRest, sleeps: list[float]
) -> None:
    token = RotatingToken(["not-the-token"])
    adapter = make_rest(token_provider=token)

    with pytest.raises(errors.PlatformUnavailable) as caught:
        adapter.get_member("m1")

    assert caught.value.context["status"] == 401
    assert [call.status for call in fake_platform.calls("getMember")] == [401, 401]
    assert token.invalidations == 1
    assert sleeps == []


# ---------------------------------------------------------------- backoff and measurements


def test_backoff_is_exponential_capped_and_fully_jittered(
    fake_platform: FakePlatformServer,
    make_rest: MakeRest,
    sleeps: list[float],
    rng: RecordingRandom,
) -> None:
    adapter = make_rest(
        platform_max_attempts=6, platform_backoff_base_seconds=0.1, platform_backoff_max_seconds=0.3
    )
    member = join(adapter)
    fake_platform.fail_next(5, status=503, operation="getMember")

    assert adapter.get_member(member.member_id) == member

    assert rng.bounds == [(0.0, 0.1), (0.0, 0.2), (0.0, 0.3), (0.0, 0.3), (0.0, 0.3)]
    assert all(low <= slept <= high for slept, (low, high) in zip(sleeps, rng.bounds, strict=True))
    assert len(set(sleeps)) == len(sleeps)  # jittered, not a fixed schedule


def test_latency_and_errors_are_measured(
    fake_platform: FakePlatformServer, rest: RestPlatform, recorded_metrics: RecordingMetrics
) -> None:
    member = join(rest)
    recorded_metrics.values.clear()
    fake_platform.fail_next(1, status=503, operation="getBalance")

    rest.get_balance(member.member_id)

    assert len(recorded_metrics.of(MetricName.PLATFORM_LATENCY_MS)) == 2  # one per attempt
    assert all(value >= 0 for value in recorded_metrics.of(MetricName.PLATFORM_LATENCY_MS))
    assert recorded_metrics.of(MetricName.PLATFORM_ERRORS) == [1]


def test_added_latency_within_the_read_timeout_is_just_slower(
    fake_platform: FakePlatformServer, rest: RestPlatform, sleeps: list[float]
) -> None:
    member = join(rest)
    fake_platform.inject(Fault(kind="latency", seconds=0.2, operation="getMember"))

    assert rest.get_member(member.member_id) == member
    assert len(fake_platform.calls("getMember")) == 1
    assert sleeps == []


@pytest.mark.parametrize("after_effect", [False, True])
def test_a_wrong_answer_to_a_no_content_call_is_not_taken_for_success(
    fake_platform: FakePlatformServer, backend: InMemoryPlatform, rest: RestPlatform, after_effect: bool
) -> None:
    """Found by the soak: a malformed answer to PUT /consents was answered 204 without the
    work, which no client can tell from success. A wrong answer (200 with a body) fails the
    call; the retry, under the same key, sets the consents exactly once."""
    member = join(rest)
    fake_platform.inject(Fault(kind="malformed", operation="setConsents", after_effect=after_effect))

    with pytest.raises(errors.PlatformUnavailable):
        rest.set_consents(member.member_id, Consents(email=False), idempotency_key="consents-1")
    assert backend.get_member(member.member_id).consents.email is (not after_effect)

    rest.set_consents(member.member_id, Consents(email=False), idempotency_key="consents-1")

    assert backend.get_member(member.member_id).consents == Consents(email=False)
    assert [call.status for call in fake_platform.calls("setConsents")] == [200, 204]
