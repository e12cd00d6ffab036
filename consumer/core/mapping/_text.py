"""The directives that produce text: `@template`, `@case` and `@replace`.

They follow JavaScript string semantics: lengths count UTF-16 units, `@replace` matches its
pattern literally with JavaScript's case-insensitive rule and expands `$&`, `$$`, `` $` `` and
`$'` in the replacement, and values are written as JavaScript's String(...) writes them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from consumer.core.jsvalues import (
    JS_SPACE,
    UNDEFINED,
    is_number,
    js_string,
    truthy,
    utf16_length,
)
from consumer.core.mapping._tree import Const, MappingFailure, Node, Part, kind

MAX_PATTERN_LENGTH = 10
MAX_REPLACEMENT_LENGTH = 10
_TRIPLE = re.compile(r"\{\{\{([^}]+)\}\}\}")
_DOUBLE = re.compile(r"\{\{([^}]+)\}\}")
Reader = Callable[[Any, str], Any]


def template(text: str, scope: Any, read: Reader) -> str:
    """Segment's two passes; as there, the second also expands what the first inserted."""

    def value(match: re.Match[str]) -> str:
        found = read(scope, match.group(1).strip(JS_SPACE))
        return "" if found is None or found is UNDEFINED else js_string(found)

    return _DOUBLE.sub(value, _TRIPLE.sub(value, text))


def case(arg: Any, part: Part) -> Node:
    options = part.options(arg, '"operator" and "value"')
    operator = options.get("operator", UNDEFINED)
    source = options.get("value", UNDEFINED)
    part.check(
        operator is UNDEFINED or isinstance(operator, str),
        f'"operator" must be "lower" or "upper", found {kind(operator)}',
    )
    if source is not UNDEFINED:
        part.at("value").string_or_directive(source)
    if not truthy(operator):
        part.always_fails('@case requires an "operator" key')
    if not truthy(source):
        return Const(UNDEFINED)
    if isinstance(source, str) and operator not in ("lower", "upper"):
        part.always_fails('"operator" must be "lower" or "upper"')
    inner = part.at("value").compile(source)

    def convert(scope: Any) -> Any:
        value = inner(scope)
        if not isinstance(value, str):
            return value
        if operator == "lower":
            return value.lower()
        if operator == "upper":
            return value.upper()
        raise MappingFailure('@case: operator key should have a value of "lower" or "upper"')

    return convert


def replace(arg: Any, part: Part) -> Node:
    options = part.options(arg, '"pattern", "replacement" and "value"')
    get = options.get
    pattern, replacement = get("pattern", UNDEFINED), get("replacement", UNDEFINED)
    part.check(
        isinstance(pattern, str) and 1 <= utf16_length(pattern) <= MAX_PATTERN_LENGTH,
        f'"pattern" must be text of 1 to {MAX_PATTERN_LENGTH} characters',
    )
    part.check(
        replacement is UNDEFINED
        or (isinstance(replacement, str) and utf16_length(replacement) <= MAX_REPLACEMENT_LENGTH),
        f'"replacement" must be text of at most {MAX_REPLACEMENT_LENGTH} characters',
    )
    part.check("value" in options, 'needs a "value"')
    part.at("value").string_or_directive(get("value", UNDEFINED))
    for flag in ("ignorecase", "global"):
        setting = get(flag, UNDEFINED)
        part.check(
            setting is UNDEFINED or isinstance(setting, bool), f'"{flag}" must be true or false'
        )
    if not truthy(pattern):
        part.always_fails('@replace requires a "pattern" key')
    if not truthy(get("value", UNDEFINED)):
        return Const(UNDEFINED)
    inner = part.at("value").compile(options["value"])
    settings = _ReplaceSettings(options)
    return lambda scope: settings.apply(inner(scope))


class _ReplaceSettings:
    """The options of one @replace with Segment's defaults (`== null` means not given)."""

    def __init__(self, options: dict[str, Any]) -> None:
        def given(key: str, default: Any) -> Any:
            value = options.get(key)
            return default if value is None else value

        self.pattern = options["pattern"]
        self.replacement = given("replacement", "")
        self.pattern2 = options.get("pattern2")
        self.replacement2 = given("replacement2", "") if truthy(self.pattern2) else None
        self.ignorecase = given("ignorecase", False)
        self.global_ = given("global", True)

    def apply(self, value: Any) -> str:
        if isinstance(value, bool) or is_number(value):
            value = js_string(value)
        if not (
            isinstance(value, str)
            and isinstance(self.pattern, str)
            and isinstance(self.replacement, str)
            and isinstance(self.ignorecase, bool)
            and isinstance(self.global_, bool)
        ):
            return ""
        text = _replace(value, self.pattern, self.replacement, self.global_, self.ignorecase)
        if isinstance(self.pattern2, str) and self.pattern2 and isinstance(self.replacement2, str):
            text = _replace(text, self.pattern2, self.replacement2, self.global_, self.ignorecase)
        return text


def _replace(text: str, pattern: str, replacement: str, every: bool, ignorecase: bool) -> str:
    """JavaScript's `text.replace(new RegExp(escaped pattern, flags), replacement)`."""
    if utf16_length(pattern) > MAX_PATTERN_LENGTH:
        raise MappingFailure(
            f"@replace requires a pattern of at most {MAX_PATTERN_LENGTH} characters"
        )
    if utf16_length(replacement) > MAX_REPLACEMENT_LENGTH:
        raise MappingFailure(
            f"@replace requires a replacement of at most {MAX_REPLACEMENT_LENGTH} characters"
        )
    haystack = _fold(text) if ignorecase else text
    needle = _fold(pattern) if ignorecase else pattern
    out: list[str] = []
    start = 0
    while (found := haystack.find(needle, start)) >= 0:
        end = found + len(needle)
        out.append(text[start:found])
        out.append(_substitution(replacement, text, found, end))
        start = end
        if not every:
            break
    out.append(text[start:])
    return "".join(out)


def _fold(text: str) -> str:
    """JavaScript's Canonicalize for a non-unicode /i regex, one character at a time."""
    return "".join(map(_canonical, text))


def _canonical(char: str) -> str:
    if ord(char) >= 0x10000:  # two UTF-16 units there, which have no case
        return char
    upper = char.upper()
    if len(upper) != 1 or (ord(char) >= 128 and ord(upper) < 128):
        return char
    return upper


_SPECIAL = re.compile(r"\$([$&`'])")


def _substitution(replacement: str, text: str, start: int, end: int) -> str:
    """GetSubstitution without capture groups: `$$`, `$&`, `` $` ``, `$'`; the rest as written."""
    if "$" not in replacement:
        return replacement
    parts = {"$": "$", "&": text[start:end], "`": text[:start], "'": text[end:]}
    return _SPECIAL.sub(lambda match: parts[match.group(1)], replacement)
