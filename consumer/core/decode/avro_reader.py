"""Avro bodies -> Segment messages, by a reader compiled once per writer schema.

fastavro walks the schema for every record (about 1.3 us per union field). A compiled reader is
one straight-line Python function for the schema that builds, in the same pass, the message
`avro_codec.from_record` builds from fastavro's record: nulls skipped, the text of the JSON-text
fields read from its UTF-8 bytes, `extra` merged.

It reads records, enums, arrays, maps, unions and the primitive types but `fixed`; a schema with
anything else (a logical type, a named reference, two fields of one name), or nested deeper than
Python compiles, is not compiled. In a body, whatever it does not read as fastavro would (a
union index of more than one byte, a varint of more than 64 bits, a negative length, invalid
UTF-8, a JSON text the `loads` given refuses, bytes missing or left over) hands the whole body
to the fallback, which reads it with fastavro: the value, or the reason code and message, is
fastavro's. A length past the end needs no test of its own: every read after it fails or reads
nothing, and the record then does not end at the end of the body.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, NamedTuple

from consumer.core.decode.avro_codec import EXTRA_FIELD, FREEFORM_FIELDS

Loads = Callable[[bytes], Any]
"""Reads a JSON text from its UTF-8 bytes."""
Reader = Callable[[bytes, int, Loads], Any]
"""Reads the Avro body that starts at a position of a record value, the JSON-text fields with
the `Loads` given, and returns the Segment message."""

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_COMPILED = _PRIMITIVES | {"enum", "record", "array", "map"}
_MAX_UNION_BRANCHES = 64  # the most whose index fits in one varint byte
# A varint of one byte (the high bit clear) as a long, and as a length (None if negative): a
# lookup instead of the zig-zag arithmetic. None for a byte that more bytes follow.
_LONG1 = tuple((b >> 1) ^ -(b & 1) if b < 0x80 else None for b in range(256))
_LENGTH1 = tuple(b >> 1 if b < 0x80 and not b & 1 else None for b in range(256))


class _Refused(Exception):
    """The body holds something the compiled reader does not read as fastavro does."""


class _Unsupported(Exception):
    """The schema has a part the compiled reader does not read."""


class _Sink(NamedTuple):
    """Where a value read goes: statements with `{}` for the value's expression."""

    value: str
    text: str  # for a string given as its UTF-8 bytes
    null: str
    json: bool = False  # `text` reads the string as JSON: an enum's symbol goes there too


def compile_reader(schema: Any, fallback: Reader) -> Reader | None:
    """The reader of bodies written with the record `schema`, or None if only fastavro reads
    them. It calls `fallback` for a body it does not read exactly as fastavro does."""
    if not isinstance(schema, dict) or schema.get("type") != "record":
        return None
    source = _Source(fallback)
    try:
        source.record(schema)
        code = compile(source.text(), "<compiled Avro reader>", "exec")
    except (_Unsupported, RecursionError, SyntaxError):  # or nested past Python's limits
        return None
    namespace = dict(source.constants)
    exec(code, namespace)
    reader: Reader = namespace["read"]
    return reader


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """The unsigned varint of two bytes or more at `pos` (one byte is read inline), and the
    position after it. Refuses more than 64 bits, which fastavro reads by overflowing a C
    integer."""
    second = buf[pos + 1]
    if second < 0x80:  # a JSON text's length, mostly
        return (buf[pos] & 0x7F) | second << 7, pos + 2
    n = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
        if shift > 63:
            raise _Refused("A varint runs past 10 bytes.")
    if n >> 64:
        raise _Refused("A varint holds more than 64 bits.")
    return n, pos


class _Source:
    """The Python source of a reader, and the constants it names: no text from the schema
    (a field name, a symbol) is ever part of the code."""

    def __init__(self, fallback: Reader) -> None:
        self.lines: list[str] = []
        self.temps = 0
        self.constants: dict[str, Any] = {
            "fallback": fallback,
            "_varint": _varint,
            "_LONG1": _LONG1,
            "_LENGTH1": _LENGTH1,
            "_float": struct.Struct("<f").unpack_from,
            "_double": struct.Struct("<d").unpack_from,
            "Refused": _Refused,
        }

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    def constant(self, value: Any) -> str:
        name = f"_c{len(self.constants)}"
        self.constants[name] = value
        return name

    def temp(self) -> str:
        self.temps += 1
        return f"t{self.temps}"

    def emit(self, depth: int, *lines: str) -> None:
        self.lines.extend("    " * depth + line for line in lines)

    def record(self, schema: dict[str, Any]) -> None:
        """`read(buf, start, loads)`: the top-level record as a Segment message."""
        self.emit(0, "def read(buf, start, loads):", "    try:")
        self.emit(2, "p = start", "end = len(buf)", "m = {}", "x = None")
        for name, field_type in _fields(schema):
            key = self.constant(name)
            value = f"m[{key}] = {{}}"
            if name in FREEFORM_FIELDS:
                sink = _Sink(value, f"m[{key}] = loads({{}})", "pass", json=True)
            elif name == EXTRA_FIELD:
                sink = _Sink(value, "x = loads({})", "pass", json=True)
            else:
                sink = _Sink(value, f"m[{key}] = {{}}.decode()", "pass")
            self.value(field_type, 2, sink)
        self.emit(2, "if p == end:", "    if isinstance(x, dict):", "        m.update(x)")
        self.emit(3, "return m")
        self.emit(1, "except Exception:", "    pass", "return fallback(buf, start, loads)")

    def value(self, schema: Any, depth: int, sink: _Sink) -> None:
        """Lines reading one value of `schema` at `p` into `sink`."""
        kind = _kind(schema)
        if kind == "null":
            self.emit(depth, sink.null)
        elif kind == "boolean":
            self.emit(depth, sink.value.format("buf[p] != 0"), "p += 1")
        elif kind in ("int", "long"):
            self.long(depth)
            self.emit(depth, sink.value.format("n"))
        elif kind in ("float", "double"):
            self.emit(depth, sink.value.format(f"_{kind}(buf, p)[0]"))
            self.emit(depth, "p += 4" if kind == "float" else "p += 8")
        elif kind in ("string", "bytes"):
            self.length(depth)
            self.emit(depth, (sink.text if kind == "string" else sink.value).format("buf[p:e]"))
            self.emit(depth, "p = e")
        elif kind == "enum":
            self.enum(schema["symbols"], depth, sink)
        elif kind == "union":
            self.union(schema, depth, sink)
        elif kind == "record":
            self.nested(schema, depth, sink)
        else:
            self.blocks(schema, kind, depth, sink)

    def long(self, depth: int) -> None:
        """Lines reading a long into `n`."""
        self.emit(depth, "n = _LONG1[buf[p]]", "if n is None:", "    n, p = _varint(buf, p)")
        self.emit(depth, "    n = (n >> 1) ^ -(n & 1)", "else:", "    p += 1")

    def length(self, depth: int) -> None:
        """Lines reading a byte count into `n` and the end of those bytes into `e`."""
        self.emit(depth, "n = _LENGTH1[buf[p]]", "if n is None:", "    n, p = _varint(buf, p)")
        self.emit(depth, "    if n & 1:", "        raise Refused('A length is negative.')")
        self.emit(depth, "    n >>= 1", "else:", "    p += 1", "e = p + n")

    def enum(self, symbols: list[str], depth: int, sink: _Sink) -> None:
        """An index into the symbols; a negative one counts from the end, in fastavro too."""
        self.long(depth)
        if not sink.json:
            self.emit(depth, sink.value.format(f"{self.constant(tuple(symbols))}[n]"))
            return
        try:
            encoded = tuple(symbol.encode() for symbol in symbols)
        except UnicodeEncodeError as exc:  # a lone surrogate: parse_json judges that text
            raise _Unsupported from exc
        self.emit(depth, sink.text.format(f"{self.constant(encoded)}[n]"))

    def union(self, branches: list[Any], depth: int, sink: _Sink) -> None:
        if len(branches) > _MAX_UNION_BRANCHES:
            raise _Unsupported
        self.emit(depth, "b = buf[p]", "p += 1")
        for index, branch in enumerate(branches):
            if _kind(branch) == "union":
                raise _Unsupported
            self.emit(depth, f"{'if' if index == 0 else 'elif'} b == {2 * index}:")
            self.value(branch, depth + 1, sink)
        self.emit(depth, "else:", "    raise Refused('A union index is out of range.')")

    def nested(self, schema: dict[str, Any], depth: int, sink: _Sink) -> None:
        """A record inside the message: a dict of every field, as fastavro gives it."""
        pairs = []
        for name, field_type in _fields(schema):
            temp = self.temp()
            into = f"{temp} = {{}}"
            self.value(field_type, depth, _Sink(into, into.format("{}.decode()"), f"{temp} = None"))
            pairs.append(f"{self.constant(name)}: {temp}")
        self.emit(depth, sink.value.format("{" + ", ".join(pairs) + "}"))

    def blocks(self, schema: dict[str, Any], kind: str, depth: int, sink: _Sink) -> None:
        """An array or a map: blocks of items, each block's count first (negative: its byte
        size follows), until a count of 0."""
        items, count = self.temp(), self.temp()
        self.emit(depth, f"{items} = {'[]' if kind == 'array' else '{}'}")
        self.long(depth)
        self.emit(depth, f"{count} = n", f"while {count}:")
        self.emit(depth + 1, f"if {count} < 0:", f"    {count} = -{count}")
        self.long(depth + 2)
        # Every item but a null takes a byte or more: a count past the end is refused, so that
        # a block of nulls cannot run on.
        self.emit(depth + 1, f"if {count} > end - p:", "    raise Refused('A count is too big.')")
        self.emit(depth + 1, f"for _ in range({count}):")
        if kind == "array":
            into = f"{items}.append({{}})"
            item = schema["items"]
        else:
            key = self.temp()
            self.length(depth + 2)
            self.emit(depth + 2, f"{key} = buf[p:e].decode()", "p = e")
            into = f"{items}[{key}] = {{}}"
            item = schema["values"]
        self.value(item, depth + 2, _Sink(into, into.format("{}.decode()"), into.format("None")))
        self.long(depth + 1)
        self.emit(depth + 1, f"{count} = n")
        self.emit(depth, sink.value.format(items))


def _kind(schema: Any) -> str:
    """The type a schema reads as; `_Unsupported` if it is not compiled."""
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, str) and schema in _PRIMITIVES:
        return schema
    if isinstance(schema, dict) and "logicalType" not in schema:
        kind = schema.get("type")
        if isinstance(kind, str) and kind in _COMPILED:
            return kind
    raise _Unsupported


def _fields(schema: dict[str, Any]) -> list[tuple[str, Any]]:
    """A record's field names and types. Names must differ: fastavro lets a later field of the
    same name take the earlier one's place, null or not."""
    fields = [(field["name"], field["type"]) for field in schema["fields"]]
    if len({name for name, _ in fields}) != len(fields):
        raise _Unsupported
    return fields
