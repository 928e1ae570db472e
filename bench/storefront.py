"""A storefront backend, as the bench and the soak drive the API: signed requests, an
Idempotency-Key per logical write, and retries of that same key on 5xx/429/409-in-progress
(what a well-behaved storefront does; API.md "Transport")."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from bridge_local.client import SignedClient

RETRY_STATUSES = {409, 429, 500, 502, 503, 504}


# What a signup gives the customer before any change (the soak's audit compares with them).
SIGNUP_FIRST_NAME = "Ann"
SIGNUP_CONSENTS = {"email": True, "sms": False}


@dataclass
class Outcome:
    """The final answer of one logical operation (after retries)."""

    status: int
    body: dict[str, Any]
    attempts: int
    server_errors: int  # 5xx answers seen on the way (a 500 is a defect; a 503 is a "retry")
    seconds: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def unknown(self) -> bool:
        """The storefront never learnt whether the change was made: every attempt ended in a
        5xx, a transport error or "still in progress" (the change may or may not be made)."""
        return self.status >= 500 or (self.status == 409 and self.body.get("code") == "request_in_progress")


@dataclass
class Storefront:
    client: SignedClient
    max_attempts: int = 12  # with the backoff, about 15 s: past a Lambda timeout (10 s)
    backoff: float = 0.05
    statuses: dict[int, int] = field(default_factory=dict)  # every HTTP status seen, counted

    def call(self, method: str, path: str, body: Any = None, *, key: str | None = None) -> Outcome:
        key = key or str(uuid.uuid4())
        started = time.perf_counter()
        server_errors = 0
        status, document = 0, {}
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self.client.request(method, path, json=body, idempotency_key=key)
            except httpx.TransportError:
                status, document = 599, {"code": "transport_error"}
            else:
                status = response.status_code
                document = _json(response)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status >= 500:
                server_errors += 1
            if status not in RETRY_STATUSES or (
                status == 409 and document.get("code") != "request_in_progress"
            ):
                break
            time.sleep(min(self.backoff * 2 ** (attempt - 1), 2.0))
        return Outcome(status, document, attempt, server_errors, time.perf_counter() - started)

    # ------------------------------------------------------------ API.md operations

    def signup(
        self, customer_id: str, email: str, *, first_name: str = SIGNUP_FIRST_NAME, join: bool | None = None
    ) -> Outcome:
        body: dict[str, Any] = {
            "customer_id": customer_id,
            "email": email,
            "first_name": first_name,
            "last_name": "Bench",
            "consents": dict(SIGNUP_CONSENTS),
        }
        if join is not None:
            body["join"] = join
        return self.call("POST", "/v1/customers", body)

    def summary(self, customer_id: str) -> Outcome:
        return self.call("GET", f"/v1/customers/{customer_id}/loyalty")

    def update_profile(self, customer_id: str, changes: dict[str, Any]) -> Outcome:
        return self.call("PATCH", f"/v1/customers/{customer_id}", changes)

    def set_consents(self, customer_id: str, *, email: bool, sms: bool) -> Outcome:
        return self.call("PUT", f"/v1/customers/{customer_id}/consents", {"email": email, "sms": sms})

    def quote(self, customer_id: str, lines: list[dict[str, Any]], **extra: Any) -> Outcome:
        return self.call(
            "POST",
            "/v1/checkout/quote",
            {"customer_id": customer_id, "currency": "EUR", "lines": lines, **extra},
        )

    def hold(self, customer_id: str, cart_id: str, points: int, *, order_total: str = "100.00") -> Outcome:
        body = {"customer_id": customer_id, "cart_id": cart_id, "points": points, "order_total": order_total}
        return self.call("POST", "/v1/checkout/redemptions", body)

    def release(self, redemption_id: str) -> Outcome:
        return self.call("DELETE", f"/v1/checkout/redemptions/{redemption_id}")

    def order(
        self,
        customer_id: str,
        order_id: str,
        lines: list[dict[str, Any]],
        *,
        redemption_id: str | None = None,
        promo_code: str | None = None,
    ) -> Outcome:
        total = sum(Decimal(line["unit_price"]) * line["quantity"] for line in lines)
        body: dict[str, Any] = {
            "order_id": order_id,
            "customer_id": customer_id,
            "placed_at": datetime.now(UTC).isoformat(),
            "currency": "EUR",
            "channel": "webshop",
            "lines": lines,
            "shipping": "0",
            "total": str(total),
        }
        if redemption_id:
            body["redemption_id"] = redemption_id
        if promo_code:
            body["promo_code"] = promo_code
        return self.call("POST", "/v1/orders", body)

    def refund(self, order_id: str, refund_id: str, lines: list[dict[str, Any]]) -> Outcome:
        return self.call("POST", f"/v1/orders/{order_id}/refunds", {"refund_id": refund_id, "lines": lines})

    def cancel(self, order_id: str) -> Outcome:
        return self.call("POST", f"/v1/orders/{order_id}/cancel")


def basket(n_lines: int = 2, *, price: str = "10.00") -> list[dict[str, Any]]:
    return [
        {
            "sku": f"SKU-{i:04d}",
            "title": f"Product {i}",
            "quantity": 1 + i % 2,
            "unit_price": price,
            "categories": ["Garden", "Tools", None],
        }
        for i in range(n_lines)
    ]


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {"items": document}
