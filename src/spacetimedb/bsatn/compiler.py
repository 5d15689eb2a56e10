"""Compiles a type node graph into Python source for one encoder and one decoder.

The generated code does no per-value type dispatch: the type is unrolled into straight-line
statements, and every run of fixed-width fields (including string/array length prefixes and
nested fixed products) becomes one precomputed `struct.Struct` call. Fast paths only check
what Python would not catch by itself; any exception sends the value through the reference
codec, which explains the failure (see `codec.py`).

Conventions in the generated source: `buf` is the output bytearray; `data`, `off`, `ln` are the
input, the read offset and the input length; `_k*` names are constants in the namespace.
"""

from __future__ import annotations

import struct
import sys
from typing import Any

from spacetimedb.sats.algebraic_type import Primitive
from spacetimedb.sats.nodes import (
    ArrayNode,
    BytesNode,
    Node,
    OptionNode,
    PrimNode,
    ProductNode,
    RefNode,
    SumNode,
)
from spacetimedb.sats.values import Some, SumValue

#: struct code of each natively packable primitive.
NATIVE: dict[Primitive, str] = {
    Primitive.I8: "b",
    Primitive.U8: "B",
    Primitive.I16: "h",
    Primitive.U16: "H",
    Primitive.I32: "i",
    Primitive.U32: "I",
    Primitive.I64: "q",
    Primitive.U64: "Q",
    Primitive.F32: "f",
    Primitive.F64: "d",
}
#: (bytes, signed) of the wide integers, packed as `Ns` with to_bytes/from_bytes.
WIDE: dict[Primitive, tuple[int, bool]] = {
    Primitive.I128: (16, True),
    Primitive.U128: (16, False),
    Primitive.I256: (32, True),
    Primitive.U256: (32, False),
}
#: array typecodes with the same width as the struct codes (for bulk numeric arrays).
ARRAY_CODES: dict[str, str] = {"b": "b", "B": "B", "h": "h", "H": "H", "i": "i", "I": "I", "q": "q", "Q": "Q", "f": "f", "d": "d"}
LITTLE_ENDIAN = sys.byteorder == "little"
#: Most elements an array of zero-size values (units, empty products) may claim when decoding.
MAX_ZERO_SIZE_ELEMENTS = 1 << 20
#: The u32 length prefixes of short strings and arrays, precomputed.
LENGTH_PREFIXES: tuple[bytes, ...] = tuple(struct.pack("<I", n) for n in range(4096))


class Bad(Exception):
    """Raised by generated code for a check that failed; the reference codec explains it."""


def fixed_size(node: Node, _stack: tuple[Node, ...] = ()) -> int | None:
    """Encoded size if every value of the type has the same size and layout, else None."""
    if isinstance(node, RefNode):
        if node in _stack:
            return None
        return fixed_size(node.resolved(), (*_stack, node))
    if isinstance(node, PrimNode):
        if node.kind in NATIVE:
            return struct.calcsize("<" + NATIVE[node.kind])
        if node.kind in WIDE:
            return WIDE[node.kind][0]
        return 1 if node.kind is Primitive.Bool else None
    if isinstance(node, ProductNode):
        total = 0
        for f in node.fields:
            s = fixed_size(f.node, _stack)
            if s is None:
                return None
            total += s
        return total
    return None


def min_size(node: Node, _stack: tuple[Node, ...] = ()) -> int:
    """The fewest bytes any value of the type encodes to (for early rejection of huge counts)."""
    if isinstance(node, RefNode):
        if node in _stack:
            return 0
        return min_size(node.resolved(), (*_stack, node))
    fs = fixed_size(node, _stack)
    if fs is not None:
        return fs
    if isinstance(node, PrimNode | BytesNode | ArrayNode):
        return 4
    if isinstance(node, OptionNode | SumNode):
        return 1
    if isinstance(node, ProductNode):
        return sum(min_size(f.node, _stack) for f in node.fields)
    return 0


class _Source:
    """Shared plumbing: namespace constants, fresh names, indented lines."""

    def __init__(self, ns: dict[str, Any]) -> None:
        self.ns = ns
        self.lines: list[str] = []
        self.depth = 1

    def name(self, prefix: str) -> str:
        n = self.ns["__counter__"] = self.ns["__counter__"] + 1
        return f"{prefix}{n}"

    def const(self, obj: Any) -> str:
        consts: dict[int, str] = self.ns["__consts__"]
        key = id(obj)
        if key in consts:
            return consts[key]
        name = self.name("_k")
        self.ns[name] = obj
        self.ns.setdefault("__keep__", []).append(obj)
        consts[key] = name
        return name

    def struct_const(self, fmt: str) -> str:
        structs: dict[str, str] = self.ns["__structs__"]
        if fmt not in structs:
            structs[fmt] = self.const(struct.Struct(fmt))
        return structs[fmt]

    def method_const(self, fmt: str, method: str) -> str:
        """A pre-bound `Struct(fmt).<method>`: saves an attribute lookup per call."""
        key = f"{fmt}.{method}"
        structs: dict[str, str] = self.ns["__structs__"]
        if key not in structs:
            st = struct.Struct(fmt)
            structs[key] = self.const(getattr(st, method))
            self.ns.setdefault("__keep__", []).append(st)
        return structs[key]

    def stmt(self, code: str) -> None:
        self.lines.append("    " * self.depth + code)


def new_namespace() -> dict[str, Any]:
    return {
        "__counter__": 0,
        "__consts__": {},
        "__structs__": {},
        "_Bad": Bad,
        "_Some": Some,
        "_SumValue": SumValue,
        "_str": str,
        "_bytes": bytes,
        "_list": list,
        "_tuple": tuple,
        "_bool": bool,
        "_from_bytes": int.from_bytes,
        "_to_bytes": int.to_bytes,
        "_new": object.__new__,
        "_set": object.__setattr__,
        "_isinstance": isinstance,
        "_BOOLS": (False, True),
        "_LEN": LENGTH_PREFIXES,
    }


class FunctionTable:
    """The separately compiled functions of one codec (one per recursive RefNode)."""

    def __init__(self) -> None:
        self.enc_names: dict[int, str] = {}
        self.dec_names: dict[int, str] = {}
        self.pending: list[tuple[str, RefNode]] = []  # ("enc"|"dec", node) still to generate
        self.keep: list[Node] = []

    def enc_fn(self, node: RefNode, src: _Source) -> str:
        if id(node) not in self.enc_names:
            self.enc_names[id(node)] = src.name("_enc")
            self.pending.append(("enc", node))
            self.keep.append(node)
        return self.enc_names[id(node)]

    def dec_fn(self, node: RefNode, src: _Source) -> str:
        if id(node) not in self.dec_names:
            self.dec_names[id(node)] = src.name("_dec")
            self.pending.append(("dec", node))
            self.keep.append(node)
        return self.dec_names[id(node)]
