"""What reaches the platform for each order line (seed 000, C4).

Product code: first 20 characters; title: first 50; department, category and subcategory
(the storefront's categories from the top down): first 10 each, missing levels left out.

"Characters" are Unicode code points of the NFC form, never bytes: an emoji or a CJK
character counts as one, and "e" + COMBINING ACUTE is composed to one "é" first. A cut never
leaves half of a user-perceived character behind (a base letter without its combining
marks, half of a ZWJ emoji sequence or of a flag, an emoji without its skin-tone modifier):
such a cluster is dropped whole, so a field may come out a little shorter than its limit.

The quote sends the platform the same view of the basket as the order push, so the earn
rules (e.g. per category) see the same names in both and "you will earn N" is what is
credited.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

from loyalty_bridge.models.domain import BasketLine, PlatformOrderLine

PRODUCT_CODE_MAX = 20
TITLE_MAX = 50
CATEGORY_MAX = 10

_ZWJ = "\u200d"


def _continues_cluster(char: str) -> bool:
    """True when ``char`` belongs to the character before it and cannot start a new one."""
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Mc"):
        return True
    cp = ord(char)
    return (
        cp == 0x200D  # zero width joiner
        or 0xFE00 <= cp <= 0xFE0F  # variation selectors (emoji / text presentation)
        or 0xE0100 <= cp <= 0xE01EF  # variation selectors supplement
        or 0x1F3FB <= cp <= 0x1F3FF  # emoji skin-tone modifiers
        or 0xE0020 <= cp <= 0xE007F  # tag characters (subdivision flags)
        or 0x1160 <= cp <= 0x11FF  # conjoining Hangul vowels and trailing consonants
        or 0xD7B0 <= cp <= 0xD7FF
    )


def _is_regional_indicator(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _splits_cluster(text: str, end: int) -> bool:
    """Would cutting ``text`` before index ``end`` split one user-perceived character?"""
    after, before = text[end], text[end - 1]
    if _continues_cluster(after) or before == _ZWJ:
        return True
    if before == "\r" and after == "\n":
        return True
    if _is_regional_indicator(after) and _is_regional_indicator(before):
        # Flags are pairs of regional indicators: count the run to know where pairs start.
        run = 0
        while end - run - 1 >= 0 and _is_regional_indicator(text[end - run - 1]):
            run += 1
        return run % 2 == 1
    return False


def cut(text: str, limit: int) -> str:
    """The first ``limit`` characters (code points of the NFC form) of ``text``, without
    splitting a combining sequence, an emoji sequence or a flag."""
    normal = unicodedata.normalize("NFC", text)
    if len(normal) <= limit:
        return normal
    end = limit
    while end > 0 and _splits_cluster(normal, end):
        end -= 1
    if end == 0:
        # One cluster longer than the whole field (e.g. a letter under dozens of marks):
        # a hard cut still beats sending nothing.
        end = limit
    return normal[:end]


def _category(categories: Sequence[str | None], level: int) -> str | None:
    if level >= len(categories):
        return None
    name = cut((categories[level] or "").strip(), CATEGORY_MAX).strip()
    return name or None


def platform_line(line: BasketLine) -> PlatformOrderLine:
    """One basket line as the platform receives it (seed 000 field limits)."""
    return PlatformOrderLine(
        product_code=cut(line.sku, PRODUCT_CODE_MAX),
        title=cut(line.title.strip(), TITLE_MAX),
        department=_category(line.categories, 0),
        category=_category(line.categories, 1),
        subcategory=_category(line.categories, 2),
        quantity=line.quantity,
        unit_price=line.unit_price,
        sku=line.sku,
    )


def platform_lines(lines: Iterable[BasketLine]) -> list[PlatformOrderLine]:
    return [platform_line(line) for line in lines]


def as_platform_sees(line: BasketLine) -> BasketLine:
    """The basket line with the truncated title and categories the order push will send,
    so a quote is computed on exactly what the credit will be computed on. Missing levels
    stay as empty strings to keep the positions (department, category, subcategory)."""
    sent = platform_line(line)
    levels = [sent.department or "", sent.category or "", sent.subcategory or ""]
    while levels and not levels[-1]:
        levels.pop()
    return line.model_copy(update={"title": sent.title, "categories": levels})
