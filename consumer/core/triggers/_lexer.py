"""Cut trigger text into tokens where Segment's lexer (`fql-ts`) cuts it.

Where `fql-ts` would cut a text differently from how it reads (a closing quote glued to the next
word, `and(`, `1e5`), or fail on it, we stop here with a message that says so.
"""

from __future__ import annotations

import enum
import string
from collections.abc import Iterator
from dataclasses import dataclass

# fql-ts skips only these three as blanks; any other control or Unicode space is an error there.
BLANKS = frozenset(" \t\n")
# fql-ts ends `and`, `or`, `null`, `!=`, `<=`, `>=` or a string only where one of these follows.
_TERMINATORS = BLANKS | frozenset(",])")
_ASCII_LETTERS = frozenset(string.ascii_letters)
_DIGITS = frozenset(string.digits)
_NAME_START = _ASCII_LETTERS | frozenset("_\\")
_NAME_PART = _ASCII_LETTERS | _DIGITS | frozenset("_-")
_KEYWORDS = frozenset({"and", "or"})
_LAST_SEGMENT_KEYWORDS = frozenset({"and", "or", "null"})


class TriggerSyntaxError(ValueError):
    """A trigger that does not parse or that Segment would misread; `.position` says where."""

    def __init__(self, text: str, position: int, problem: str) -> None:
        super().__init__(f"at position {position}: {problem}.")
        self.text = text
        self.position = position


class Kind(enum.Enum):
    NAME = "name"
    STRING = "string"
    NUMBER = "number"
    OPERATOR = "operator"
    AND = "and"
    OR = "or"
    NOT = "!"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    END = "end of the trigger"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    start: int
    end: int
    text: str  # the source slice, for messages
    segments: tuple[str, ...] = ()  # NAME: the dotted parts, escapes resolved
    string: str = ""  # STRING: the content between the quotes


def tokenize(text: str) -> Iterator[Token]:
    """Yield the tokens of `text` lazily, so that errors come in reading order; END comes last."""
    pos, size = 0, len(text)
    while True:
        while pos < size and text[pos] in BLANKS:
            pos += 1
        if pos == size:
            yield Token(Kind.END, size, size, "")
            return
        char = text[pos]
        if char in _NAME_START:
            token = _name(text, pos)
        elif char in _DIGITS or char in "+-":
            token = _number(text, pos)
        elif char == '"':
            token = _string(text, pos)
        elif char in "=<>!":
            token = _operator(text, pos)
        elif char in "(),":
            token = Token(Kind(char), pos, pos + 1, char)
        else:
            raise _bad_character(text, pos)
        yield token
        pos = token.end


def _name(text: str, start: int) -> Token:
    """A word or dotted path; fql-ts lexes each part separately and glues `ident . ident`."""
    segments: list[str] = []
    pos, size, escaped = start, len(text), False
    while True:
        segment, pos, escaped_here = _segment(text, pos)
        segments.append(segment)
        escaped |= escaped_here
        if pos == size or text[pos] != ".":
            break
        after = text[pos + 1 : pos + 2]
        if after not in _NAME_START:
            raise _bad_segment(text, start, pos)
        pos += 1
    token = Token(Kind.NAME, start, pos, text[start:pos], tuple(segments))
    following = text[pos : pos + 1]
    _check_after_name(text, token, following)
    last = segments[-1]
    terminated = not following or following in _TERMINATORS
    if not escaped and len(segments) == 1 and last in _KEYWORDS:
        if not terminated:
            raise TriggerSyntaxError(
                text,
                start,
                f"put a space after {last}; Segment reads {last}{following} as an unknown word "
                "and ignores it",
            )
        return Token(Kind(last), start, pos, last)
    raw_last = token.text.rsplit(".", 1)[-1]
    if len(segments) > 1 and raw_last in _LAST_SEGMENT_KEYWORDS and terminated:
        raise TriggerSyntaxError(
            text,
            pos - len(raw_last),
            f"Segment reads {raw_last} at the end of a name as the keyword {raw_last}; escape it: "
            f"{token.text[: -len(raw_last)]}\\{raw_last}",
        )
    return token


def _segment(text: str, pos: int) -> tuple[str, int, bool]:
    """One part of a name, its end, and whether a backslash escaped some character in it."""
    chars: list[str] = []
    escaped = False
    while pos < len(text):
        char = text[pos]
        if char in _NAME_PART:
            chars.append(char)
            pos += 1
        elif char == "\\":
            if pos + 1 == len(text):
                raise TriggerSyntaxError(
                    text, pos, "a backslash at the end escapes nothing (Segment rejects it)"
                )
            chars.append(text[pos + 1])  # `\.`, `\[`, `\]` too: the parser splits at them
            pos += 2
            escaped = True
        else:
            break
    return "".join(chars), pos, escaped


def _bad_segment(text: str, start: int, dot: int) -> TriggerSyntaxError:
    """What follows a dot inside a name cannot start a name part in fql-ts."""
    where, after = text[start:dot], text[dot + 1 : dot + 2]
    if after in _DIGITS or after == "-":
        end = dot + 1
        while end < len(text) and text[end] in _NAME_PART:
            end += 1
        return TriggerSyntaxError(
            text,
            dot + 1,
            f"Segment does not read a name part that starts with {after!r} as part of "
            f"the name; escape its first character: {where}.\\{text[dot + 1 : end]}",
        )
    return TriggerSyntaxError(text, dot, f"the name {where}. ends with a dot")


def _check_after_name(text: str, token: Token, following: str) -> None:
    """fql-ts fails on most characters glued to a name; say which fix applies."""
    if following == "[":
        raise TriggerSyntaxError(
            text,
            token.end,
            "an index such as [0] is not part of the trigger language (Segment cannot parse "
            "it either); to test an array item, escape the index as a name part: "
            f"{token.text}.\\0",
        )
    if following and following not in _TERMINATORS and following not in "(=!<>":
        if following.isalnum():
            raise TriggerSyntaxError(
                text,
                token.end,
                f"Segment cannot read {following!r} in a name unless it is escaped; "
                f"write \\{following}",
            )
        raise TriggerSyntaxError(text, token.end, f"put a space after {token.text}")


def _number(text: str, start: int) -> Token:
    """`[+-]digits[.digits]`: what fql-ts turns into the number JavaScript's Number() gives."""
    pos, size = start + 1 if text[start] in "+-" else start, len(text)
    body = pos
    while pos < size and (text[pos] in _DIGITS or text[pos] == "."):
        pos += 1
    digits = text[body:pos]
    whole, dot, fraction = digits.partition(".")
    if not digits or not whole or (dot and (not fraction or "." in fraction)):
        shown = text[start:pos] or text[start]
        raise TriggerSyntaxError(
            text,
            start,
            f"{shown} is not a number (Segment reads it as NaN or rejects it); "
            "write digits with at most one decimal point, such as -2.5",
        )
    token = Token(Kind.NUMBER, start, pos, text[start:pos])
    if pos < size and text[pos] not in _TERMINATORS:
        rest = pos
        while rest < size and text[rest] not in _TERMINATORS:
            rest += 1
        raise TriggerSyntaxError(
            text,
            pos,
            f"Segment reads the number {token.text} and then {text[pos:rest]} separately; "
            "write a number with plain digits only, followed by a space",
        )
    return token


def _string(text: str, start: int) -> Token:
    """A double-quoted string: no escapes, and the closing quote must end the token."""
    close = text.find('"', start + 1)
    if close < 0:
        raise TriggerSyntaxError(text, start, 'this string has no closing " (Segment rejects it)')
    end = close + 1
    if end < len(text) and text[end] not in _TERMINATORS:
        raise TriggerSyntaxError(
            text,
            end,
            "put a space after the closing quote; Segment reads a quote followed by "
            f"{text[end]!r} as the start of another string and drops what follows",
        )
    return Token(Kind.STRING, start, end, text[start:end], string=text[start + 1 : close])


def _operator(text: str, start: int) -> Token:
    char = text[start]
    following = text[start + 1] if start + 1 < len(text) else ""
    if char == "!":
        if following in _ASCII_LETTERS or following == "(":
            return Token(Kind.NOT, start, start + 1, "!")
        if following != "=":
            raise TriggerSyntaxError(
                text,
                start,
                "! must be followed by = or, with no space, by contains( or match( "
                "(Segment rejects it otherwise)",
            )
    if following == "=" and char != "=":
        return Token(Kind.OPERATOR, start, start + 2, char + "=")
    return Token(Kind.OPERATOR, start, start + 1, char)


def _bad_character(text: str, pos: int) -> TriggerSyntaxError:
    char = text[pos]
    if char == "'":
        close = text.find("'", pos + 1)
        if close < 0:
            return TriggerSyntaxError(
                text, pos, "strings take double quotes (Segment rejects this one too)"
            )
        quoted = text[pos : close + 1]
        return TriggerSyntaxError(
            text,
            pos,
            "strings take double quotes; Segment keeps single quotes as part of the text, so it "
            f'would use {quoted} with its quotes; write "{quoted[1:-1]}"',
        )
    if char in "[]":
        return TriggerSyntaxError(
            text,
            pos,
            f"{char} is not part of the trigger language (Segment cannot parse an index such as "
            "[0]); to test an array item, escape the index as a name part: properties.items.\\0",
        )
    if char == ".":
        return TriggerSyntaxError(text, pos, "a dot must sit between two parts of a field name")
    return TriggerSyntaxError(text, pos, f"unexpected character {char!r} (Segment rejects it too)")
