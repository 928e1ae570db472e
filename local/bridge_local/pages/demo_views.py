"""HTML of the demo storefront's pages. Every figure carries an id (``points-balance``,
``quote-points-to-earn``...) so the browser tests can compare it with the API's answer."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from bridge_local.pages.outbox import Captured
from bridge_local.pages.shop import CATALOGUE, PRODUCTS, SHIPPING, Cart, PlacedOrder, WebAccount
from bridge_local.pages.web import h, post_button

Document = dict[str, Any]


def welcome() -> str:
    return (
        '<section><h2>Create an account</h2><form method="post" action="/demo/signup" id="signup">'
        '<label>First name <input type="text" name="first_name" required></label>'
        '<label>Last name <input type="text" name="last_name" required></label>'
        '<label>Email <input type="email" name="email" required></label>'
        '<label>Password <input type="password" name="password" minlength="8" required></label>'
        '<label>Loyalty card you already have (optional) <input type="text" name="card_number"></label>'
        '<label><input type="checkbox" name="join" checked> Join the loyalty program</label>'
        '<label><input type="checkbox" name="consent_email"> Email me offers</label>'
        '<label><input type="checkbox" name="consent_sms"> Text me offers</label>'
        '<button type="submit">Sign up</button></form></section>'
        '<section><h2>Log in</h2><form method="post" action="/demo/login" id="login">'
        '<label>Email <input type="email" name="email" required></label>'
        '<label>Password <input type="password" name="password" required></label>'
        '<button type="submit">Log in</button></form></section>'
    )


def _figure(element_id: str, value: object, label: str) -> str:
    return (
        f'<div><span class="figure" id="{element_id}">{h(value)}</span>'
        f' <span class="muted">{h(label)}</span></div>'
    )


def _reward(reward: Document, spendable: int | None) -> str:
    """A reward of the program; a Redeem button when the member has the points (R4). The
    nonce makes one Idempotency-Key per page shown: a double click redeems once."""
    button = ""
    if spendable is not None and spendable >= int(reward.get("points") or 0):
        button = " " + post_button(
            f"/demo/rewards/{reward['reward_id']}/redeem",
            "Redeem",
            fields={"nonce": secrets.token_hex(8)},
            name=f"redeem-{reward['reward_id']}",
        )
    return f'<li class="reward">{h(reward.get("name"))}: {h(reward.get("points"))} points{button}</li>'


def _ways_to_earn(program: Document, spendable: int | None = None) -> str:
    ways = "".join(
        f'<li class="way-to-earn">{h(w.get("description"))}</li>' for w in program.get("ways_to_earn", [])
    )
    rewards = "".join(_reward(r, spendable) for r in program.get("rewards", []))
    return (
        f'<section><h2>Ways to earn</h2><ul id="ways-to-earn">{ways or "<li>None</li>"}</ul>'
        f'<h2>Rewards</h2><ul id="rewards">{rewards or "<li>None</li>"}</ul></section>'
    )


def _membership(summary: Document) -> str:
    points, card, tier = summary.get("points") or {}, summary.get("card") or {}, summary.get("tier") or {}
    parts = [
        _figure("points-balance", points.get("balance"), "points"),
        _figure("points-redeemable", points.get("redeemable"), "points you can spend now"),
        _figure("points-pending", points.get("pending"), "points pending"),
        f'<p>Card <strong id="card-number">{h(card.get("number"))}</strong> ({h(card.get("kind"))}'
        f"{', ' + h(card['state']) if card.get('state') else ''})</p>",
        f'<p>Tier <strong id="tier-name">{h(tier.get("name"))}</strong>',
    ]
    if tier.get("next"):
        parts.append(
            f'; spend <span id="tier-spend-to-next">{h(tier.get("spend_to_next"))}</span> more to reach '
            f'<span id="tier-next">{h(tier["next"])}</span>'
        )
    parts.append("</p>")
    reward = summary.get("next_reward")
    if reward:
        parts.append(
            f'<p>Next reward: <strong id="reward-name">{h(reward["name"])}</strong> '
            f'<progress id="reward-progress" max="1" value="{h(reward["progress"])}"></progress> '
            f'<span id="reward-points-needed">{h(reward["points_needed"])}</span> points to go '
            f'(of <span id="reward-points-required">{h(reward["points_required"])}</span>)</p>'
        )
    expiry = points.get("next_expiry")
    if expiry:
        parts.append(
            f'<p>Next expiry: <span id="next-expiry-points">{h(expiry["points"])}</span> points on '
            f'<span id="next-expiry-on">{h(expiry["on"])}</span></p>'
        )
    referral = summary.get("referral")
    if referral:
        shown = referral.get("link") or referral.get("code")
        parts.append(f'<p>Invite friends: <code id="referral-link">{h(shown)}</code></p>')
    if summary.get("accumulate_only"):
        parts.append('<p id="accumulate-only">Complete your details to spend your points.</p>')
    return "<section><h2>Your loyalty account</h2>" + "".join(parts) + "</section>"


def home(account: WebAccount, summary: Document, program: Document, coupons: Sequence[Document]) -> str:
    status = summary.get("status")
    head = (
        f"<section><p>Hello {h(account.first_name)} ({h(account.email)}), "
        f'loyalty status: <strong id="loyalty-status">{h(status)}</strong></p>'
        f'<p class="muted">Customer id <code id="customer-id">{h(account.customer_id)}</code></p></section>'
    )
    if summary.get("join_prompt"):
        why = f" ({h(summary['reason'])})" if summary.get("reason") else ""
        body = (
            '<section id="join-prompt"><h2>Join our loyalty '
            f"program</h2><p>Earn points on every order{why}.</p>"
            f"{post_button('/demo/join', 'Join now')}</section>"
        )
    elif status == "joined":
        body = _membership(summary)
    else:
        body = (
            '<section id="pending"><p>Your loyalty account is being '
            'set up. <a href="/demo/">Refresh</a></p></section>'
        )
    listed = "".join(
        f'<li class="coupon">{h(c["name"])}: <code>{h(c["code"])}</code> ({h(c["status"])})</li>'
        for c in coupons
    )
    coupon_box = f'<section><h2>Your coupons</h2><ul id="coupons">{listed}</ul></section>' if coupons else ""
    spendable = (summary.get("points") or {}).get("redeemable") if status == "joined" else None
    return head + body + coupon_box + _ways_to_earn(program, spendable)


def outbox_panel(messages: Iterable[Captured]) -> str:
    items = "".join(
        f'<div class="captured {h(m.kind)}"><strong>{h(m.kind.upper())} to {h(m.to)}</strong>'
        f"<div>{h(m.subject)}</div><pre>{h(m.text)}</pre></div>"
        for m in messages
    )
    return (
        '<h2>Sent to you (local capture)</h2><p class="muted">The local stack captures mail and SMS '
        "(.local/mail, .local/sms): read your code here.</p>"
        f'<div id="outbox">{items or "<p>Nothing yet.</p>"}</div>'
    )


def card_page(
    summary: Document, *, attach_pending: str, phone_pending: str, cards: Sequence[Document]
) -> str:
    card = (summary.get("card") or {}).get("number")
    current = (
        f'<p>Your card: <strong id="card-number">{h(card)}</strong></p>' if card else "<p>No card yet.</p>"
    )
    attach = (
        '<section><h2>Attach a card you have</h2><form method="post" action="/demo/card/attach" id="attach">'
        '<label>Card number <input type="text" name="card_number" required></label>'
        '<label>Email on the card <input type="email" name="email" required></label>'
        '<button type="submit">Send me a code</button></form>'
    )
    if attach_pending:
        attach += (
            f'<form method="post" action="/demo/card/confirm" id="attach-confirm"><p>Code sent for card '
            f"{h(attach_pending)}.</p>"
            '<label>Code from the email <input type="text" name="code" required></label>'
            '<button type="submit">Attach the card</button></form>'
        )
    phone = (
        '</section><section><h2>Verify your mobile</h2><form method="post" action="/demo/phone" id="phone">'
        '<label>Mobile (+44...) <input type="text" name="mobile" required></label>'
        '<button type="submit">Text me a code</button></form>'
    )
    if phone_pending:
        phone += (
            '<form method="post" action="/demo/phone/confirm" id="phone-confirm">'
            '<label>4-digit code <input type="text" name="code" required></label>'
            '<button type="submit">Confirm</button></form>'
        )
    if cards:
        phone += merge_form(cards, card)
    return f"<section>{current}</section>{attach}{phone}</section>"


def merge_form(cards: Sequence[Document], current: str | None) -> str:
    """A8: the cards found on the verified phone; the customer picks the primary, the others
    are merged into it (blocked, their points moved)."""

    def choice(card: Document) -> str:
        number = str(card.get("number"))
        checked = " checked" if number == current else ""
        return (
            f'<li><label><input type="radio" name="primary_card" value="{h(number)}" '
            f'id="primary-{h(number)}"{checked}> {h(number)}: '
            f'<span class="card-points">{h(card.get("points"))}</span> points</label></li>'
        )

    choices = "".join(choice(c) for c in cards)
    return (
        '<form method="post" action="/demo/card/merge" id="merge"><p>Cards on this phone: choose the one to '
        f'keep; the others move their points to it.</p><ul id="phone-cards">{choices}</ul>'
        '<button type="submit">Merge into the chosen card</button></form>'
    )


def details_page(account: WebAccount, missing: Sequence[str]) -> str:
    def text(name: str, label: str, value: str, kind: str = "text") -> str:
        return f'<label>{h(label)} <input type="{kind}" name="{name}" value="{h(value)}"></label>'

    def box(name: str, label: str) -> str:
        checked = " checked" if account.consents.get(name) else ""
        return f'<label><input type="checkbox" name="consent_{name}"{checked}> {h(label)}</label>'

    note = f'<p id="missing">Still needed to spend points: {h(", ".join(missing))}</p>' if missing else ""
    return (
        f'<section>{note}<form method="post" action="/demo/details" id="details">'
        + text("first_name", "First name", account.first_name)
        + text("last_name", "Last name", account.last_name)
        + text("email", "Email", account.email, "email")
        + text("mobile", "Mobile", account.mobile)
        + text("birthday", "Birthday (YYYY-MM-DD)", account.birthday)
        + box("email", "Email me offers")
        + box("sms", "Text me offers")
        + '<button type="submit">Save</button></form></section>'
    )


def _catalogue() -> str:
    rows = "".join(
        f"<tr><td>{h(p.title)}</td><td>{h(p.sku)}</td><td>{h(p.price)}</td><td>"
        + post_button(
            "/demo/cart/add", "Add to cart", fields={"sku": p.sku, "quantity": "1"}, name=f"add-{p.sku}"
        )
        + "</td></tr>"
        for p in CATALOGUE
    )
    return f'<section><h2>Shop</h2><table id="catalogue">{rows}</table></section>'


def _redeem_control(cart: Cart, quote: Document) -> str:
    def radio(value: str, label: str) -> str:
        checked = " checked" if cart.redeem == value else ""
        return (
            f'<label><input type="radio" name="redeem" value="{value}" '
            f'id="redeem-{value}"{checked}> {label}</label>'
        )

    return (
        f"<h2>Pay with points</h2><p>You may cash in up to "
        f'<span id="quote-redeemable">{h(quote.get("redeemable_points"))}</span> points '
        f'(worth <span id="quote-max-discount">{h(quote.get("max_discount"))}</span>).</p>'
        + radio("none", "Keep my points")
        + radio("some", "Use some:")
        + '<input type="number" min="0" name="redeem_points" '
        f'id="redeem-points" value="{cart.redeem_points}">' + radio("all", "Use all I can")
    )


def cart_page(cart: Cart, quote: Document | None) -> str:
    if not cart.quantities:
        return _catalogue() + '<section id="cart"><p>Your cart is empty.</p></section>'
    assert quote is not None
    rows = "".join(
        f'<tr><td>{h(PRODUCTS[sku].title)}</td><td><input type="number" min="0" name="qty-{h(sku)}" '
        f'value="{q}"></td><td>{h(PRODUCTS[sku].price * q)}</td></tr>'
        for sku, q in sorted(cart.quantities.items())
    )
    discount = Decimal(str(quote.get("discount", "0")))
    total = cart.merchandise() + SHIPPING - discount
    promo_rule = (
        '<p id="promo-rule">A promo code gives its own discount: this order earns no points.</p>'
        if cart.promo_code
        else ""
    )
    return (
        _catalogue() + '<section id="cart"><h2>Your cart</h2><form '
        'method="post" action="/demo/cart/update" id="cart-form">'
        f"<table>{rows}<tr><td>Shipping</td><td></td><td>{h(SHIPPING)}</td></tr></table>"
        '<label>Promo code <input type="text" name="promo_code" '
        f'id="promo-code" value="{h(cart.promo_code)}"></label>'
        + _redeem_control(cart, quote)
        + '<p><button type="submit" id="update-cart">Update</button></p></form>'
        '<p>This order earns <strong id="quote-points-to-earn">'
        f"{h(quote.get('points_to_earn'))}</strong> points; "
        f'balance <span id="quote-balance">{h(quote.get("balance"))}</span> points.</p>'
        f'<p>Points used: <span id="quote-redeem-points">{h(quote.get("redeem_points"))}</span>, discount '
        f'<span id="quote-discount">{h(quote.get("discount"))}</span>. Total to pay: '
        f'<strong id="order-total">{h(total)}</strong></p>{promo_rule}'
        + post_button("/demo/cart/order", "Place order", name="place-order")
        + "</section>"
    )


def orders_page(orders: Iterable[PlacedOrder]) -> str:
    rows = "".join(
        f'<tr><td><a href="/demo/orders/{h(o.order_id)}">{h(o.order_id)}</a></td><td>{h(o.total)}</td>'
        f"<td>{h(o.answer.get('points_earned'))}</td><td>{len(o.refunds)}</td></tr>"
        for o in orders
    )
    head = "<tr><th>Order</th><th>Total</th><th>Points earned</th><th>Refunds</th></tr>"
    return f'<section><table id="orders">{head}{rows}</table></section>'


def order_page(order: PlacedOrder) -> str:
    answer = {k: ("pending" if v is None else v) for k, v in order.answer.items()}  # 202: settled later
    figures = (
        f'<p>Status <strong id="order-status">{h(answer.get("status"))}</strong>. Points earned '
        f'<strong id="order-points-earned">{h(answer.get("points_earned"))}</strong>, redeemed '
        f'<strong id="order-points-redeemed">{h(answer.get("points_redeemed"))}</strong>; your balance after '
        'the order: <strong id="order-balance">'
        f"{h(answer.get('balance'))}</strong>. Paid {h(order.total)}.</p>"
    )
    lines = ""
    for line in order.lines:
        left = line["quantity"] - order.refunded(line["sku"])
        action = (
            post_button(
                f"/demo/orders/{order.order_id}/refund",
                "Refund",
                fields={"sku": line["sku"], "quantity": str(left)},
                name=f"refund-{line['sku']}",
            )
            if left > 0
            else "refunded"
        )
        lines += f"<tr><td>{h(line['title'])}</td><td>{h(line['quantity'])}</td><td>{action}</td></tr>"
    refunds = "".join(
        f'<tr class="refund"><td>{h(r["refund_id"])}</td><td '
        f'class="points-reversed">{h(r["answer"].get("points_reversed"))}'
        f'</td><td class="balance">{h(r["answer"].get("balance"))}</td></tr>'
        for r in order.refunds
    )
    return (
        f'<section>{figures}<table id="order-lines">{lines}</table></section>'
        f'<section><h2>Refunds</h2><table id="refunds"><tr><th>Refund</th><th>Points taken back</th>'
        f"<th>Balance after</th></tr>{refunds}</table></section>"
    )


def history_page(activity: Document) -> str:
    if not activity.get("available", True):
        return "<section><p>The loyalty platform keeps no history.</p></section>"
    rows = "".join(
        f'<tr class="entry" data-entry-id="{h(e["entry_id"])}"><td>'
        f'{h(e["at"])}</td><td class="kind">{h(e["kind"])}</td>'
        f'<td class="points">{h(e["points"])}</td><td class="balance-after">{h(e.get("balance_after"))}</td>'
        f'<td class="description">{h(e.get("description"))}</td></tr>'
        for e in activity.get("entries", [])
    )
    head = "<tr><th>When</th><th>What</th><th>Points</th><th>Balance</th><th></th></tr>"
    return f'<section><table id="history">{head}{rows}</table></section>'
