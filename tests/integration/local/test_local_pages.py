"""The local pages (bridge_local.pages: /demo/, /admin/, /docs) stay local: no template
route lives under their prefixes, nothing deployed carries their code, and the gateway asks
them only about their own paths. Their small web toolkit and the mail/SMS reader, checked
without a browser (tests/acceptance/pages drives the pages in Chromium)."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path

import pytest

from bridge_local.events import HttpRequest
from bridge_local.pages import PREFIXES, page_prefix
from bridge_local.pages.outbox import Outbox
from bridge_local.pages.web import Request, Router, html_response
from tests.integration.local.test_local_drift import ROOT, _events, _template


def test_no_template_route_is_under_a_page_prefix() -> None:
    paths = [props["Path"] for _, _, props in _events("HttpApi")]
    assert paths
    assert [path for path in paths if page_prefix(path) is not None] == []


def test_nothing_deployed_carries_the_local_package() -> None:
    uris = [
        str(resource["Properties"].get("CodeUri") or resource["Properties"].get("ContentUri") or "")
        for resource in _template()["Resources"].values()
        if resource["Type"] in ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion")
    ]
    assert uris
    for uri in uris:
        assert not (ROOT / uri / "bridge_local").exists(), uri
        assert not uri.startswith("local"), uri


@pytest.mark.parametrize(
    ("path", "prefix"),
    [
        ("/demo", "/demo"),
        ("/demo/cart", "/demo"),
        ("/admin/", "/admin"),
        ("/docs", "/docs"),
        ("/docs/assets/swagger-ui.css", "/docs"),
        ("/demonstration", None),
        ("/v1/admin/errors", None),
        ("/v1/health", None),
        ("/", None),
    ],
)
def test_the_gateway_hands_the_pages_only_their_own_paths(path: str, prefix: str | None) -> None:
    assert page_prefix(path) == prefix
    assert set(PREFIXES) == {"/demo", "/admin", "/docs"}


def _request(method: str, target: str, body: bytes = b"", **headers: str) -> Request:
    return Request.parse(HttpRequest(method, target, list(headers.items()), body))


def test_the_router_matches_patterns_and_answers_404_and_405() -> None:
    router = Router()
    router.add("GET", "/demo/orders/{order_id}", lambda r: html_response(r.params["order_id"]))
    assert router.dispatch(_request("GET", "/demo/orders/o-1")).body == b"o-1"
    assert router.dispatch(_request("HEAD", "/demo/orders/o-1")).status == 200
    assert router.dispatch(_request("POST", "/demo/orders/o-1")).status == 405
    assert router.dispatch(_request("GET", "/demo/orders/o-1/more")).status == 404
    assert router.dispatch(_request("GET", "/demo/orders/")).status == 404


def test_a_request_reads_its_form_query_and_cookies_and_survives_bad_ones() -> None:
    parsed = _request(
        "POST",
        "/demo/cart/update?x=1",
        b"promo_code=+SPRING+&redeem=all&qty-TEE-1=2",
        **{"content-type": "application/x-www-form-urlencoded", "cookie": "demo_session=abc; other=1"},
    )
    assert parsed.field("promo_code") == "SPRING"
    assert parsed.form["qty-TEE-1"] == "2"
    assert parsed.checked("redeem")
    assert not parsed.checked("join")
    assert parsed.query == {"x": "1"}
    assert parsed.cookies["demo_session"] == "abc"
    broken = _request("POST", "/demo/", b"a=1", **{"cookie": '"\x00;;=', "content-type": "text/plain"})
    assert broken.form == {}  # only form posts are read as forms


def _mail(directory: Path, name: str, to: str, subject: str, text: str) -> None:
    message = EmailMessage()
    message["To"], message["Subject"] = to, subject
    message.set_content(text)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(bytes(message))


def test_the_outbox_finds_a_customers_codes_and_the_email_of_each_error(tmp_path: Path) -> None:
    _mail(tmp_path / "mail", "20260101T000001-0001.eml", "ann@example.com", "Your code", "Code: 123456")
    _mail(
        tmp_path / "mail",
        "20260101T000002-0002.eml",
        "admin@example.com",
        "[local] Account Update Errors",
        "Account Update Errors\n\nError id: account_update:e-1\nWhat to do: fix it",
    )
    (tmp_path / "sms").mkdir()
    (tmp_path / "sms" / "20260101T000003-0003.json").write_text(
        json.dumps({"to": "+447700900123", "message": "Your code is 1234"})
    )
    outbox = Outbox(tmp_path)
    seen = outbox.latest(to={"ANN@example.com", "+447700900123"})
    assert [(c.kind, c.text.strip()) for c in seen] == [
        ("sms", "Your code is 1234"),
        ("mail", "Code: 123456"),
    ]
    errors = outbox.error_mail()
    assert list(errors) == ["account_update:e-1"]
    assert "What to do: fix it" in errors["account_update:e-1"].text
    assert outbox.latest(to={"nobody@example.com"}) == []
