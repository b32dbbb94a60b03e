"""Kubernetes resource quantities ("62m", "1Gi", "1e3", 1073741824) as exact numbers, the one
parser every check uses (apimachinery's resource.Quantity grammar: a signed decimal with an
optional exponent, then at most one binary or decimal suffix)."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

_SUFFIX = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_QUANTITY = re.compile(r"([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?")


def quantity(value: object) -> Decimal:
    """The quantity as a number; ValueError when it is none (a bool, None, "64MB", "1.2.3")."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a quantity: {value!r}")
    if isinstance(value, int | float):
        return Decimal(str(value))
    m = _QUANTITY.fullmatch(str(value).strip())
    if not m or m.group(1).count(".") > 1:
        raise ValueError(f"not a quantity: {value!r}")
    try:
        number = Decimal(m.group(1))
    except InvalidOperation:
        raise ValueError(f"not a quantity: {value!r}") from None
    return number * _SUFFIX[m.group(2) or ""]


def milli(value: object) -> int:
    """MilliValue(): rounded up, as resource.Quantity does."""
    return math.ceil(quantity(value) * 1000)


def whole(value: object) -> int:
    """Value(): rounded up."""
    return math.ceil(quantity(value))
