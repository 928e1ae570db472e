"""The field types the API takes, each defined once: what the handlers validate is what
openapi.yaml says (tools/openapi.py renders these same types).

The rule that keeps the two equal: **constraints apply to the input as sent; normalising
comes after** (``AfterValidator``). A type that forgives spaces or dashes says so in its
pattern (``CARD_NUMBER_INPUT``, ``MOBILE_INPUT``) and then normalises; a type that gives a
field a meaning the JSON Schema keywords cannot carry (money as a decimal string) renders
its own schema from the same regex its validator uses. tests/unit/test_api_types.py checks
every pattern here against its validator.

New routes take their ids, card numbers, mobiles and money from here; do not write a
second ``CustomerId``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)

# ---------------------------------------------------------------- ids

# The storefront's customer ids (they become parts of storage and platform keys).
CUSTOMER_ID_PATTERN = r"^[A-Za-z0-9._:@+-]{1,128}$"
CustomerId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=CUSTOMER_ID_PATTERN)]

# ---------------------------------------------------------------- card numbers and mobiles

# The whitespace forgiven around a value: spelled out, as \s means other characters in the
# regex dialects of JSON Schema tools than in Python. _strip removes exactly these.
_WS_CHARS = " \t\n\r"
WS = r"[ \t\n\r]*"


def _strip(value: str) -> str:
    return value.strip(_WS_CHARS)


# 8 to 19 digits; people type and cards print spaces and dashes between them, and surrounding
# whitespace is forgiven. The number is the digits.
CARD_NUMBER_INPUT = rf"^{WS}(?:[ -]*[0-9]){{8,19}}[ -]*{WS}$"


def normalize_card_number(value: str) -> str:
    return "".join(ch for ch in _strip(value) if ch not in " -")


CardNumber = Annotated[
    str, StringConstraints(pattern=CARD_NUMBER_INPUT), AfterValidator(normalize_card_number)
]

# E.164 (+ and 7 to 15 digits, not starting with 0), or 00 instead of +; spaces, dashes,
# dots and brackets between them are forgiven. The mobile is "+" and the digits.
_SEP = r"[ ().-]*"
MOBILE_INPUT = rf"^{WS}{_SEP}(?:\+|0{_SEP}0){_SEP}[1-9](?:{_SEP}[0-9]){{6,14}}{_SEP}{WS}$"


def normalize_mobile(value: str) -> str:
    compact = "".join(ch for ch in _strip(value) if ch not in " -().")
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    return compact


Mobile = Annotated[str, StringConstraints(pattern=MOBILE_INPUT), AfterValidator(normalize_mobile)]

# ---------------------------------------------------------------- money

# A decimal string in the order's currency: up to 10 digits before the point and 4 after,
# never a JSON number (19.99 as a float is not 19.99).
MONEY_PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,4})?$"
_MONEY = re.compile(MONEY_PATTERN)


def _money_text(value: object) -> object:
    if isinstance(value, Decimal):
        return value  # already parsed (a model built in code)
    if not isinstance(value, str) or not _MONEY.fullmatch(value):
        raise ValueError('money must be a decimal string such as "19.99" (up to 10 digits, 4 decimals)')
    return Decimal(value)


Money = Annotated[
    Decimal,
    BeforeValidator(_money_text),
    WithJsonSchema({"type": "string", "pattern": MONEY_PATTERN, "examples": ["19.99"]}, mode="validation"),
]

# ---------------------------------------------------------------- paging

# A next_cursor a listing answered (base64url, no padding). Opaque: only values the server
# gave are positions; any other is a 422 ``invalid_cursor``.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,1024}$"
Cursor = Annotated[str, StringConstraints(pattern=CURSOR_PATTERN)]

# ---------------------------------------------------------------- text and codes


# After the constraints: free text's lengths count as sent, the stored value is stripped.
Trim = AfterValidator(_strip)

# Surrounding whitespace is forgiven (and stripped), as storefront forms send it.
Email = Annotated[
    str,
    StringConstraints(max_length=254, pattern=rf"^{WS}[^@ \t\n\r]+@[^@ \t\n\r]+\.[^@ \t\n\r]+{WS}$"),
    Trim,
]
Name = Annotated[str, StringConstraints(max_length=100), Trim]

# One-time codes; surrounding whitespace is forgiven.
EmailCode = Annotated[str, StringConstraints(pattern=rf"^{WS}[0-9]{{6}}{WS}$"), Trim]
SmsCode = Annotated[str, StringConstraints(pattern=rf"^{WS}[0-9]{{4}}{WS}$"), Trim]


# ---------------------------------------------------------------- bodies


def at_least_one_field_none_null(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` of a partial update whose validator refuses an empty body and
    explicit nulls (``field: X | None = None`` only means "not sent"): the schema says so."""
    schema["minProperties"] = 1
    for name, field in schema.get("properties", {}).items():
        options = field.get("anyOf")
        if isinstance(options, list) and {"type": "null"} in options:
            kept = [option for option in options if option != {"type": "null"}]
            rest = {key: value for key, value in field.items() if key not in ("anyOf", "default")}
            schema["properties"][name] = {**kept[0], **rest} if len(kept) == 1 else {"anyOf": kept, **rest}


# ---------------------------------------------------------------- program rates and amounts

# The program's numbers (PUT /v1/admin/program, EarnRulesJson): a JSON number, or a decimal
# string as the pattern of its range says (no sign, no exponent). The string is checked by
# the same pattern the schema shows; a number by the bounds the schema shows.
_UNSIGNED = r"(?:[0-9]+(?:\.[0-9]+)?)"
NON_NEGATIVE_DECIMAL = rf"^{_UNSIGNED}$"
POSITIVE_DECIMAL = r"^(?:[0-9]*[1-9][0-9]*(?:\.[0-9]+)?|[0-9]+\.[0-9]*[1-9][0-9]*)$"
SHARE_DECIMAL = r"^(?:0(?:\.[0-9]+)?|1(?:\.0+)?)$"  # 0 to 1
PERCENT_DECIMAL = r"^(?:[0-9]{1,2}(?:\.[0-9]+)?|100(?:\.0+)?)$"  # 0 to 100


def _decimal_in(pattern: str, words: str) -> Any:
    compiled = re.compile(pattern)

    def check(value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("a number or a decimal string, not a boolean")
        if isinstance(value, str) and not compiled.fullmatch(value):
            raise ValueError(f"must be a number or a decimal string {words} (digits, no sign or exponent)")
        return value

    return BeforeValidator(check)


def _fixed_point(value: Decimal) -> str:
    # Stored and answered without an exponent, so that what is written reads back through
    # the same patterns (a float such as 3.7e307 becomes digits).
    return format(value, "f")


_FIXED_POINT = PlainSerializer(_fixed_point, return_type=str, when_used="json")


def _decimal_schema(pattern: str, **number: float) -> WithJsonSchema:
    return WithJsonSchema(
        {"anyOf": [{"type": "number", **number}, {"type": "string", "pattern": pattern}]}, mode="validation"
    )


NonNegativeDecimal = Annotated[
    Decimal,
    Field(ge=0, allow_inf_nan=False),
    _decimal_in(NON_NEGATIVE_DECIMAL, "of 0 or more"),
    _decimal_schema(NON_NEGATIVE_DECIMAL, minimum=0),
    _FIXED_POINT,
]
PositiveDecimal = Annotated[
    Decimal,
    Field(gt=0, allow_inf_nan=False),
    _decimal_in(POSITIVE_DECIMAL, "greater than 0"),
    _decimal_schema(POSITIVE_DECIMAL, exclusiveMinimum=0),
    _FIXED_POINT,
]
ShareDecimal = Annotated[
    Decimal,
    Field(ge=0, le=1, allow_inf_nan=False),
    _decimal_in(SHARE_DECIMAL, "from 0 to 1"),
    _decimal_schema(SHARE_DECIMAL, minimum=0, maximum=1),
    _FIXED_POINT,
]
PercentDecimal = Annotated[
    Decimal,
    Field(ge=0, le=100, allow_inf_nan=False),
    _decimal_in(PERCENT_DECIMAL, "from 0 to 100"),
    _decimal_schema(PERCENT_DECIMAL, minimum=0, maximum=100),
    _FIXED_POINT,
]
