"""The LoyaltyPlatform contract: every adapter (and the in-memory fake) must pass it unchanged.

Written only against ports.LoyaltyPlatform plus the harness (card stock, clock, sweeper).
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest

from loyalty_bridge.errors import (
    CardNotAttachable,
    DuplicateMember,
    InsufficientPoints,
    MemberNotFound,
    PlatformRefused,
)
from loyalty_bridge.models.domain import (
    Address,
    Basket,
    BasketLine,
    CardKind,
    CardState,
    Channel,
    Consents,
    Member,
    MemberProfile,
    PlatformOrder,
    PlatformOrderLine,
    ProfileChanges,
    Reversal,
)
from loyalty_bridge.program import card_numbers
from tests.contract.conftest import MakePlatform
from tests.contract.harness import PlatformHarness, require

PROGRAM = json.dumps(
    {
        "rules": [
            {"kind": "spend", "points": 1, "per": 1},
            {"kind": "sku", "skus": ["BONUS-1"], "points_per_item": 7},
            {"kind": "category", "categories": ["Garden tools"], "points": 2, "per": 5},
            {"kind": "visit", "points": 3, "channels": ["store"], "store_ids": ["S1"]},
        ],
        "tiers": [
            {"name": "Bronze", "min_spend": 0},
            {"name": "Gold", "min_spend": 100, "earn_multiplier": 2},
        ],
    }
)


def profile(email: str = "ann@example.com", mobile: str | None = None, **extra: str) -> MemberProfile:
    return MemberProfile(email=email, first_name="Ann", last_name="Lee", mobile=mobile, **extra)


def join(h: PlatformHarness, email: str = "ann@example.com", mobile: str | None = None) -> Member:
    return h.platform.create_member(
        profile(email, mobile), Consents(email=True), idempotency_key=f"join:{email}"
    )


def order(
    order_id: str,
    *lines: tuple[str, int, str],
    when: PlatformHarness,
    shipping: str = "0",
    discount: str = "0",
    redemption_id: str | None = None,
    promo: str | None = None,
    channel: Channel = Channel.WEBSHOP,
    store_id: str | None = None,
    categories: tuple[str, ...] = (),
) -> PlatformOrder:
    built = [
        PlatformOrderLine(
            product_code=sku[:20],
            title=sku,
            quantity=qty,
            unit_price=Decimal(price),
            sku=sku,
            department=categories[0][:10] if categories else None,
            category=categories[1][:10] if len(categories) > 1 else None,
        )
        for sku, qty, price in lines
    ]
    subtotal = sum((ln.unit_price * ln.quantity for ln in built), Decimal(0))
    return PlatformOrder(
        order_id=order_id,
        placed_at=when.clock(),
        currency="EUR",
        lines=built,
        channel=channel,
        store_id=store_id,
        shipping=Decimal(shipping),
        total=subtotal + Decimal(shipping) - Decimal(discount),
        promo_code=promo,
        redemption_id=redemption_id,
    )


def earn_points(h: PlatformHarness, member: Member, points: int, order_id: str = "seed") -> None:
    """Give ``member`` exactly ``points`` (default program: 1 point per whole unit spent)."""
    h.platform.post_order(member.member_id, order(order_id, ("SEED", 1, str(points)), when=h))


def physical_card() -> str:
    return card_numbers.new_virtual_number(prefix="77")


# ------------------------------------------------------------------------------ members


def test_created_member_is_found_by_card_email_and_mobile(platform: PlatformHarness) -> None:
    p = platform.platform
    member = join(platform, "Ann@Example.com ", mobile="+447700900001")

    assert member.card.state == CardState.ACTIVE
    assert member.card.kind == CardKind.VIRTUAL
    assert p.get_member(member.member_id) == member
    assert p.find_members(card_number=member.card.number) == [member]
    assert p.find_members(email="ann@example.com") == [member]
    assert p.find_members(mobile="+447700900001") == [member]
    assert p.find_members(email="nobody@example.com") == []
    assert p.get_balance(member.member_id).balance == 0


def test_create_member_replay_answers_like_the_first_time(platform: PlatformHarness) -> None:
    p = platform.platform
    first = p.create_member(profile(), Consents(), idempotency_key="k-1")
    again = p.create_member(profile(), Consents(), idempotency_key="k-1")

    assert again == first
    assert p.find_members(email="ann@example.com") == [first]


def test_duplicate_email_is_refused_whatever_its_case(platform: PlatformHarness) -> None:
    join(platform, "ann@example.com")

    with pytest.raises(DuplicateMember) as refused:
        platform.platform.create_member(profile(" ANN@example.COM"), Consents(), idempotency_key="other")
    assert refused.value.field == "email"


def test_unknown_member_is_not_found(platform: PlatformHarness) -> None:
    with pytest.raises(MemberNotFound):
        platform.platform.get_member("no-such-member")
    with pytest.raises(MemberNotFound):
        platform.platform.get_balance("no-such-member")


def test_profile_update_and_consents(platform: PlatformHarness) -> None:
    p = platform.platform
    member = join(platform)
    join(platform, "bob@example.com")

    updated = p.update_profile(
        member.member_id, ProfileChanges(email="ann.lee@example.com", last_name="Li"), idempotency_key="u-1"
    )
    assert updated.profile.last_name == "Li"
    assert updated.profile.first_name == "Ann"
    assert p.find_members(email="ann.lee@example.com") == [p.get_member(member.member_id)]
    assert p.find_members(email="ann@example.com") == []
    with pytest.raises(DuplicateMember):
        p.update_profile(member.member_id, ProfileChanges(email="BOB@example.com"), idempotency_key="u-2")

    home = Address(line1="1 High St", city="Leeds", postal_code="LS1 1AA", country="GB")
    moved = p.update_profile(
        member.member_id, ProfileChanges(address=home, mobile="+447700900099"), idempotency_key="u-3"
    )
    assert moved.profile.address == home
    assert p.get_member(member.member_id).profile.address == home
    assert [m.member_id for m in p.find_members(mobile="+447700900099")] == [member.member_id]

    p.set_consents(member.member_id, Consents(email=False, sms=True), idempotency_key="c-1")
    assert p.get_member(member.member_id).consents == Consents(email=False, sms=True)


# ------------------------------------------------------------------------------ cards (A4, A8)


def test_attach_active_card_when_emails_match_ignoring_case_and_spaces(platform: PlatformHarness) -> None:
    member = join(platform, "ann@example.com")

    attached = platform.platform.attach_card(
        member.card.number, profile(" ANN@Example.com "), idempotency_key="a-1"
    )

    assert attached.member_id == member.member_id


def test_unregistered_physical_card_takes_the_customers_details(platform: PlatformHarness) -> None:
    number = physical_card()
    platform.import_physical_cards([number])
    assert platform.platform.find_members(card_number=number) == []

    member = platform.platform.attach_card(
        number, profile("new@example.com", "+447700900002"), idempotency_key="a-1"
    )

    assert member.card == member.card.model_copy(update={"number": number})
    assert member.card.kind == CardKind.PHYSICAL
    assert member.card.state == CardState.ACTIVE
    assert member.profile.email == "new@example.com"
    assert platform.platform.find_members(card_number=number) == [member]
    again = platform.platform.attach_card(
        number, profile("new@example.com", "+447700900002"), idempotency_key="a-1"
    )
    assert again == member


def test_every_attach_refusal_looks_the_same(platform: PlatformHarness) -> None:
    require(platform, "merge_cards")
    p = platform.platform
    ann = join(platform, "ann@example.com", mobile="+447700900003")
    other = p.create_member(profile("ann2@example.com", "+447700900003"), Consents(), idempotency_key="k2")
    p.merge_cards(ann.card.number, [other.card.number], idempotency_key="merge")  # other is now blocked
    taken = physical_card()
    platform.import_physical_cards([taken])
    p.attach_card(taken, profile("first@example.com"), idempotency_key="first")
    bad_digit = ann.card.number[:-1] + str((int(ann.card.number[-1]) + 1) % 10)

    attempts = {
        "wrong email": (ann.card.number, "mallory@example.com"),
        "unknown card": (card_numbers.new_virtual_number(), "ann@example.com"),
        "blocked card": (other.card.number, "ann2@example.com"),
        "bad check digit": (bad_digit, "ann@example.com"),
        "registered physical card": (taken, "second@example.com"),
        "email of another account": (physical_card(), "ann@example.com"),
    }
    platform.import_physical_cards([attempts["email of another account"][0]])
    answers = set()
    for reason, (number, email) in attempts.items():
        with pytest.raises(CardNotAttachable) as refused:
            p.attach_card(number, profile(email), idempotency_key=f"try:{reason}")
        answers.add((type(refused.value), refused.value.code, str(refused.value)))
    assert len(answers) == 1


def test_merge_moves_points_to_the_primary_and_blocks_the_others(platform: PlatformHarness) -> None:
    require(platform, "merge_cards")
    p = platform.platform
    mobile = "+447700900004"
    primary = join(platform, "a@example.com", mobile)
    second = join(platform, "b@example.com", mobile)
    third = join(platform, "c@example.com", mobile)
    earn_points(platform, primary, 10, "o-1")
    earn_points(platform, second, 20, "o-2")
    earn_points(platform, third, 5, "o-3")

    merged = p.merge_cards(
        primary.card.number, [second.card.number, third.card.number], idempotency_key="m-1"
    )
    again = p.merge_cards(primary.card.number, [second.card.number, third.card.number], idempotency_key="m-1")

    assert merged.member_id == primary.member_id
    assert again == merged
    assert p.get_balance(primary.member_id).balance == 35
    states = {m.card.number: m.card.state for m in p.find_members(mobile=mobile)}
    assert states == {
        primary.card.number: CardState.ACTIVE,
        second.card.number: CardState.BLOCKED,
        third.card.number: CardState.BLOCKED,
    }
    if platform.entries_total:
        assert platform.entries_total(primary.member_id) == 35
        assert platform.entries_total(second.member_id) == 0


def test_merged_cards_give_up_their_email_so_the_primary_can_take_it(platform: PlatformHarness) -> None:
    require(platform, "merge_cards")
    p = platform.platform
    mobile = "+447700900005"
    primary = join(platform, "keep@example.com", mobile)
    second = join(platform, "moving@example.com", mobile)

    p.merge_cards(primary.card.number, [second.card.number], idempotency_key="m-email")
    updated = p.update_profile(
        primary.member_id, ProfileChanges(email="Moving@example.com"), idempotency_key="u-email"
    )

    assert updated.profile.email.lower() == "moving@example.com"
    assert [m.member_id for m in p.find_members(email="moving@example.com")] == [primary.member_id]


def test_merge_refuses_cards_on_another_phone(platform: PlatformHarness) -> None:
    require(platform, "merge_cards")
    primary = join(platform, "a@example.com", "+447700900005")
    stranger = join(platform, "b@example.com", "+447700900006")
    earn_points(platform, stranger, 20)

    with pytest.raises(CardNotAttachable):
        platform.platform.merge_cards(primary.card.number, [stranger.card.number], idempotency_key="m-1")
    assert platform.platform.get_balance(stranger.member_id).balance == 20


# ------------------------------------------------------------------------------ earn (R1, R2, C1, C3)


@pytest.mark.parametrize(
    ("lines", "extra"),
    [
        ([("A", 2, "10.50"), ("B", 1, "5")], {"shipping": "4.99"}),
        ([("BONUS-1", 3, "2.00"), ("A", 1, "0.99")], {}),
        ([("RAKE", 2, "12.50")], {"categories": ("Garden tools", "Rakes")}),
        ([("A", 1, "40")], {"channel": Channel.STORE, "store_id": "S1"}),
        ([("A", 1, "40")], {"channel": Channel.STORE, "store_id": "S2"}),
        ([("A", 4, "30")], {"discount": "20"}),
        ([("A", 1, "99")], {"promo": "SPRING10"}),
    ],
)
def test_quote_says_exactly_what_the_order_credits(
    make_platform: MakePlatform, lines: list[tuple[str, int, str]], extra: dict[str, object]
) -> None:
    h = make_platform(earn_rules_json=PROGRAM)
    member = join(h)
    shipping = str(extra.get("shipping", "0"))
    cats = extra.get("categories", ())
    assert isinstance(cats, tuple)
    channel = extra.get("channel", Channel.WEBSHOP)
    assert isinstance(channel, Channel)
    store = extra.get("store_id")
    promo = extra.get("promo")
    basket = Basket(
        currency="EUR",
        lines=[
            BasketLine(sku=s, quantity=q, unit_price=Decimal(pr), categories=list(cats)) for s, q, pr in lines
        ],
        shipping=Decimal(shipping),
        discount=Decimal(str(extra.get("discount", "0"))),
        channel=channel,
        store_id=store if isinstance(store, str) else None,
        promo_code=promo if isinstance(promo, str) else None,
    )

    quoted = h.platform.quote(member.member_id, basket)
    credited = h.platform.post_order(
        member.member_id,
        order(
            "o-1",
            *lines,
            when=h,
            shipping=shipping,
            discount=str(extra.get("discount", "0")),
            channel=channel,
            store_id=basket.store_id,
            promo=basket.promo_code,
            categories=cats,
        ),
    )

    assert credited.points_earned == quoted.points_to_earn
    assert h.platform.get_balance(member.member_id).balance == quoted.points_to_earn
    if promo:
        assert credited.points_earned == 0


def test_known_earn_amounts(make_platform: MakePlatform) -> None:
    h = make_platform(earn_rules_json=PROGRAM)
    member = join(h)
    p = h.platform
    # 21 + 5 = 26 spent after discounts, shipping excluded -> 26 points.
    assert (
        p.post_order(
            member.member_id, order("o-1", ("A", 2, "10.50"), ("B", 1, "5"), when=h, shipping="4.99")
        ).points_earned
        == 26
    )
    # 3 x 7 bonus + 6 spent -> 27.
    assert p.post_order(member.member_id, order("o-2", ("BONUS-1", 3, "2.00"), when=h)).points_earned == 27
    # store S1: 40 + visit 3 = 43.
    assert (
        p.post_order(
            member.member_id, order("o-3", ("A", 1, "40"), when=h, channel=Channel.STORE, store_id="S1")
        ).points_earned
        == 43
    )
    # lifetime spend 26 + 6 + 40 = 72 < 100: still Bronze; then 28 more makes Gold.
    assert p.get_balance(member.member_id).tier == "Bronze"
    p.post_order(member.member_id, order("o-4", ("A", 1, "28"), when=h))
    balance = p.get_balance(member.member_id)
    assert balance.tier == "Gold"
    # Gold doubles: 10 spent -> 20.
    assert p.post_order(member.member_id, order("o-5", ("A", 1, "10"), when=h)).points_earned == 20


def test_quote_with_redemption_caps_by_balance_and_share(platform: PlatformHarness) -> None:
    p = platform.platform
    member = join(platform)
    earn_points(platform, member, 3000)
    basket = Basket(currency="EUR", lines=[BasketLine(sku="A", quantity=1, unit_price=Decimal("40"))])

    quote = p.quote(member.member_id, basket, redeem_points=1000)

    # point value 0.01, at most half of 40 -> 2000 points, 20.00
    assert quote.redeemable_points == 2000
    assert quote.max_discount == Decimal("20.00")
    assert quote.discount == Decimal("10.00")
    assert quote.points_to_earn == 30  # earned on 40 - 10
    with pytest.raises(InsufficientPoints):
        p.quote(member.member_id, basket, redeem_points=2001)
    assert p.quote(None, basket).points_to_earn == 40


# ------------------------------------------------------------------------------ holds (C2)


def test_hold_capture_and_release(platform: PlatformHarness) -> None:
    p = platform.platform
    member = join(platform)
    earn_points(platform, member, 1000)
    expires = platform.clock() + timedelta(minutes=30)

    hold = p.hold_points(member.member_id, "r-1", 600, order_total=Decimal("20"), expires_at=expires)
    assert hold.points == 600
    assert hold.discount == Decimal("6.00")
    balance = p.get_balance(member.member_id)
    assert (balance.balance, balance.held, balance.available) == (1000, 600, 400)
    with pytest.raises(InsufficientPoints):
        p.hold_points(member.member_id, "r-2", 401, order_total=Decimal("100"), expires_at=expires)

    result = p.post_order(
        member.member_id, order("o-1", ("A", 1, "20"), when=platform, discount="6", redemption_id="r-1")
    )
    assert result.points_redeemed == 600
    assert result.points_earned == 14
    assert result.balance == 1000 - 600 + 14
    balance = p.get_balance(member.member_id)
    assert (balance.balance, balance.held) == (414, 0)

    p.hold_points(member.member_id, "r-3", 100, order_total=Decimal("20"), expires_at=expires)
    p.release_hold(member.member_id, "r-3")
    p.release_hold(member.member_id, "r-3")
    balance = p.get_balance(member.member_id)
    assert (balance.balance, balance.held, balance.available) == (414, 0, 414)
    with pytest.raises(PlatformRefused):
        p.post_order(member.member_id, order("o-2", ("A", 1, "20"), when=platform, redemption_id="r-3"))


def test_hold_is_limited_to_the_redeemable_share(platform: PlatformHarness) -> None:
    member = join(platform)
    earn_points(platform, member, 5000)

    with pytest.raises(InsufficientPoints):  # 0.5 x 20.00 = 10.00 = 1000 points at most
        platform.platform.hold_points(
            member.member_id,
            "r-1",
            1001,
            order_total=Decimal("20"),
            expires_at=platform.clock() + timedelta(minutes=5),
        )
    assert platform.platform.get_balance(member.member_id).held == 0


def _lapsed_hold(platform: PlatformHarness, points: int = 300) -> Member:
    member = join(platform)
    earn_points(platform, member, 500)
    platform.platform.hold_points(
        member.member_id,
        "r-1",
        points,
        order_total=Decimal("10"),
        expires_at=platform.clock() + timedelta(minutes=30),
    )
    platform.clock.advance(minutes=31)
    if platform.release_expired_holds:
        platform.release_expired_holds(platform.clock())
    balance = platform.platform.get_balance(member.member_id)
    assert (balance.held, balance.available) == (0, 500)  # an expired hold gives its points back
    return member


def test_an_order_naming_a_lapsed_hold_spends_the_points_directly(platform: PlatformHarness) -> None:
    """C2: the payment took longer than the hold (or the push was late): the storefront gave
    the discount, so the points are spent from the balance, once."""
    p = platform.platform
    member = _lapsed_hold(platform)
    placed = order("o-1", ("A", 1, "10"), when=platform, redemption_id="r-1", promo="PROMO")

    result = p.post_order(member.member_id, placed)
    again = p.post_order(member.member_id, placed)

    assert again == result
    assert (result.points_redeemed, result.points_earned) == (300, 0)
    balance = p.get_balance(member.member_id)
    assert (balance.held, balance.available, result.balance) == (0, 200, 200)
    if platform.entries_total is not None:
        assert platform.entries_total(member.member_id) == 200


def test_an_order_naming_a_lapsed_hold_is_refused_when_the_points_are_gone(
    platform: PlatformHarness,
) -> None:
    p = platform.platform
    member = _lapsed_hold(platform)
    p.hold_points(
        member.member_id,
        "r-2",
        300,
        order_total=Decimal("10"),
        expires_at=platform.clock() + timedelta(minutes=30),
    )

    with pytest.raises(PlatformRefused) as refused:
        p.post_order(member.member_id, order("o-1", ("A", 1, "10"), when=platform, redemption_id="r-1"))

    assert refused.value.code == "hold_expired"
    balance = p.get_balance(member.member_id)
    assert (balance.held, balance.available) == (300, 200)


def test_sweeper_releases_only_expired_holds(platform: PlatformHarness) -> None:
    if platform.release_expired_holds is None:
        pytest.skip(f"{platform.name} has no hold sweeper")
    p = platform.platform
    member = join(platform)
    earn_points(platform, member, 500)
    now = platform.clock()
    p.hold_points(
        member.member_id, "short", 100, order_total=Decimal("10"), expires_at=now + timedelta(minutes=5)
    )
    p.hold_points(
        member.member_id, "long", 200, order_total=Decimal("10"), expires_at=now + timedelta(minutes=60)
    )

    platform.clock.advance(minutes=10)
    assert platform.release_expired_holds(platform.clock()) == 1
    assert platform.release_expired_holds(platform.clock()) == 0

    assert p.get_balance(member.member_id).held == 200
    assert (
        p.post_order(
            member.member_id, order("o-1", ("A", 1, "10"), when=platform, redemption_id="long")
        ).points_redeemed
        == 200
    )


# ------------------------------------------------------------------------------ replays (C6)


def test_every_write_replayed_changes_nothing(platform: PlatformHarness) -> None:
    p = platform.platform
    member = join(platform)
    expires = platform.clock() + timedelta(minutes=30)
    first_order = order("o-1", ("A", 3, "100"), when=platform)
    assert p.post_order(member.member_id, first_order) == p.post_order(member.member_id, first_order)
    hold = p.hold_points(member.member_id, "r-1", 50, order_total=Decimal("10"), expires_at=expires)
    assert p.hold_points(member.member_id, "r-1", 50, order_total=Decimal("10"), expires_at=expires) == hold
    redeem_order = order("o-2", ("A", 1, "10"), when=platform, discount="0.5", redemption_id="r-1")
    redeemed = p.post_order(member.member_id, redeem_order)
    refund = Reversal(reversal_id="ref-1", order_id="o-1", lines=[("A", 1)])
    reversed_once = p.reverse(member.member_id, refund)
    cancel = Reversal(reversal_id="cancel:o-2", order_id="o-2", cancel=True)
    cancelled = p.reverse(member.member_id, cancel)
    before = p.get_balance(member.member_id)

    assert p.post_order(member.member_id, first_order).points_earned == 300
    assert p.post_order(member.member_id, redeem_order) == redeemed
    assert p.hold_points(member.member_id, "r-1", 50, order_total=Decimal("10"), expires_at=expires) == hold
    p.release_hold(member.member_id, "r-1")
    assert p.reverse(member.member_id, refund) == reversed_once
    assert p.reverse(member.member_id, cancel) == cancelled
    p.set_consents(member.member_id, Consents(sms=True), idempotency_key="c-1")
    p.set_consents(member.member_id, Consents(sms=True), idempotency_key="c-1")
    changes = ProfileChanges(first_name="Anna")
    assert p.update_profile(member.member_id, changes, idempotency_key="u-1") == p.update_profile(
        member.member_id, changes, idempotency_key="u-1"
    )

    assert p.get_balance(member.member_id) == before
    if platform.entries_total:
        assert platform.entries_total(member.member_id) == before.balance


# ------------------------------------------------------------------------------ reversals (C5)


def test_partial_refunds_take_back_proportionally_and_never_more(platform: PlatformHarness) -> None:
    p = platform.platform
    member = join(platform)
    p.post_order(member.member_id, order("o-1", ("A", 3, "10"), ("B", 1, "5"), when=platform))  # 30 + 5
    assert p.get_balance(member.member_id).balance == 35

    first = p.reverse(member.member_id, Reversal(reversal_id="ref-1", order_id="o-1", lines=[("A", 1)]))
    second = p.reverse(member.member_id, Reversal(reversal_id="ref-2", order_id="o-1", lines=[("A", 1)]))
    third = p.reverse(member.member_id, Reversal(reversal_id="ref-3", order_id="o-1", lines=[("A", 5)]))
    fourth = p.reverse(member.member_id, Reversal(reversal_id="ref-4", order_id="o-1", lines=[("A", 1)]))

    assert [r.points_reversed for r in (first, second, third, fourth)] == [10, 10, 10, 0]
    assert fourth.balance == 5
    assert p.get_balance(member.member_id).balance == 5
    assert all(r.shortfall == 0 for r in (first, second, third, fourth))


def test_the_same_refund_id_on_two_orders_reverses_both(platform: PlatformHarness) -> None:
    # Refund ids come from the shop and are only unique within their order (e.g. "1").
    p = platform.platform
    member = join(platform)
    p.post_order(member.member_id, order("o-1", ("A", 2, "10"), when=platform))  # 20
    p.post_order(member.member_id, order("o-2", ("B", 3, "10"), when=platform))  # 30
    assert p.get_balance(member.member_id).balance == 50

    first = p.reverse(member.member_id, Reversal(reversal_id="r-1", order_id="o-1", lines=[("A", 1)]))
    second = p.reverse(member.member_id, Reversal(reversal_id="r-1", order_id="o-2", lines=[("B", 2)]))

    assert (first.points_reversed, second.points_reversed) == (10, 20)
    assert p.get_balance(member.member_id).balance == 20
    # Each one is still applied once when repeated.
    again = Reversal(reversal_id="r-1", order_id="o-2", lines=[("B", 2)])
    assert p.reverse(member.member_id, again) == second
    assert p.get_balance(member.member_id).balance == 20
    if platform.entries_total:
        assert platform.entries_total(member.member_id) == 20


def test_refund_of_an_unknown_order_is_refused(platform: PlatformHarness) -> None:
    member = join(platform)
    with pytest.raises(PlatformRefused):
        platform.platform.reverse(member.member_id, Reversal(reversal_id="x", order_id="nope", cancel=True))


def test_cancel_reverses_the_earn_and_returns_redeemed_points(platform: PlatformHarness) -> None:
    p = platform.platform
    member = join(platform)
    earn_points(platform, member, 1000)
    p.hold_points(
        member.member_id,
        "r-1",
        500,
        order_total=Decimal("40"),
        expires_at=platform.clock() + timedelta(minutes=30),
    )
    p.post_order(
        member.member_id, order("o-1", ("A", 2, "20"), when=platform, discount="5", redemption_id="r-1")
    )
    assert p.get_balance(member.member_id).balance == 1000 - 500 + 35
    p.reverse(member.member_id, Reversal(reversal_id="ref-1", order_id="o-1", lines=[("A", 1)]))

    cancelled = p.reverse(member.member_id, Reversal(reversal_id="cancel:o-1", order_id="o-1", cancel=True))

    assert cancelled.points_returned == 500
    assert cancelled.shortfall == 0
    assert p.get_balance(member.member_id).balance == 1000


def test_reversal_records_a_shortfall_instead_of_going_negative(platform: PlatformHarness) -> None:
    require(platform, "reversal_shortfall")
    p = platform.platform
    member = join(platform)
    p.post_order(member.member_id, order("o-1", ("A", 1, "100"), when=platform))
    p.hold_points(
        member.member_id,
        "r-1",
        80,
        order_total=Decimal("200"),
        expires_at=platform.clock() + timedelta(minutes=30),
    )
    p.post_order(
        member.member_id, order("o-2", ("B", 1, "200"), when=platform, discount="0.80", redemption_id="r-1")
    )
    # balance: 100 - 80 + 199 = 219; spend most of it elsewhere
    p.hold_points(
        member.member_id,
        "r-2",
        200,
        order_total=Decimal("400"),
        expires_at=platform.clock() + timedelta(minutes=30),
    )
    p.post_order(
        member.member_id, order("o-3", ("C", 1, "2"), when=platform, discount="2", redemption_id="r-2")
    )
    assert p.get_balance(member.member_id).balance == 19

    result = p.reverse(member.member_id, Reversal(reversal_id="cancel:o-1", order_id="o-1", cancel=True))

    assert (result.points_reversed, result.shortfall, result.balance) == (19, 81, 0)
    assert p.get_balance(member.member_id).balance == 0
    again = p.reverse(member.member_id, Reversal(reversal_id="ref-2", order_id="o-1", lines=[("A", 1)]))
    assert (again.points_reversed, again.shortfall) == (0, 0)


# ------------------------------------------------------------------------------ pending points


def test_pending_points_become_available_after_the_return_window(make_platform: MakePlatform) -> None:
    h = make_platform(pending_days=14)
    p = h.platform
    member = join(h)

    result = p.post_order(member.member_id, order("o-1", ("A", 1, "50"), when=h))

    assert result.points_earned == 50
    balance = p.get_balance(member.member_id)
    assert (balance.balance, balance.pending) == (0, 50)
    with pytest.raises(InsufficientPoints):
        p.hold_points(
            member.member_id,
            "r-1",
            10,
            order_total=Decimal("100"),
            expires_at=h.clock() + timedelta(minutes=5),
        )
    h.clock.advance(days=14, seconds=1)
    balance = p.get_balance(member.member_id)
    assert (balance.balance, balance.pending) == (50, 0)


def test_refund_inside_the_return_window_takes_pending_points(make_platform: MakePlatform) -> None:
    h = make_platform(pending_days=14)
    p = h.platform
    member = join(h)
    p.post_order(member.member_id, order("o-1", ("A", 2, "25"), when=h))

    result = p.reverse(member.member_id, Reversal(reversal_id="ref-1", order_id="o-1", lines=[("A", 1)]))

    assert (result.points_reversed, result.shortfall) == (25, 0)
    assert p.get_balance(member.member_id).pending == 25
    h.clock.advance(days=15)
    assert p.get_balance(member.member_id).balance == 25


# ------------------------------------------------------------------------------ balances after each change
#
# The login summary on platforms it must not call (REST) shows the balance the bridge read
# right after each change (services/balances.py). So every adapter promises: a write's
# answered balance is what get_balance reads right after it, and get_balance right after
# any write already counts that write (holds, releases, pending points, tier included).


def test_each_answered_balance_is_what_get_balance_reads_right_after(platform: PlatformHarness) -> None:
    p = platform.platform
    member = join(platform)
    mid = member.member_id
    expires = platform.clock() + timedelta(minutes=30)
    assert p.get_balance(mid).balance == 0  # join

    earned = p.post_order(mid, order("o-1", ("A", 2, "50"), ("B", 1, "20"), when=platform))
    assert earned.balance == p.get_balance(mid).balance == 120  # order

    hold = p.hold_points(mid, "r-1", 40, order_total=Decimal("30"), expires_at=expires)
    held = p.get_balance(mid)
    assert (held.balance, held.held, held.available) == (120, hold.points, 120 - hold.points)  # hold
    p.release_hold(mid, "r-1")
    released = p.get_balance(mid)
    assert (released.balance, released.held, released.available) == (120, 0, 120)  # release

    p.hold_points(mid, "r-2", 20, order_total=Decimal("30"), expires_at=expires)
    spent = p.post_order(
        mid, order("o-2", ("C", 1, "30"), when=platform, discount="0.20", redemption_id="r-2")
    )
    after_spend = p.get_balance(mid)
    assert spent.points_redeemed == 20
    assert (spent.balance, after_spend.held) == (after_spend.balance, 0)  # order capturing a hold

    refund = p.reverse(mid, Reversal(reversal_id="ref-1", order_id="o-1", lines=[("A", 1)]))
    assert refund.points_reversed > 0
    assert refund.balance == p.get_balance(mid).balance  # refund

    cancel = p.reverse(mid, Reversal(reversal_id="cancel:o-2", order_id="o-2", cancel=True))
    assert cancel.points_returned == 20
    assert cancel.balance == p.get_balance(mid).balance  # cancel


def test_get_balance_right_after_an_order_counts_what_its_answer_does_not_say(
    make_platform: MakePlatform,
) -> None:
    """An order's answer carries the spendable balance only; its pending points and the
    tier it reaches are read with get_balance, right after (what the summary keeps)."""
    h = make_platform(pending_days=14, earn_rules_json=PROGRAM)
    p = h.platform
    member = join(h)

    result = p.post_order(member.member_id, order("o-1", ("A", 1, "120"), when=h))

    balance = p.get_balance(member.member_id)
    assert (result.balance, balance.balance) == (0, 0)
    assert balance.pending == result.points_earned > 0
    assert balance.tier == "Gold"  # 120 spent: past Gold's 100
