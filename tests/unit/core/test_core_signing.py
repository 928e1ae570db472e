"""Request signing (API.md Transport): canonical string, vectors, window, key store."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from loyalty_bridge import errors
from loyalty_bridge.signing import (
    SigningKeys,
    StaticSigningKeys,
    canonical_string,
    decide_access,
    sign,
    signed_headers,
    signing_path,
    timestamp_fresh,
    verify,
)
from tests.fake_core import InMemorySecrets

SECRET = "s3cr3t-key-material"
TS = 1_763_892_000
BODY = '{"customer_id":"c-1","email":"ada@example.com"}'


def test_canonical_string_is_the_documented_layout() -> None:
    body_hash = hashlib.sha256(BODY.encode()).hexdigest()
    assert canonical_string(TS, "post", "/v1/customers?x=1", BODY) == (
        f"1763892000\nPOST\n/v1/customers?x=1\n{body_hash}"
    )


def test_signature_vector_matches_an_independent_hmac() -> None:
    expected_message = (
        "1763892000\nPOST\n/v1/customers\n" + hashlib.sha256(BODY.encode("utf-8")).hexdigest()
    ).encode()
    expected = hmac.new(SECRET.encode(), expected_message, hashlib.sha256).hexdigest()
    assert sign(SECRET, TS, "POST", "/v1/customers", BODY) == expected
    assert expected == expected.lower()
    assert len(expected) == 64


def test_fixed_vector_pins_the_format() -> None:
    # Computed once by hand; a change here breaks every storefront client.
    assert (
        sign("key", "1700000000", "GET", "/v1/health", b"")
        == hmac.new(
            b"key",
            b"1700000000\nGET\n/v1/health\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            hashlib.sha256,
        ).hexdigest()
    )


def test_empty_and_none_body_hash_the_same() -> None:
    assert sign(SECRET, TS, "GET", "/v1/x", None) == sign(SECRET, TS, "GET", "/v1/x", b"")


def test_query_string_is_signed() -> None:
    path = signing_path("/v1/admin/errors", "category=sync&status=open")
    assert path == "/v1/admin/errors?category=sync&status=open"
    assert signing_path("/v1/health", "") == "/v1/health"
    signature = sign(SECRET, TS, "GET", path, b"")
    assert verify(SECRET, timestamp=str(TS), method="GET", path=path, body=b"", signature=signature, now=TS)
    tampered = "/v1/admin/errors?category=order&status=open"
    assert not verify(
        SECRET, timestamp=str(TS), method="GET", path=tampered, body=b"", signature=signature, now=TS
    )
    assert not verify(
        SECRET,
        timestamp=str(TS),
        method="GET",
        path="/v1/admin/errors",
        body=b"",
        signature=signature,
        now=TS,
    )


def test_unicode_body_signs_its_utf8_bytes() -> None:
    body = '{"first_name":"Zoë","last_name":"Łukasiewicz","note":"日本"}'
    signature = sign(SECRET, TS, "POST", "/v1/customers", body)
    assert signature == sign(SECRET, TS, "POST", "/v1/customers", body.encode("utf-8"))
    assert verify(
        SECRET,
        timestamp=str(TS),
        method="POST",
        path="/v1/customers",
        body=body.encode("utf-8"),
        signature=signature,
        now=TS,
    )
    # The same text in another encoding is another body.
    latin = '{"first_name":"Zoë"}'
    latin_signature = sign(SECRET, TS, "POST", "/v1/customers", latin)
    assert not verify(
        SECRET,
        timestamp=str(TS),
        method="POST",
        path="/v1/customers",
        body=latin.encode("latin-1"),
        signature=latin_signature,
        now=TS,
    )


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(0, True), (300, True), (-300, True), (301, False), (-301, False), (86_400, False)],
)
def test_window_edges(offset: int, accepted: bool) -> None:
    signature = sign(SECRET, TS, "GET", "/v1/x", b"")
    now = TS + offset
    assert (
        verify(SECRET, timestamp=str(TS), method="GET", path="/v1/x", body=b"", signature=signature, now=now)
        is accepted
    )
    assert timestamp_fresh(str(TS), now=now) is accepted


@pytest.mark.parametrize("timestamp", [None, "", "abc", "1.5", "-5", " 1763892000", "1e9"])
def test_malformed_timestamps_are_refused(timestamp: str | None) -> None:
    signature = sign(SECRET, str(timestamp), "GET", "/v1/x", b"")
    assert not verify(
        SECRET, timestamp=timestamp, method="GET", path="/v1/x", body=b"", signature=signature, now=TS
    )


def test_tampering_is_detected() -> None:
    signature = sign(SECRET, TS, "POST", "/v1/customers", BODY)
    ok = {"timestamp": str(TS), "method": "POST", "path": "/v1/customers", "body": BODY, "now": TS}
    assert verify(SECRET, signature=signature, **ok)  # type: ignore[arg-type]
    assert verify(SECRET, signature=signature.upper(), **ok)  # type: ignore[arg-type]
    assert not verify("other-secret", signature=signature, **ok)  # type: ignore[arg-type]
    assert not verify(SECRET, signature=signature, **{**ok, "body": BODY + " "})  # type: ignore[arg-type]
    assert not verify(SECRET, signature=signature, **{**ok, "method": "PUT"})  # type: ignore[arg-type]
    assert not verify(SECRET, signature=signature[:-1], **ok)  # type: ignore[arg-type]
    assert not verify(SECRET, signature="", **ok)  # type: ignore[arg-type]
    assert not verify(SECRET, signature="zé" * 32, **ok)  # type: ignore[arg-type]


def test_signed_headers_carry_key_timestamp_and_signature() -> None:
    headers = signed_headers("shop-1", SECRET, "POST", "/v1/customers", BODY, now=TS + 0.9)
    assert headers == {
        "X-Bridge-Key-Id": "shop-1",
        "X-Bridge-Timestamp": str(TS),
        "X-Bridge-Signature": sign(SECRET, TS, "POST", "/v1/customers", BODY),
    }


# ---------------------------------------------------------------- key store


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _keys(source: InMemorySecrets, clock: Clock) -> SigningKeys:
    return SigningKeys(source, prefix="stack/keys/", ttl_seconds=300, negative_ttl_seconds=60, clock=clock)


def test_keys_load_from_prefixed_secret_and_are_cached_for_the_ttl() -> None:
    source = InMemorySecrets({"stack/keys/shop-1": {"secret": "abc", "scope": "storefront"}})
    clock = Clock()
    keys = _keys(source, clock)
    key = keys.get("shop-1")
    assert key is not None
    assert (key.key_id, key.secret, key.scope) == ("shop-1", "abc", "storefront")
    assert "abc" not in repr(key)
    clock.now += 299
    source.secrets["stack/keys/shop-1"] = {"secret": "rotated", "scope": "storefront"}
    assert keys.get("shop-1") == key
    assert source.reads == {"stack/keys/shop-1": 1}
    clock.now += 2
    rotated = keys.get("shop-1")
    assert rotated is not None
    assert rotated.secret == "rotated"
    assert source.reads == {"stack/keys/shop-1": 2}


def test_unknown_key_ids_are_negatively_cached() -> None:
    source = InMemorySecrets()
    clock = Clock()
    keys = _keys(source, clock)
    assert keys.get("nobody") is None
    assert keys.get("nobody") is None
    assert source.reads == {"stack/keys/nobody": 1}
    clock.now += 61
    source.secrets["stack/keys/nobody"] = {"secret": "new", "scope": "admin"}
    key = keys.get("nobody")
    assert key is not None
    assert key.scope == "admin"


@pytest.mark.parametrize(
    "value",
    [{"scope": "storefront"}, {"secret": "", "scope": "storefront"}, {"secret": "x", "scope": "root"}],
)
def test_malformed_key_secrets_mean_no_key(value: dict[str, str]) -> None:
    keys = _keys(InMemorySecrets({"stack/keys/bad": value}), Clock())
    assert keys.get("bad") is None


@pytest.mark.parametrize("key_id", [None, "", "../admin", "a b", "x" * 65, "key/../../other"])
def test_odd_key_ids_are_not_looked_up(key_id: str | None) -> None:
    source = InMemorySecrets()
    assert _keys(source, Clock()).get(key_id) is None
    assert source.reads == {}


def test_secrets_manager_trouble_is_not_cached_as_unknown() -> None:
    source = InMemorySecrets({"stack/keys/shop-1": {"secret": "abc"}})
    source.fail_with = errors.Retryable("throttled")
    keys = _keys(source, Clock())
    with pytest.raises(errors.Retryable):
        keys.get("shop-1")
    source.fail_with = None
    key = keys.get("shop-1")
    assert key is not None
    assert key.scope == "storefront"


# ---------------------------------------------------------------- authorizer decision

KEYS = StaticSigningKeys({"shop-1": ("a", "storefront"), "ops-1": ("b", "admin")})


@pytest.mark.parametrize(
    ("path", "key_id", "allowed", "scope"),
    [
        ("/v1/admin/errors", "shop-1", False, "storefront"),
        ("/v1/admin", "shop-1", False, "storefront"),
        ("/v1/admin/errors", "ops-1", True, "admin"),
        ("/v1/admin/errors", "nobody", True, "unknown"),  # the function answers 401 problem+json
        ("/v1/admin/errors", None, True, "unknown"),
        ("/v1/customers", "shop-1", True, "storefront"),
        ("/v1/administrators", "shop-1", True, "storefront"),
    ],
)
def test_authorizer_denies_only_known_non_admin_keys_on_admin_routes(
    path: str, key_id: str | None, allowed: bool, scope: str
) -> None:
    decision = decide_access(path=path, key_id=key_id, timestamp=str(TS), keys=KEYS, now=TS)
    assert (decision.allowed, decision.scope) == (allowed, scope)
    assert decision.timestamp_ok


def test_authorizer_reports_stale_timestamps_without_denying() -> None:
    decision = decide_access(
        path="/v1/customers", key_id="shop-1", timestamp=str(TS), keys=KEYS, now=TS + 301
    )
    assert decision.allowed
    assert not decision.timestamp_ok
