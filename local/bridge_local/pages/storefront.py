"""A storefront backend's calls to the bridge: the example code to copy.

The demo shop (``/demo/``) is a reference storefront. Its browser pages never see a secret:
they post forms to the shop's server side, and only this module talks to the bridge, one
signed request per call, exactly as a real storefront backend would (API.md "Transport")::

    canonical = f"{timestamp}\\n{METHOD}\\n{path_with_query}\\n{sha256_hex(body)}"
    X-Bridge-Key-Id: <key id>    X-Bridge-Timestamp: <unix seconds>
    X-Bridge-Signature: hex(HMAC-SHA256(secret, canonical))

``SignedClient`` (bridge_local/client.py, built on ``loyalty_bridge.signing.signed_headers``)
does that for every request and adds an ``Idempotency-Key`` to writes. Here the key is
derived from a business id where one exists (the customer, the order, the refund), so a
double click or a retried request returns the first answer instead of doing it twice.

Every answer of 400 or more becomes a ``BridgeProblem`` carrying the RFC 9457 problem's
stable ``code``: the shop branches on codes, never on text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from bridge_local.client import SignedClient

Document = dict[str, Any]


class BridgeProblem(Exception):
    """An answer of 400 or more: ``status``, ``code`` (e.g. ``card_not_attachable``), ``detail``."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


def _segment(value: str) -> str:
    return quote(value, safe="")


class Storefront:
    """The bridge as the shop's backend sees it (storefront key)."""

    def __init__(self, base_url: str, *, key_id: str, secret: str, timeout: float = 30.0) -> None:
        self._api = SignedClient(base_url, key_id=key_id, secret=secret, timeout=timeout)

    def close(self) -> None:
        self._api.close()

    def call(
        self, method: str, path: str, body: Document | None = None, *, key: str | None = None
    ) -> Document:
        """One signed request; ``key`` is the Idempotency-Key of a write (default: a new one)."""
        response = self._api.request(method, path, json=body, idempotency_key=key)
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            raise BridgeProblem(
                response.status_code,
                str(problem.get("code") or problem.get("message") or "error"),
                str(problem.get("detail") or problem.get("title") or response.text[:200]),
            )
        if response.status_code == 204 or not response.content:
            return {}
        document: Document = response.json()
        return document

    # -------------------------------------------------------------- accounts (A1-A7)

    def web_account_created(self, customer: Document) -> Document:
        """A new web account: the bridge creates the loyalty account in the background."""
        return self.call("POST", "/v1/customers", customer, key=f"signup-{customer['customer_id']}")

    def summary(self, customer_id: str) -> Document:
        """The login summary (A6): points, card, tier, next reward, join prompt."""
        return self.call("GET", f"/v1/customers/{_segment(customer_id)}/loyalty")

    def join(self, customer_id: str) -> Document:
        return self.call("POST", f"/v1/customers/{_segment(customer_id)}/loyalty/join", {})

    def attach_card(self, customer_id: str, card_number: str, email: str) -> Document:
        """A4: a code goes to the card's email; the reply never says whether the card exists."""
        body = {"card_number": card_number, "email": email}
        return self.call("POST", f"/v1/customers/{_segment(customer_id)}/loyalty/attach", body)

    def confirm_card(self, customer_id: str, code: str) -> Document:
        path = f"/v1/customers/{_segment(customer_id)}/loyalty/attach/confirm"
        return self.call("POST", path, {"code": code})

    def start_phone(self, customer_id: str, mobile: str) -> Document:
        """A7: a 4-digit code by SMS."""
        return self.call("POST", f"/v1/customers/{_segment(customer_id)}/loyalty/phone", {"mobile": mobile})

    def confirm_phone(self, customer_id: str, code: str) -> Document:
        path = f"/v1/customers/{_segment(customer_id)}/loyalty/phone/confirm"
        return self.call("POST", path, {"code": code})

    def merge_cards(self, customer_id: str, primary_card: str, cards: list[str]) -> Document:
        """A8: after the phone is verified, the other cards' points move to the primary."""
        body = {"primary_card": primary_card, "cards": cards}
        return self.call("POST", f"/v1/customers/{_segment(customer_id)}/loyalty/merge", body)

    def update_profile(self, customer_id: str, changes: Document) -> Document:
        """P1: the web change always goes through; the platform is updated in the background."""
        return self.call("PATCH", f"/v1/customers/{_segment(customer_id)}", changes)

    def set_consents(self, customer_id: str, *, email: bool, sms: bool) -> Document:
        path = f"/v1/customers/{_segment(customer_id)}/consents"
        return self.call("PUT", path, {"email": email, "sms": sms})

    def loyalty_profile(self, customer_id: str) -> Document:
        """A11: what the loyalty account holds (prefill) and the fields still ``missing``."""
        return self.call("GET", f"/v1/customers/{_segment(customer_id)}/loyalty/profile")

    def activity(self, customer_id: str, *, limit: int = 50, cursor: str | None = None) -> Document:
        """R8: the history, newest first."""
        query = urlencode({"limit": limit, **({"cursor": cursor} if cursor else {})})
        return self.call("GET", f"/v1/customers/{_segment(customer_id)}/loyalty/activity?{query}")

    def coupons(self, customer_id: str) -> Document:
        return self.call("GET", f"/v1/customers/{_segment(customer_id)}/loyalty/coupons")

    def redeem_reward(self, customer_id: str, reward_id: str, *, key: str) -> Document:
        """R4: spend a reward's points for a coupon; apply its code to a cart as the promo code."""
        path = f"/v1/customers/{_segment(customer_id)}/loyalty/rewards/{_segment(reward_id)}/redeem"
        return self.call("POST", path, {}, key=key)

    def program(self) -> Document:
        """R11: the program in words (ways to earn, tiers, rewards); cacheable."""
        return self.call("GET", "/v1/program")

    # -------------------------------------------------------------- checkout (C1-C5)

    def quote(self, basket: Document, *, redeem_points: int = 0) -> Document:
        """C1: points the basket earns, the balance, what can be cashed in. The bridge caps
        ``redeem_points`` at what may be redeemed (``redeem_points`` in the answer)."""
        return self.call("POST", "/v1/checkout/quote", {**basket, "redeem_points": redeem_points})

    def hold_points(self, customer_id: str, cart_id: str, points: int, order_total: str) -> Document:
        """C2: hold points for a discount until the order completes (or the hold expires)."""
        body = {"customer_id": customer_id, "cart_id": cart_id, "points": points, "order_total": order_total}
        return self.call("POST", "/v1/checkout/redemptions", body, key=f"hold-{cart_id}-{points}")

    def release_hold(self, redemption_id: str) -> None:
        self.call("DELETE", f"/v1/checkout/redemptions/{_segment(redemption_id)}")

    def order_completed(self, order: Document) -> Document:
        """C4: the completed order; the answer carries the new balance."""
        order = {"placed_at": datetime.now(UTC).isoformat(), **order}
        return self.call("POST", "/v1/orders", order, key=f"order-{order['order_id']}")

    def refund(self, order_id: str, refund_id: str, lines: list[Document]) -> Document:
        """C5: take back the points of the refunded lines."""
        body = {"refund_id": refund_id, "lines": lines}
        return self.call("POST", f"/v1/orders/{_segment(order_id)}/refunds", body, key=f"refund-{refund_id}")
