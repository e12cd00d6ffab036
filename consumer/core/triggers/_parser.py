"""Read tokens into Segment's condition tree, refusing every form Segment would misread.

The tree uses the operator names of Segment's `destination-subscriptions` (`number_equals`,
`exists`, `is_true`, ...), chosen the way its `parseFql` chooses them, so that evaluation can
follow its `validate` one to one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Literal, NoReturn

from consumer.core.jsvalues import js_number_text, js_to_number
from consumer.core.triggers._lexer import BLANKS, Kind, Token, TriggerSyntaxError, tokenize
from consumer.core.triggers._tree import PATH_FIELDS, PLAIN_FIELDS, Condition, Field, Group, Node

# Segment's field lookup splits a key path at `.`, `[` and `]`, escaped or not.
_KEY = re.compile(r"[^.\[\]]+")
_FUNCTIONS = frozenset({"contains", "match"})
_ORDERINGS = frozenset({"<", "<=", ">", ">="})
_NULL_AS_TEXT = frozenset({"type", "event"})  # `= null` is the text "null" there
_TRUE_AS_TEXT = frozenset({"type", "event", "name"})  # `= true` is the text "true" there
_WORDS = frozenset({"true", "false", "null"})
_STARTERS = frozenset({Kind.NAME, Kind.NOT, Kind.LPAREN})
_FIELD_LIST = "type, event, name, userId, properties.*, traits.* or context.*"


def parse_tree(text: str) -> Node:
    """The condition tree of `text`; raises TriggerSyntaxError."""
    return _Parser(text).trigger()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self._tokens: Iterator[Token] = tokenize(text)
        self.token = next(self._tokens)

    def advance(self) -> Token:
        token = self.token
        if token.kind is not Kind.END:
            self.token = next(self._tokens)
        return token

    def at(self, *kinds: Kind) -> bool:
        """Whether the current token is of one of `kinds` (a call, so narrowing cannot go stale)."""
        return self.token.kind in kinds

    def expect(self, kind: Kind, problem: str) -> Token:
        """Take the current token if it is of `kind`, else fail with `problem` there."""
        if not self.at(kind):
            self.fail(self.token.start, problem)
        return self.advance()

    def fail(self, position: int, problem: str) -> NoReturn:
        raise TriggerSyntaxError(self.text, position, problem)

    def trigger(self) -> Node:
        if self.token.kind is Kind.END:
            self.fail(0, 'the trigger is empty; write a condition such as type = "track"')
        return self.sequence(in_group=False)

    def sequence(self, *, in_group: bool) -> Node:
        """Items joined by and/or; Segment gives the group the last conjunction it saw."""
        children = [self.item(in_group=in_group)]
        op: Literal["and", "or"] = "and"
        where = "group" if in_group else "trigger"
        while True:
            token = self.token
            if token.kind is Kind.END or (in_group and token.kind is Kind.RPAREN):
                break
            if token.kind not in (Kind.AND, Kind.OR):
                self.missing_conjunction(token)
            self.advance()
            following = self.token
            if following.kind in (Kind.AND, Kind.OR):
                self.fail(
                    following.start,
                    f"{token.text} {following.text} are two conjunctions in a row; Segment keeps "
                    "only the last, so remove one",
                )
            if following.kind is Kind.END or following.kind is Kind.RPAREN:
                self.fail(
                    token.start,
                    f"{token.text} has no condition after it; Segment would still make it the "
                    f"operator of the whole {where}, so remove it or add a condition",
                )
            op = "and" if token.kind is Kind.AND else "or"
            children.append(self.item(in_group=in_group))
        return children[0] if len(children) == 1 else Group(op, tuple(children))

    def missing_conjunction(self, token: Token) -> NoReturn:
        if token.kind is Kind.NAME and token.text.lower() in ("and", "or"):
            self.fail(
                token.start,
                f"Segment ignores the unknown word {token.text} (keywords are lowercase), so it "
                f"would join these conditions with the group's last and/or; write "
                f"{token.text.lower()}",
            )
        if token.kind in _STARTERS:
            self.fail(
                token.start,
                f"and/or is missing before {token.text}; Segment would silently join it with the "
                "group's last conjunction",
            )
        if token.kind is Kind.RPAREN:
            self.fail(token.start, "this ) has no ( before it (Segment ignores it)")
        self.fail(token.start, f"unexpected {token.text} after a condition (Segment ignores it)")

    def item(self, *, in_group: bool) -> Node:
        token = self.token
        if token.kind is not Kind.LPAREN:
            return self.condition(in_group=in_group)
        if in_group:
            self.fail(
                token.start,
                "parentheses cannot be nested (Segment cannot parse them); "
                "use one level of parentheses",
            )
        self.advance()
        if self.at(Kind.END):
            self.fail(token.start, "this ( is never closed; add a condition and the missing )")
        if self.at(Kind.RPAREN):
            self.fail(
                token.start,
                "these parentheses are empty; Segment would accept them and then fail on every "
                "event, so put a condition inside or remove them",
            )
        node = self.sequence(in_group=True)
        if not self.at(Kind.RPAREN):
            self.fail(token.start, "this ( is never closed; add the missing )")
        self.advance()
        return node

    def condition(self, *, in_group: bool) -> Condition:
        token = self.token
        if token.kind is Kind.NOT:
            self.advance()
            if _is_function(self.token):
                return self.function(negate=True, in_group=in_group)
            self.fail(
                token.start,
                "! only negates contains() and match(); Segment ignores it here, so the "
                "condition would not be negated; use != or negate each condition",
            )
        if _is_function(token):
            return self.function(negate=False, in_group=in_group)
        if token.kind in (Kind.AND, Kind.OR):
            self.fail(
                token.start,
                f"{token.text} has no condition before it; Segment would skip it here yet still "
                "use it as the group's operator if no other and/or follows, so remove it",
            )
        if token.kind is not Kind.NAME:
            self.fail(
                token.start,
                f"expected a condition, found {token.text} (Segment ignores it)",
            )
        field = self.field(token)
        self.advance()
        return self.comparison(token, field, in_group=in_group)

    def field(self, token: Token) -> Field:
        root, dot, rest = _name(token).partition(".")
        if root in PLAIN_FIELDS:
            if dot:
                self.fail(
                    token.start,
                    f"{root} has no parts; Segment would ignore .{rest} and read "
                    f"{root} itself, so write {root}",
                )
            return Field(root, ())
        if root in PATH_FIELDS:
            if not dot:
                self.fail(
                    token.start,
                    f"name a key under {root}, as in {root}.plan; Segment would read "
                    f"{root} alone as {root}.{root}",
                )
            path = tuple(_KEY.findall(rest))
            if not path:
                self.fail(
                    token.start,
                    f"{token.text} names no key (Segment fails on every event); "
                    f"name one, as in {root}.plan",
                )
            return Field(root, path)
        self.fail(token.start, _unknown_word(token))

    def comparison(self, name: Token, field: Field, *, in_group: bool) -> Condition:
        operator = self.token
        if operator.kind is Kind.END:
            self.fail(operator.start, f"expected = != < <= > or >= after {name.text}")
        if operator.kind is not Kind.OPERATOR:
            self.fail(
                operator.start,
                f"expected = != < <= > or >= after {name.text}, found {operator.text}; Segment "
                "would take it as the operator and never match",
            )
        self.advance()
        value, op = self.token, operator.text
        if value.kind is Kind.OPERATOR and value.start == operator.end:
            self.fail(
                operator.start,
                f"{op}{value.text} is not an operator (Segment would compare with the text "
                f'"{value.text}"); use = != < <= > or >=',
            )
        if value.kind not in (Kind.STRING, Kind.NUMBER, Kind.NAME):
            ends_group = value.kind is Kind.END or (in_group and value.kind is Kind.RPAREN)
            seen = "eos" if ends_group else value.text
            self.fail(
                operator.start,
                f"{op} has no value after it; Segment would compare {name.text} with the text "
                f'"{seen}"; write a value such as "text" or 100',
            )
        self.check_spacing(name, operator, value)
        word = self.bare_word(value) if value.kind is Kind.NAME else None
        self.advance()
        return self.build(field, op, value, word)

    def bare_word(self, value: Token) -> str:
        """A value written as a bare word, which Segment reads as that text (`type = track`).

        Refused where the text is not what was likely meant: `True`/`NULL` (the keywords are
        lowercase) and a field name (Segment compares with the name, not the field's value).
        """
        word = _name(value)
        if word.lower() in _WORDS and word not in _WORDS:
            self.fail(
                value.start,
                f'Segment would compare with the text "{word}", not {word.lower()} (keywords are '
                f'lowercase); write {word.lower()}, or "{word}" for the text',
            )
        if word.partition(".")[0] in PLAIN_FIELDS | PATH_FIELDS:
            self.fail(
                value.start,
                f'Segment would compare with the text "{word}", not with that field (a trigger '
                f'compares a field with a value); write "{word}" in double quotes for the text',
            )
        return word

    def check_spacing(self, name: Token, operator: Token, value: Token) -> None:
        """Refuse the spacings that fql-ts cannot lex or cuts into other tokens; accept the rest.

        fql-ts reads `=` anywhere, `!=` directly after a name, and `<`/`>` directly before the
        value; `<`, `>`, `<=` and `>=` glued to the name, `!=` glued to the value and `<=`/`>=`
        glued to the value do not read as written.
        """
        text, op = self.text, operator.text
        before = operator.start > 0 and text[operator.start - 1] in BLANKS
        after = operator.end < len(text) and text[operator.end] in BLANKS
        if not before and op in _ORDERINGS:
            reading = "Segment cannot parse it"
        elif not after and op in ("<=", ">="):
            reading = f'Segment would read {op[0]} followed by the text "=", which never matches'
        elif not after and op == "!=":
            reading = "Segment cannot parse it"
        else:
            return
        self.fail(
            operator.start,
            f"put spaces around {op}, as in {name.text} {op} {value.text}; {reading}",
        )

    def build(self, field: Field, op: str, value: Token, word: str | None) -> Condition:
        """Pick Segment's operator for `field op value`, as its parseFql does."""
        root = field.root
        literal = float(value.text) if value.kind is Kind.NUMBER else value.string
        if op in _ORDERINGS:
            return Condition(field, op, self.ordering_operand(field, op, value, word, literal))
        if word == "null" and root not in _NULL_AS_TEXT:
            return Condition(field, "not_exists" if op == "=" else "exists", None)
        if word in ("true", "false") and op == "=" and root not in _TRUE_AS_TEXT:
            return Condition(field, f"is_{word}", None)
        if isinstance(literal, float):
            if root in PATH_FIELDS:
                numeric = "number_equals" if op == "=" else "number_not_equals"
                return Condition(field, numeric, literal)
            return Condition(
                field, op, self.number_text(value, f"Segment would compare {root} with")
            )
        return Condition(field, op, literal if word is None else word)

    def ordering_operand(
        self, field: Field, op: str, value: Token, word: str | None, literal: str | float
    ) -> float:
        """The number Segment compares with: JavaScript's Number() of the value as written.

        On a path `true`/`false` are booleans (1 and 0); on a plain field Segment first makes
        them text, which Number() reads as NaN.
        """
        if isinstance(literal, float):
            return literal
        words = {"true": 1.0, "false": 0.0}
        if word in words and field.root in PATH_FIELDS:
            number = words[word]
        else:  # a plain field makes true/false text first, which Number() reads as NaN
            number = js_to_number(literal if word is None else word)
        if math.isnan(number):
            self.fail(
                value.start,
                f"{op} compares numbers and Segment reads {value.text} as NaN with JavaScript's "
                "Number(), so the condition would never match; write a number such as 100",
            )
        return number

    def number_text(self, number: Token, use: str) -> str:
        """The text Segment makes of a number where it compares text: JavaScript's String().

        Trailing zeros of a fraction go (`1.50` is "1.5"); a number whose text changes
        otherwise (`100000000000000000000000`, `+5`, `-0`) is refused.
        """
        shown = js_number_text(float(number.text))
        if shown != _without_trailing_zeros(number.text):
            self.fail(
                number.start,
                f'{use} the text "{shown}", not "{number.text}"; write "{number.text}" in '
                "double quotes",
            )
        return shown

    def function(self, *, negate: bool, in_group: bool) -> Condition:
        function = self.advance().segments[0]
        self.expect(Kind.LPAREN, f"expected ( after {function}")
        argument = self.token
        if argument.kind is not Kind.NAME:
            self.fail(argument.start, f"the first argument of {function}() must be a field")
        root, dot, _ = _name(argument).partition(".")
        if root in PATH_FIELDS or (root in PLAIN_FIELDS - {"type"} and not dot):
            field = self.field(argument)
        else:
            self.fail(
                argument.start,
                f"{function}() works on {_FIELD_LIST.replace('type, ', '')}; Segment silently "
                f"ignores {function}({argument.text}, ...), so the condition would vanish"
                + ("; compare type with = or != instead" if root == "type" else ""),
            )
        self.advance()
        self.expect(Kind.COMMA, f"expected a comma after {function}({argument.text}")
        pattern = self.token
        if function == "contains" and pattern.kind is Kind.NUMBER:
            text = self.number_text(
                pattern, f"Segment's contains({argument.text}, ...) would look for"
            )
            pattern = Token(Kind.STRING, pattern.start, pattern.end, pattern.text, string=text)
        if pattern.kind is not Kind.STRING:
            self.fail(
                pattern.start,
                f"the second argument of {function}() must be a double-quoted string"
                + (" or a number" if function == "contains" else "")
                + f', as in {function}({argument.text}, "text")',
            )
        self.advance()
        close = self.expect(Kind.RPAREN, f"expected ) to close {function}(")
        if (
            in_group
            and not self.at(Kind.RPAREN, Kind.END)
            and not _flattening_is_harmless(self.text)
        ):
            self.fail(
                close.start,
                f"Segment ends a group at the ) of {function}(), so the rest of this group would "
                "be read outside it; a group can hold one contains() or match(), as its last "
                "condition",
            )
        prefix = "not_" if negate else ""
        if function == "contains":
            return Condition(field, prefix + "contains", pattern.string)
        operator = _match_operator(self, pattern, argument.text)
        return Condition(field, prefix + operator, pattern.string.strip("*"))


def _name(token: Token) -> str:
    """A name as Segment reads it: escapes resolved (`a\\ b` is `a b`)."""
    return ".".join(token.segments)


def _without_trailing_zeros(number: str) -> str:
    """`1.50` -> `1.5`, `2.0` -> `2`: what String(Number(text)) keeps of a plain decimal."""
    if "." not in number:
        return number
    return number.rstrip("0").rstrip(".")


def _flattening_is_harmless(text: str) -> bool:
    """Segment flattens a group whose contains()/match() is not last into the whole trigger,
    joined by the last and/or; with one group and one kind of and/or that reads as written."""
    try:
        tokens = list(tokenize(text))
    except TriggerSyntaxError:
        return False
    conjunctions = {t.kind for t in tokens if t.kind in (Kind.AND, Kind.OR)}
    groups = sum(
        1
        for before, token in zip([None, *tokens], tokens, strict=False)
        if token.kind is Kind.LPAREN and (before is None or before.kind is not Kind.NAME)
    )
    return len(conjunctions) <= 1 and groups == 1


def _is_function(token: Token) -> bool:
    return token.kind is Kind.NAME and token.segments in (("contains",), ("match",))


def _match_operator(parser: _Parser, pattern: Token, field: str) -> str:
    """`"pre*"` tests the start, `"*suf"` the end; Segment misreads any other pattern."""
    text = pattern.string
    if text.count("*") == 1 and text.endswith("*"):
        return "starts_with"
    if text.count("*") == 1 and text.startswith("*"):
        return "ends_with"
    if not text:
        parser.fail(
            pattern.start,
            'match() needs a pattern; Segment would accept any text for "", so write "abc*" '
            '(starts with) or "*abc" (ends with)',
        )
    if "*" not in text:
        parser.fail(
            pattern.start,
            f"match() needs a * at the start or the end of its pattern; Segment would drop the "
            f'first character and test whether {field} ends with "{text[1:]}"; write "{text}*" '
            f'(starts with), "*{text}" (ends with) or {field} = "{text}"',
        )
    reading = f'starts with "{text[:-1]}"' if text.endswith("*") else f'ends with "{text[1:]}"'
    parser.fail(
        pattern.start,
        f"match() takes a single * at the start or the end; Segment would test whether {field} "
        f"{reading}; use contains() for text in the middle",
    )


def _unknown_word(token: Token) -> str:
    first = token.segments[0].lower()
    known = {word.lower(): word for word in PLAIN_FIELDS | PATH_FIELDS | _FUNCTIONS}
    if first in ("and", "or"):
        hint = f"write {first} in lowercase"
    elif first in known:
        _, dot, rest = token.text.partition(".")
        hint = f"write {known[first]}{dot}{rest}"
    else:
        hint = f"a field is {_FIELD_LIST}"
    return f"Segment ignores the unknown word {token.text}, which drops this condition; {hint}"
