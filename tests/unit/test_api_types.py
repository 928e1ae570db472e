"""The shared API field types (models/api_types.py): what their JSON Schema says is what
their validators take, so openapi.yaml and the handlers agree (issue 19)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from loyalty_bridge.models import api_types
from loyalty_bridge.models.api_membership import Email

TYPES: dict[str, Any] = {
    "card_number": api_types.CardNumber,
    "mobile": api_types.Mobile,
    "customer_id": api_types.CustomerId,
    "money": api_types.Money,
    "email": Email,
    "email_code": api_types.EmailCode,
    "sms_code": api_types.SmsCode,
    "cursor": api_types.Cursor,
}
# The program's numbers: a JSON number or a string; the string branch's pattern is the rule.
DECIMALS: dict[str, Any] = {
    "non_negative": api_types.NonNegativeDecimal,
    "positive": api_types.PositiveDecimal,
    "share": api_types.ShareDecimal,
    "percent": api_types.PercentDecimal,
}


def pattern_of(annotation: Any) -> str:
    schema = TypeAdapter(annotation).json_schema(mode="validation")
    strings = [option for option in schema.get("anyOf", [schema]) if option.get("type") == "string"]
    return str(strings[0]["pattern"])


def accepts(annotation: Any, value: str) -> bool:
    try:
        TypeAdapter(annotation).validate_python(value)
    except ValidationError:
        return False
    return True


ALL = {**TYPES, **DECIMALS}


@pytest.mark.parametrize("name", sorted(ALL))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_value_the_schema_allows_is_accepted(name: str, data: st.DataObject) -> None:
    annotation = ALL[name]
    value = data.draw(st.from_regex(pattern_of(annotation), fullmatch=True))
    assert accepts(annotation, value), value


@pytest.mark.parametrize("name", sorted(ALL))
@settings(max_examples=150, deadline=None)
@given(value=st.text(alphabet=" \t\n\r+-().0123456789@a.AZ_:e\u00a0\u000b\u0663", max_size=24))
def test_a_value_is_accepted_exactly_when_the_schema_allows_it(name: str, value: str) -> None:
    annotation = ALL[name]
    allowed = re.fullmatch(pattern_of(annotation).removeprefix("^").removesuffix("$"), value) is not None
    assert accepts(annotation, value) == allowed, value


def test_normalised_values() -> None:
    assert TypeAdapter(api_types.CardNumber).validate_python(" 6000 0000-0000 07\n") == "60000000000007"
    assert TypeAdapter(api_types.Mobile).validate_python("00 44 (20) 7946-0958") == "+442079460958"
    assert TypeAdapter(api_types.Money).validate_python("19.99") == Decimal("19.99")
    assert not accepts(api_types.Money, 19.99)  # type: ignore[arg-type]
    assert not accepts(api_types.CardNumber, "6000\u000b0000 0000 07")
