"""The building blocks every model of the contract and of the activities shares.

Everything built from these crosses the wire through the pydantic data converter and is stored
in workflow history for as long as the return's history is kept, so it stays small.
Money is always an integer in minor units (cents) with an ISO 4217 currency.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetJsonSchemaHandler, StringConstraints
from pydantic_core import PydanticCustomError, core_schema

# --- Text from outside: checked where it comes in, never where history is read --------------------
#
# Free text a caller sends (reasons, notes, receipt ids, names) ends up in the timeline, the logs
# and the operator's terminal: a line break or a control character there could forge a timeline
# line or a log entry. The doors refuse such text, and any text longer than its field's limit,
# by validating what they send with the context `AT_THE_DOOR` (starter/client.py). Reading a
# payload back from a return's history validates without it, so a running return whose history
# holds text from before these limits still replays.

_DOOR = "at_the_door"
AT_THE_DOOR = MappingProxyType({_DOOR: True})
# C0 and C1 controls (line breaks and tabs among them), DEL, Unicode line and paragraph
# separators, and the bidirectional overrides that make a terminal show text out of order.
UNSAFE_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SAFE_TEXT_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]*$"


@dataclass(frozen=True)
class AtTheDoor:
    """What a text field must be when it comes in: none of UNSAFE_TEXT, at most `max_length`
    characters (when the field's own constraints don't bound it already) and, when given,
    matching `pattern` (e.g. a URL's scheme)."""

    max_length: int | None = None
    pattern: str | None = None

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.with_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler) -> Any:
        json_schema = handler(schema)
        if self.max_length is not None:
            json_schema["maxLength"] = self.max_length
        json_schema.setdefault("pattern", self.pattern or _SAFE_TEXT_PATTERN)
        return json_schema

    def _check(self, value: str, info: core_schema.ValidationInfo) -> str:
        if not (info.context or {}).get(_DOOR):
            return value  # read back from a return's history: it was accepted when it came in
        if UNSAFE_TEXT.search(value):
            raise PydanticCustomError(
                "unsafe_text", "control characters, line breaks and direction overrides are not allowed"
            )
        if self.max_length is not None and len(value) > self.max_length:
            raise PydanticCustomError(
                "string_too_long", "at most {max_length} characters", {"max_length": self.max_length}
            )
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise PydanticCustomError("string_pattern_mismatch", "must match {pattern}", {"pattern": self.pattern})
        return value


Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
# Bounded by what Stripe accepts for an amount in most currencies (eight digits: 999,999.99 USD);
# strict: an amount is an integer, never a string, a boolean or a float that happens to be whole.
MinorUnits = Annotated[int, Field(strict=True, ge=0, le=99_999_999, description="amount in minor units, e.g. cents")]
# Who acted, as the timeline names them: `<role>:<holder>`, or `<role>:<holder> for <name>` when a
# system's key acts for someone it names (api/auth.py). Up to 128 (64 before that form existed).
Actor = Annotated[str, StringConstraints(min_length=1, max_length=128), AtTheDoor()]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=500), AtTheDoor()]


class Contract(BaseModel):
    """Base for every model of the contract: strict about unknown fields, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Address(Contract):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100), AtTheDoor()]
    street1: Annotated[str, StringConstraints(min_length=1, max_length=100), AtTheDoor()]
    street2: Annotated[str, AtTheDoor(max_length=100)] | None = None
    city: Annotated[str, StringConstraints(min_length=1, max_length=60), AtTheDoor()]
    state: Annotated[str, AtTheDoor(max_length=60)] | None = None
    zip: Annotated[str, StringConstraints(min_length=1, max_length=20), AtTheDoor()]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    email: Annotated[str, AtTheDoor(max_length=254)] | None = None
    phone: Annotated[str, AtTheDoor(max_length=40)] | None = None


class Parcel(Contract):
    length_cm: Annotated[float, Field(gt=0, le=300)] = 30
    width_cm: Annotated[float, Field(gt=0, le=300)] = 20
    height_cm: Annotated[float, Field(gt=0, le=300)] = 10
    weight_kg: Annotated[float, Field(gt=0, le=70)] = 1
