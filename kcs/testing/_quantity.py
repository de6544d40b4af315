"""Resource quantities (``100m``, ``1Gi``, ``1e3``) in kube-apiserver's canonical form.

The apiserver parses every ``Quantity`` it is sent and stores it re-printed canonically, so
a client that sent ``cpu: 1000m`` reads back ``"1"``, ``memory: 2048Mi`` reads ``"2Gi"`` and
``cpu: 0.5`` reads ``"500m"``; resource lists (``requests``, ``limits``, ...) are also
rounded up to thousandths (``SetDefaults_ResourceList``). A controller that compares what
it sent with what it reads sees this on a real cluster, so the fake does it too.

The rules are ``resource.Quantity``'s: the format is the one the value was written in
(binary suffixes ``Ki``...``Ei``, decimal ``n u m k M G T P E`` or none, or an exponent
``e3``); a binary value below 1024 or not a whole number prints as decimal; decimal
values print with the largest exponent that is a multiple of three and keeps the number
whole; zero prints ``0``; precision stops at nano units (rounded up).
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

__all__ = ["QUANTITY_PATTERN", "canonical_quantity", "quantity_value"]

QUANTITY_PATTERN = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")

_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15,
            "E": 18}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL.items()}
_BINARY_SUFFIX = {v: k for k, v in _BINARY.items()}


@lru_cache(maxsize=4096)
def _parse(text: str) -> tuple[Fraction, str] | None:
    m = QUANTITY_PATTERN.match(text.strip())
    if m is None:
        return None
    number, suffix = m.group(1), m.group(2)
    try:
        value = Fraction(number)
    except (ValueError, ZeroDivisionError):
        return None
    if suffix in _BINARY:
        return value * 2 ** _BINARY[suffix], "binary"
    if suffix in _DECIMAL:
        return value * Fraction(10) ** _DECIMAL[suffix], "decimal"
    if re.fullmatch(r"[eE][-+]?\d+", suffix):
        return value * Fraction(10) ** int(suffix[1:]), "exponent"
    return None


def quantity_value(text: str) -> Fraction | None:
    """The exact value of quantity ``text`` (``"1500m"`` -> 3/2), or ``None``."""
    parsed = _parse(text)
    return None if parsed is None else parsed[0]


@lru_cache(maxsize=4096)
def canonical_quantity(text: str, *, round_to_milli: bool = False) -> str | None:
    """``text`` re-printed as kube stores it, or ``None`` when it is not a quantity."""
    parsed = _parse(text)
    if parsed is None:
        return None
    value, fmt = parsed
    value = _round_up(value, 3 if round_to_milli else 9)
    if value == 0:
        return "0"
    if fmt == "binary" and (abs(value) < 1024 or value.denominator != 1):
        fmt = "decimal"
    if fmt == "binary":
        return _binary(int(value))
    return _decimal(value, fmt)


def _round_up(value: Fraction, digits: int) -> Fraction:
    """Round away from zero to ``digits`` decimals, as ``Quantity.RoundUp`` does."""
    scale = 10 ** digits
    magnitude = abs(value) * scale
    whole = -(-magnitude.numerator // magnitude.denominator)
    return Fraction(whole if value >= 0 else -whole, scale)


def _binary(value: int) -> str:
    exp = 0
    while value % 1024 == 0 and exp < 60:
        value //= 1024
        exp += 10
    return f"{value}{_BINARY_SUFFIX[exp]}" if exp else str(value)


def _decimal(value: Fraction, fmt: str) -> str:
    # value = mantissa * 10**exponent with an integer mantissa and the largest exponent.
    exponent = 0
    while value.denominator != 1:
        value *= 10
        exponent -= 1
    mantissa = value.numerator
    while mantissa != 0 and mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    shift = exponent % 3
    mantissa *= 10 ** shift
    exponent -= shift
    if fmt == "exponent":
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    suffix = _DECIMAL_SUFFIX.get(exponent)
    if suffix is None:
        return f"{mantissa}e{exponent}"
    return f"{mantissa}{suffix}"
