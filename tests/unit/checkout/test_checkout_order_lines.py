"""Seed 000 field limits on what reaches the platform: cut on characters, never bytes."""

from __future__ import annotations

import unicodedata
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from loyalty_bridge.models.domain import BasketLine
from loyalty_bridge.program.order_lines import as_platform_sees, cut, platform_line


def basket_line(sku: str = "SKU", title: str = "", categories: list[str] | None = None) -> BasketLine:
    return BasketLine(
        sku=sku, title=title, quantity=2, unit_price=Decimal("3.50"), categories=categories or []
    )


def test_each_field_keeps_its_first_characters() -> None:
    sent = platform_line(
        basket_line(
            sku="ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            title="T" * 49 + "XYZ",
            categories=["Department store", "Category twelve", "Subcategory"],
        )
    )
    assert sent.product_code == "ABCDEFGHIJKLMNOPQRST"
    assert sent.title == "T" * 49 + "X"
    assert (sent.department, sent.category, sent.subcategory) == ("Department", "Category t", "Subcategor")
    assert sent.sku == "ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # the full sku stays, for refunds by line
    assert (sent.quantity, sent.unit_price) == (2, Decimal("3.50"))


def test_missing_category_levels_are_left_out() -> None:
    assert platform_line(basket_line(categories=[])).department is None
    only_top = platform_line(basket_line(categories=["Garden"]))
    assert (only_top.department, only_top.category, only_top.subcategory) == ("Garden", None, None)
    blank_middle = platform_line(basket_line(categories=["Garden", "  ", "Hoses"]))
    assert (blank_middle.department, blank_middle.category, blank_middle.subcategory) == (
        "Garden",
        None,
        "Hoses",
    )


def test_emoji_and_cjk_count_as_one_character_each() -> None:
    emoji_title = "\U0001f600" * 60  # 4 bytes each in UTF-8
    cjk_title = "\u6f22\u5b57" * 40  # 3 bytes each
    assert platform_line(basket_line(title=emoji_title)).title == "\U0001f600" * 50
    assert platform_line(basket_line(title=cjk_title)).title == ("\u6f22\u5b57" * 25)
    department = "\u5bb6\u5177\u548c\u5bb6\u5c45\u7528\u54c1\u90e8\u95e8\u5927\u5168"  # 11 characters
    sent = platform_line(basket_line(sku="\u5546\u54c1" * 15, categories=[department]))
    assert sent.product_code == "\u5546\u54c1" * 10
    assert sent.department == department[:10]
    assert len(sent.department.encode()) == 30  # 10 characters, 30 bytes: cut on characters


def test_decomposed_accents_are_composed_before_counting() -> None:
    title = "Cafe\u0301 " * 12  # "Café " written with a combining acute: 6 code points each
    sent = platform_line(basket_line(title=title)).title
    assert sent == unicodedata.normalize("NFC", title)[:50]
    assert len(sent) == 50
    assert "\u0301" not in sent


def test_a_cut_never_separates_a_letter_from_its_marks() -> None:
    # q + COMBINING DOT ABOVE has no precomposed form: it stays two code points.
    title = "x" * 49 + "q\u0307" + "tail"
    assert platform_line(basket_line(title=title)).title == "x" * 49


def test_a_cut_never_splits_emoji_sequences_or_flags() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 5 code points
    assert cut("ab" + family, 5) == "ab"
    thumbs = "\U0001f44d\U0001f3fd"  # thumbs up + skin tone
    assert cut("abc" + thumbs, 4) == "abc"
    flags = "\U0001f1eb\U0001f1f7" * 3  # three flags, six regional indicators
    assert cut(flags, 3) == "\U0001f1eb\U0001f1f7"
    assert cut(flags, 4) == "\U0001f1eb\U0001f1f7" * 2
    keycap = "1\ufe0f\u20e3"
    assert cut("ab" + keycap, 4) == "ab"


def test_one_cluster_longer_than_the_field_is_cut_hard() -> None:
    zalgo = "a" + "\u0300\u0301\u0302\u0303" * 5
    assert cut(zalgo, 10) == unicodedata.normalize("NFC", zalgo)[:10]


def test_the_quote_sees_the_lines_as_the_platform_will() -> None:
    seen = as_platform_sees(basket_line(title="Z" * 80, categories=["Electronics", "Televisions"]))
    assert seen.title == "Z" * 50
    assert seen.categories == ["Electronic", "Television"]
    assert as_platform_sees(basket_line(categories=["", "Shoes"])).categories == ["", "Shoes"]


@given(st.text(max_size=120), st.integers(min_value=1, max_value=60))
def test_a_cut_is_a_short_prefix_of_the_composed_text(text: str, limit: int) -> None:
    result = cut(text, limit)
    composed = unicodedata.normalize("NFC", text)
    assert composed.startswith(result)
    assert len(result) <= limit
    if len(composed) <= limit:
        assert result == composed
