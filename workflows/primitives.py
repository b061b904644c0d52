"""The building blocks every model of the contract and of the activities shares.

Everything built from these crosses the wire through the pydantic data converter and is stored
in workflow history for as long as the return's history is kept, so it stays small.
Money is always an integer in minor units (cents) with an ISO 4217 currency.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
# Bounded by what Stripe accepts for an amount in most currencies (eight digits: 999,999.99 USD);
# strict: an amount is an integer, never a string, a boolean or a float that happens to be whole.
MinorUnits = Annotated[int, Field(strict=True, ge=0, le=99_999_999, description="amount in minor units, e.g. cents")]
Actor = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class Contract(BaseModel):
    """Base for every model of the contract: strict about unknown fields, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Address(Contract):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    street1: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    street2: str | None = None
    city: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    state: str | None = None
    zip: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    email: str | None = None
    phone: str | None = None


class Parcel(Contract):
    length_cm: Annotated[float, Field(gt=0, le=300)] = 30
    width_cm: Annotated[float, Field(gt=0, le=300)] = 20
    height_cm: Annotated[float, Field(gt=0, le=300)] = 10
    weight_kg: Annotated[float, Field(gt=0, le=70)] = 1
