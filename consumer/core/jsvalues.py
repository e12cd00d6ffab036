"""JavaScript's value semantics where Segment's code relies on them, for JSON values in Python.

Segment evaluates triggers and mappings in JavaScript; copying a trigger or mapping only gives
the same result if truthiness, `String(...)`, `Number(...)`, number formatting, property reads
(`a && a[k]`, `.length`, `[n]` on strings) and `JSON.stringify` behave as there. `UNDEFINED`
stands for JavaScript's `undefined` (a missing value); JSON null is `None`.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any, Final


class _Undefined:
    """The one `undefined`: falsy, and never part of what is sent."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "undefined"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Final = _Undefined()
SAFE_INTEGER: Final = 2**53
# String.prototype.trim() and Number() strip these (WhiteSpace and LineTerminator).
JS_SPACE: Final = (
    "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_RADIX = {"0x": 16, "0o": 8, "0b": 2}
_INDEX = re.compile(r"0|[1-9][0-9]*")


def is_number(value: Any) -> bool:
    """`typeof value === 'number'` for a JSON value (booleans are not numbers)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def truthy(value: Any) -> bool:
    """JavaScript truthiness: undefined, null, false, 0, NaN and "" are falsy; [] and {} not."""
    if value is None or value is UNDEFINED or value is False:
        return False
    if isinstance(value, float):
        return not (value == 0 or math.isnan(value))
    if isinstance(value, int | str):
        return bool(value)
    return True


def js_to_number(text: str) -> float:
    """JavaScript's Number(text): blanks trimmed, "" is 0, hex/octal/binary, else NaN."""
    text = text.strip(JS_SPACE)
    if not text:
        return 0.0
    if text in ("Infinity", "+Infinity", "-Infinity"):
        return -math.inf if text[0] == "-" else math.inf
    if _DECIMAL.fullmatch(text):
        return float(text)
    radix = _RADIX.get(text[:2].lower())
    digits = text[2:]
    if radix is None or not digits.isascii() or not digits.isalnum():
        return math.nan
    try:
        whole = int(digits, radix)
    except ValueError:
        return math.nan
    return float(whole) if whole.bit_length() <= 1024 else math.inf


def js_number_text(number: float) -> str:
    """What JavaScript's String(number) writes: `1.0` -> `1`, `1e21` -> `1e+21`."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "0"
    sign = "-" if number < 0 else ""
    parts = Decimal(repr(abs(number))).as_tuple()
    assert isinstance(parts.exponent, int)
    digits = "".join(map(str, parts.digits))
    exponent = parts.exponent + len(digits) - len(digits.rstrip("0"))
    digits = digits.rstrip("0")
    point = exponent + len(digits)  # the decimal point sits after this many digits
    if len(digits) <= point <= 21:
        body = digits + "0" * (point - len(digits))
    elif 0 < point <= 21:
        body = f"{digits[:point]}.{digits[point:]}"
    elif -6 < point <= 0:
        body = "0." + "0" * -point + digits
    else:
        mantissa = digits if len(digits) == 1 else f"{digits[0]}.{digits[1:]}"
        body = f"{mantissa}e{'+' if point > 0 else '-'}{abs(point - 1)}"
    return sign + body


def _double(value: int | float) -> float:
    """The JavaScript number of a JSON number (integers beyond 2**53 round, as JSON.parse does)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def js_string(value: Any) -> str:
    """JavaScript's String(value) for a JSON value (undefined gives "undefined")."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if value is UNDEFINED:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return js_number_text(_double(value))
    if isinstance(value, list):  # Array.prototype.join: null and undefined items are ""
        return ",".join(
            "" if item is None or item is UNDEFINED else js_string(item) for item in value
        )
    return "[object Object]"


def loosely_empty(value: Any) -> bool:
    """`value == ''` (loose): "", 0, false, [] and arrays whose join is "" equal the empty text."""
    if isinstance(value, str | list):
        return js_string(value) == ""
    if isinstance(value, bool | int | float):
        return _double(value) == 0
    return False


def utf16_units(text: str) -> list[str]:
    """The string as JavaScript sees it: one item per UTF-16 code unit (astral = two)."""
    if text.isascii() or all(ord(char) < 0x10000 for char in text):
        return list(text)
    raw = text.encode("utf-16-le", "surrogatepass")
    return [raw[i : i + 2].decode("utf-16-le", "surrogatepass") for i in range(0, len(raw), 2)]


def utf16_length(text: str) -> int:
    """JavaScript's `text.length`."""
    return len(text) + sum(1 for char in text if ord(char) >= 0x10000)


def member(value: Any, key: str) -> Any:
    """JavaScript's `value && value[key]` on a JSON value (prototype members are not modelled)."""
    if not truthy(value):
        return value
    if isinstance(value, dict):
        return value.get(key, UNDEFINED)
    if isinstance(value, list):
        if key == "length":
            return len(value)
        if _INDEX.fullmatch(key) and int(key) < len(value):
            return value[int(key)]
        return UNDEFINED
    if isinstance(value, str):
        if key == "length":
            return utf16_length(value)
        if _INDEX.fullmatch(key):
            units = utf16_units(value)
            return units[int(key)] if int(key) < len(units) else UNDEFINED
    return UNDEFINED


def json_stringify(value: Any) -> str | None:
    """JSON.stringify(value): None where JavaScript returns undefined (undefined at the top)."""
    if value is UNDEFINED:
        return None
    return _stringify(value)


def escape_lone_surrogates(json_text: str) -> str:
    """JSON text with each lone UTF-16 surrogate written as a `\\udXXX` escape, as
    JSON.stringify writes it (JavaScript strings can hold them; UTF-8 cannot)."""
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", json_text)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _quote(text: str) -> str:
    quoted = json.dumps(text, ensure_ascii=False)
    return quoted if text.isascii() else escape_lone_surrogates(quoted)


def _stringify(value: Any) -> str:
    if isinstance(value, str):
        return _quote(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        number = _double(value)
        return "null" if math.isnan(number) or math.isinf(number) else js_number_text(number)
    if isinstance(value, list):
        return "[" + ",".join("null" if v is UNDEFINED else _stringify(v) for v in value) + "]"
    items = (f"{_quote(k)}:{_stringify(v)}" for k, v in js_entries(value) if v is not UNDEFINED)
    return "{" + ",".join(items) + "}"


def js_entries(obj: dict[str, Any]) -> list[tuple[str, Any]]:
    """An object's entries in JavaScript's order: array-index keys ascending, then the rest."""
    indices = sorted((k for k in obj if _INDEX.fullmatch(k) and int(k) < 2**32 - 1), key=int)
    if not indices:
        return list(obj.items())
    index_set = set(indices)
    return [(k, obj[k]) for k in indices] + [(k, v) for k, v in obj.items() if k not in index_set]


def json_parse(text: str) -> Any:
    """JSON.parse(text); raises ValueError where JavaScript throws (NaN, Infinity included)."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse, parse_int=_parse_int)


def _parse_int(digits: str) -> int | float:
    """Integers as JavaScript reads them: exact up to 2**53, rounded to a double beyond."""
    whole = int(digits)
    return whole if abs(whole) <= SAFE_INTEGER else _double(whole)
