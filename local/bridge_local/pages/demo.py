"""``/demo/``: the reference storefront. Forms post to these handlers (the shop's server
side); they call the bridge through ``Storefront`` (signed requests) and answer with a
redirect (303) or a server-rendered page. The browser never holds a secret: only a
session cookie of the shop."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bridge_local.events import HttpResponse
from bridge_local.pages import demo_views as views
from bridge_local.pages.outbox import Outbox
from bridge_local.pages.shop import CURRENCY, SESSION_COOKIE, SHIPPING, PlacedOrder, Session, Shop, WebAccount
from bridge_local.pages.storefront import BridgeProblem, Storefront
from bridge_local.pages.web import Request, Router, html_response, nav_links, page, redirect

PREFIX = "/demo"
NAV = (
    ("/demo/", "Home"),
    ("/demo/cart", "Cart"),
    ("/demo/orders", "Orders"),
    ("/demo/history", "History"),
    ("/demo/card", "Card"),
    ("/demo/details", "Details"),
)
SessionHandler = Callable[[Request, Session], HttpResponse]
AccountHandler = Callable[[Request, Session, WebAccount], HttpResponse]


def _cookie(session: Session) -> tuple[str, str]:
    return ("set-cookie", f"{SESSION_COOKIE}={session.token}; Path={PREFIX}; HttpOnly; SameSite=Lax")


class Demo:
    def __init__(self, storefront: Storefront, outbox: Outbox) -> None:
        self.shop = Shop()
        self.api = storefront
        self.outbox = outbox

    # -------------------------------------------------------------- plumbing

    def _with_session(self, handler: SessionHandler) -> Callable[[Request], HttpResponse]:
        def run(request: Request) -> HttpResponse:
            session = self.shop.session(request.cookies.get(SESSION_COOKIE))
            try:
                response = handler(request, session)
            except BridgeProblem as problem:
                session.problem = f"The bridge answered {problem.status} {problem.code}: {problem.detail}"
                if request.method == "GET":
                    response = self._page(session, "Sorry", "")
                else:
                    response = redirect(_back(request.path))
            response.headers.append(_cookie(session))
            return response

        return run

    def _signed_in(self, handler: AccountHandler) -> Callable[[Request], HttpResponse]:
        def run(request: Request, session: Session) -> HttpResponse:
            account = self.shop.account(session.customer_id)
            if account is None:
                return redirect(PREFIX + "/")
            return handler(request, session, account)

        return self._with_session(run)

    def _page(self, session: Session, title: str, body: str, *, aside: str = "") -> HttpResponse:
        links = [*NAV, ("/demo/logout", "")] if session.customer_id else [("/demo/", "Home")]
        nav = nav_links("Demo shop", [link for link in links if link[1]])
        if session.customer_id:
            nav += (
                '<form class="inline" method="post" action="/demo/logout">'
                '<button id="logout">Log out</button></form>'
            )
        flash, problem = session.flash, session.problem
        session.flash = session.problem = ""
        return html_response(page(title, body, nav=nav, aside=aside, flash=flash, problem=problem))

    def _done(self, session: Session, location: str, flash: str = "") -> HttpResponse:
        session.flash = flash
        return redirect(location)

    def routes(self, router: Router) -> None:
        add, signed = router.add, self._signed_in
        add("GET", "/demo", lambda request: redirect("/demo/"))
        add("GET", "/demo/", self._with_session(self.home))
        add("POST", "/demo/signup", self._with_session(self.signup))
        add("POST", "/demo/login", self._with_session(self.login))
        add("POST", "/demo/logout", self._with_session(self.logout))
        add("POST", "/demo/join", signed(self.join))
        add("POST", "/demo/rewards/{reward_id}/redeem", signed(self.redeem_reward))
        add("GET", "/demo/card", signed(self.card))
        add("POST", "/demo/card/attach", signed(self.attach))
        add("POST", "/demo/card/confirm", signed(self.confirm_card))
        add("POST", "/demo/card/merge", signed(self.merge))
        add("POST", "/demo/phone", signed(self.phone))
        add("POST", "/demo/phone/confirm", signed(self.confirm_phone))
        add("GET", "/demo/details", signed(self.details))
        add("POST", "/demo/details", signed(self.save_details))
        add("GET", "/demo/cart", signed(self.cart))
        add("POST", "/demo/cart/add", signed(self.add_to_cart))
        add("POST", "/demo/cart/update", signed(self.update_cart))
        add("POST", "/demo/cart/order", signed(self.place_order))
        add("GET", "/demo/orders", signed(self.orders))
        add("GET", "/demo/orders/{order_id}", signed(self.order))
        add("POST", "/demo/orders/{order_id}/refund", signed(self.refund))
        add("GET", "/demo/history", signed(self.history))

    # -------------------------------------------------------------- accounts

    def home(self, request: Request, session: Session) -> HttpResponse:
        account = self.shop.account(session.customer_id)
        if account is None:
            return self._page(session, "Welcome to the demo shop", views.welcome())
        summary = self.api.summary(account.customer_id)
        coupons = self.api.coupons(account.customer_id)["coupons"] if summary["status"] == "joined" else []
        body = views.home(account, summary, self.api.program(), coupons)
        return self._page(session, "Your account", body)

    def signup(self, request: Request, session: Session) -> HttpResponse:
        try:
            account = self.shop.create_account(
                email=request.field("email"),
                password=request.form.get("password", ""),
                first_name=request.field("first_name"),
                last_name=request.field("last_name"),
            )
        except ValueError as exc:
            session.problem = str(exc)
            return redirect(PREFIX + "/")
        account.consents = {"email": request.checked("consent_email"), "sms": request.checked("consent_sms")}
        customer: dict[str, Any] = {
            "customer_id": account.customer_id,
            "email": account.email,
            "first_name": account.first_name,
            "last_name": account.last_name,
            "consents": account.consents,
            "join": request.checked("join"),
        }
        if request.field("card_number"):
            customer["card_number"] = request.field("card_number")
        try:
            self.api.web_account_created(customer)
        except BridgeProblem:
            self.shop.remove(account.customer_id)
            raise
        session.customer_id = account.customer_id
        return self._done(session, PREFIX + "/", "Welcome! Your account is ready.")

    def login(self, request: Request, session: Session) -> HttpResponse:
        account = self.shop.log_in(request.field("email"), request.form.get("password", ""))
        if account is None:
            session.problem = "Wrong email or password."
            return redirect(PREFIX + "/")
        session.customer_id = account.customer_id
        return redirect(PREFIX + "/")

    def logout(self, request: Request, session: Session) -> HttpResponse:
        session.customer_id = None
        return redirect(PREFIX + "/")

    def join(self, request: Request, session: Session, account: WebAccount) -> HttpResponse:
        answer = self.api.join(account.customer_id)
        return self._done(session, PREFIX + "/", f"Joining: {answer.get('status')}.")

    def redeem_reward(self, request: Request, session: Session, account: WebAccount) -> HttpResponse:
        key = f"reward-{account.customer_id}-{request.field('nonce')[:32] or secrets.token_hex(8)}"
        coupon = self.api.redeem_reward(account.customer_id, request.params["reward_id"], key=key)
        said = f"{coupon['name']}: your coupon code is {coupon['code']} (enter it as the promo code)."
        return self._done(session, PREFIX + "/", said)

    def card(self, request: Request, session: Session, account: WebAccount) -> HttpResponse:
        summary = self.api.summary(account.customer_id)
        body = views.card_page(
            summary,
            attach_pending=session.pending_attach,
            phone_pending=session.pending_phone,
            cards=session.phone_cards,
        )
        seen = self.outbox.latest(to={account.email, account.mobile, session.pending_phone})
        return self._page(session, "Your card", body, aside=views.outbox_panel(seen))

    def attach(self, request: Request, session: Session, account: WebAccount) -> HttpResponse:
        answer = self.api.attach_card(
            account.customer_id, request.field("card_number"), request.field("email")
        )
        session.pending_attach = request.field("card_number")
        return self._done(
            session, PREFIX + "/card", f"We emailed a code (valid until {answer['expires_at']})."
        )

    def confirm_card(self, request: Request, session: Session, account: WebAccount) -> HttpResponse:
        summary = self.api.confirm_card(account.customer_id, request.field("code"))
        session.pending_attach = ""
        return self._done(session, PREFIX + "/", f"Card {summary['card']['number']} attached.")

    def phone(self, request: Request, session: Session, account: WebAccount) -> HttpResponse:
        answer = self.api.start_phone(account.customer_id, request.field("mobile"))
        session.pending_phone = request.field("mobile")
        return self._done(
            session, PREFIX + "/card", f"We texted a code (valid until {answer['expires_at']})."
        )

    def confirm_phone(self, request: Request, session: Session, account: WebAccount) -> HttpResponse:
        answer = self.api.confirm_phone(account.customer_id, request.field("code"))
        account.mobile, session.pending_phone = session.pending_phone, ""
        if answer.get("cards"):
            session.phone_cards = list(answer["cards"])
            return self._done(session, PREFIX + "/card", "Mobile verified: choose the card to keep.")
        return self._done(session, PREFIX + "/", "Mobile verified.")

    def merge(self, request: Request, session: Session, account: WebAccount) -> HttpResponse:
        primary = request.field("primary_card")
        others = [str(c["number"]) for c in session.phone_cards if str(c["number"]) != primary]
        if not others or len(others) == len(session.phone_cards):
            return self._done(session, PREFIX + "/card", "Choose one of the cards found on your phone.")
        summary = self.api.merge_cards(account.customer_id, primary, others)
        session.phone_cards = []
        said = f"Merged into card {summary['card']['number']}: {summary['points']['balance']} points."
        return self._done(session, PREFIX + "/", said)

    def details(self, request: Request, session: Session, account: WebAccount) -> HttpResponse:
        missing: list[str] = []
        if self.api.summary(account.customer_id)["status"] == "joined":
            missing = list(self.api.loyalty_profile(account.customer_id).get("missing", []))
        return self._page(session, "Your details", views.details_page(account, missing))

    def save_details(self, request: Request, session: Session, account: WebAccount) -> HttpResponse:
        changes = {
            name: request.field(name)
            for name in ("first_name", "last_name", "email", "mobile", "birthday")
            if request.field(name) != getattr(account, name) and (request.field(name) or name in ("mobile",))
        }
        said = []
        if changes:
            answer = self.api.update_profile(account.customer_id, {k: v or None for k, v in changes.items()})
            for name, value in changes.items():
                setattr(account, name, value)
            said.append(f"details saved (sync {answer.get('sync')})")
        consents = {"email": request.checked("consent_email"), "sms": request.checked("consent_sms")}
        if consents != account.consents:
            answer = self.api.set_consents(account.customer_id, **consents)
            account.consents = consents
            said.append(f"opt-ins saved (sync {answer.get('sync')})")
        return self._done(
            session, PREFIX + "/details", ("; ".join(said) or "nothing changed").capitalize() + "."
        )

    # -------------------------------------------------------------- checkout

    def cart(self, request: Request, session: Session, account: WebAccount) -> HttpResponse:
        cart = session.cart
        quote = (
            self.api.quote(cart.basket(account.customer_id), redeem_points=cart.wanted_points())
            if cart.quantities
            else None
        )
        return self._page(session, "Your cart", views.cart_page(cart, quote))

    def add_to_cart(self, request: Request, session: Session, account: WebAccount) -> HttpResponse:
        session.cart.add(request.field("sku"), _int(request.field("quantity"), 1))
        return redirect(PREFIX + "/cart")

    def update_cart(self, request: Request, session: Session, account: WebAccount) -> HttpResponse:
        cart = session.cart
        for sku in list(cart.quantities):
            wanted = _int(request.field(f"qty-{sku}"), cart.quantities[sku])
            cart.add(sku, wanted - cart.quantities[sku])
        cart.promo_code = request.field("promo_code")[:64]
        cart.redeem = (
            request.field("redeem") if request.field("redeem") in ("none", "some", "all") else "none"
        )
        cart.redeem_points = max(0, _int(request.field("redeem_points"), 0))
        return redirect(PREFIX + "/cart")

    def place_order(self, request: Request, session: Session, account: WebAccount) -> HttpResponse:
        cart = session.cart
        if not cart.quantities:
            return self._done(session, PREFIX + "/cart", "Your cart is empty.")
        basket = cart.basket(account.customer_id)
        quote = self.api.quote(basket, redeem_points=cart.wanted_points())
        order: dict[str, Any] = {**basket, "order_id": f"demo-{secrets.token_hex(6)}", "channel": "webshop"}
        discount = Decimal("0")
        if quote["redeem_points"] > 0:
            hold = self.api.hold_points(
                account.customer_id, cart.cart_id, quote["redeem_points"], str(cart.merchandise())
            )
            order["redemption_id"], discount = hold["redemption_id"], Decimal(str(hold["discount"]))
        order["total"] = str(cart.merchandise() + SHIPPING - discount)
        order["currency"] = CURRENCY
        try:
            answer = self.api.order_completed(order)
        except BridgeProblem:
            if "redemption_id" in order:  # the order was refused: give the held points back now
                self.api.release_hold(order["redemption_id"])
            raise
        account.orders[order["order_id"]] = PlacedOrder(
            order["order_id"], order["lines"], order["total"], answer
        )
        session.cart = type(cart)()
        return self._done(session, f"{PREFIX}/orders/{order['order_id']}", "Thank you for your order.")

    def orders(self, request: Request, session: Session, account: WebAccount) -> HttpResponse:
        return self._page(session, "Your orders", views.orders_page(reversed(account.orders.values())))

    def order(self, request: Request, session: Session, account: WebAccount) -> HttpResponse:
        order = account.orders.get(request.params["order_id"])
        if order is None:
            return self._page(session, "No such order", "<p>This order is not yours.</p>")
        return self._page(session, f"Order {order.order_id}", views.order_page(order))

    def refund(self, request: Request, session: Session, account: WebAccount) -> HttpResponse:
        order = account.orders.get(request.params["order_id"])
        if order is None:
            return redirect(PREFIX + "/orders")
        sku = request.field("sku")
        left = next((line["quantity"] for line in order.lines if line["sku"] == sku), 0) - order.refunded(sku)
        quantity = min(_int(request.field("quantity"), left), left)
        if quantity <= 0:
            return self._done(session, f"{PREFIX}/orders/{order.order_id}", "Nothing left to refund.")
        refund_id = f"r-{secrets.token_hex(5)}"
        lines = [{"sku": sku, "quantity": quantity}]
        answer = self.api.refund(order.order_id, refund_id, lines)
        order.refunds.append({"refund_id": refund_id, "lines": lines, "answer": answer})
        said = (
            f"Refunded: {answer.get('points_reversed')} points taken back, balance {answer.get('balance')}."
        )
        return self._done(session, f"{PREFIX}/orders/{order.order_id}", said)

    def history(self, request: Request, session: Session, account: WebAccount) -> HttpResponse:
        activity = self.api.activity(account.customer_id)
        return self._page(session, "Your points history", views.history_page(activity))


def _back(path: str) -> str:
    """The page a form was on: where a refused post returns, with the bridge's answer shown."""
    if path.startswith(("/demo/card", "/demo/phone")):
        return PREFIX + "/card"
    if path.startswith("/demo/orders/"):
        return path.rsplit("/", 1)[0]
    if path.startswith(("/demo/cart", "/demo/details")):
        return "/".join(path.split("/")[:3])
    return PREFIX + "/"


def _int(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default
