"""The demo shop's own side: web accounts (email and password), login sessions, the catalogue
and carts. All in memory, like the local stack's moto: a restart starts a new shop."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

SESSION_COOKIE = "demo_session"
CURRENCY = "EUR"
SHIPPING = Decimal("4.95")
MAX_QUANTITY = 99


@dataclass(frozen=True)
class Product:
    sku: str
    title: str
    price: Decimal
    categories: tuple[str, ...]  # department, category, subcategory


# Chosen to show make run's sample program: Garden earns double, COFFEE-1 earns 5 extra.
CATALOGUE = (
    Product("COFFEE-1", "House coffee beans, 1 kg", Decimal("12.50"), ("Food", "Coffee")),
    Product("HOSE-25", "Garden hose, 25 m", Decimal("29.90"), ("Garden", "Watering", "Hoses")),
    Product("MUG-1", "Coffee mug", Decimal("8.00"), ("Home", "Kitchen")),
    Product("TEE-1", "Cotton T-shirt", Decimal("19.00"), ("Clothing", "Tops")),
)
PRODUCTS = {product.sku: product for product in CATALOGUE}


def _password_hash(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, 100_000)


@dataclass
class PlacedOrder:
    order_id: str
    lines: list[dict[str, Any]]
    total: str
    answer: dict[str, Any]
    refunds: list[dict[str, Any]] = field(default_factory=list)

    def refunded(self, sku: str) -> int:
        return sum(
            line["quantity"] for refund in self.refunds for line in refund["lines"] if line["sku"] == sku
        )


@dataclass
class WebAccount:
    customer_id: str
    email: str
    first_name: str
    last_name: str
    salt: bytes
    password_hash: bytes
    mobile: str = ""
    birthday: str = ""
    consents: dict[str, bool] = field(default_factory=lambda: {"email": False, "sms": False})
    orders: dict[str, PlacedOrder] = field(default_factory=dict)

    def password_matches(self, password: str) -> bool:
        return hmac.compare_digest(_password_hash(password, self.salt), self.password_hash)


@dataclass
class Cart:
    cart_id: str = field(default_factory=lambda: f"cart-{secrets.token_hex(6)}")
    quantities: dict[str, int] = field(default_factory=dict)
    promo_code: str = ""
    redeem: str = "none"  # none | some | all
    redeem_points: int = 0

    def add(self, sku: str, quantity: int) -> None:
        if sku in PRODUCTS:
            total = self.quantities.get(sku, 0) + quantity
            if total <= 0:
                self.quantities.pop(sku, None)
            else:
                self.quantities[sku] = min(total, MAX_QUANTITY)

    def lines(self) -> list[dict[str, Any]]:
        """The basket as the bridge's checkout lines (API.md "A line")."""
        return [
            {
                "sku": sku,
                "title": PRODUCTS[sku].title,
                "quantity": quantity,
                "unit_price": str(PRODUCTS[sku].price),
                "categories": list(PRODUCTS[sku].categories),
            }
            for sku, quantity in sorted(self.quantities.items())
        ]

    def merchandise(self) -> Decimal:
        return sum((PRODUCTS[sku].price * q for sku, q in self.quantities.items()), Decimal("0.00"))

    def basket(self, customer_id: str) -> dict[str, Any]:
        basket: dict[str, Any] = {
            "customer_id": customer_id,
            "currency": CURRENCY,
            "lines": self.lines(),
            "shipping": str(SHIPPING),
        }
        if self.promo_code:
            basket["promo_code"] = self.promo_code
        return basket

    def wanted_points(self) -> int:
        """What the redeem control asks for; "all" asks for as many as the bridge allows."""
        if self.redeem == "all":
            return 100_000_000
        if self.redeem == "some":
            return max(0, self.redeem_points)
        return 0


@dataclass
class Session:
    token: str
    customer_id: str | None = None
    cart: Cart = field(default_factory=Cart)
    flash: str = ""
    problem: str = ""
    pending_attach: str = ""  # the card number whose emailed code is awaited
    pending_phone: str = ""
    phone_cards: list[dict[str, Any]] = field(default_factory=list)  # found on the verified phone (A8)


class Shop:
    def __init__(self) -> None:
        self._accounts: dict[str, WebAccount] = {}  # by customer id
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def session(self, token: str | None) -> Session:
        with self._lock:
            if token and token in self._sessions:
                return self._sessions[token]
            session = Session(token=secrets.token_urlsafe(24))
            self._sessions[session.token] = session
            return session

    def account(self, customer_id: str | None) -> WebAccount | None:
        return self._accounts.get(customer_id or "")

    def by_email(self, email: str) -> WebAccount | None:
        wanted = email.strip().lower()
        return next((a for a in self._accounts.values() if a.email.lower() == wanted), None)

    def create_account(self, *, email: str, password: str, first_name: str, last_name: str) -> WebAccount:
        """A new web account; ValueError when the email is taken or the password too short."""
        if len(password) < 8:
            raise ValueError("Choose a password of at least 8 characters.")
        with self._lock:
            if self.by_email(email) is not None:
                raise ValueError("An account with this email exists: log in instead.")
            salt = secrets.token_bytes(16)
            account = WebAccount(
                customer_id=f"web-{secrets.token_hex(6)}",
                email=email.strip(),
                first_name=first_name.strip(),
                last_name=last_name.strip(),
                salt=salt,
                password_hash=_password_hash(password, salt),
            )
            self._accounts[account.customer_id] = account
            return account

    def log_in(self, email: str, password: str) -> WebAccount | None:
        account = self.by_email(email)
        if account is None or not account.password_matches(password):
            return None
        return account

    def remove(self, customer_id: str) -> None:
        """Undo a signup the bridge refused (its answer is shown; the shop keeps nothing)."""
        with self._lock:
            self._accounts.pop(customer_id, None)
