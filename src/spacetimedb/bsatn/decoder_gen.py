"""Generates the body of a decoder that reads `data` from `off` and yields a value expression.

Fixed-width reads are queued and folded into one `unpack_from`; the value of a node is returned
as an *expression* over the unpacked variables (so nested fixed products such as a position
inside a row stay inside the surrounding run). Any statement that needs `off` or consumes an
expression flushes the queue first.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from spacetimedb.bsatn.compiler import (
    ARRAY_CODES,
    LITTLE_ENDIAN,
    MAX_ZERO_SIZE_ELEMENTS,
    NATIVE,
    WIDE,
    FunctionTable,
    _Source,
    min_size,
)
from spacetimedb.sats.algebraic_type import Primitive
from spacetimedb.sats.nodes import (
    CLASS,
    CUSTOM,
    ENUM,
    SUM_CLASS,
    SUM_VALUE,
    UNION,
    ArrayNode,
    BytesNode,
    Node,
    OptionNode,
    PrimNode,
    ProductNode,
    RefNode,
    SumNode,
)
from spacetimedb.sats.values import SumValue


def _numeric_list(code: str, chunk: Any) -> list[Any]:
    import array

    a = array.array(code)
    a.frombytes(chunk)
    return a.tolist()


class DecoderGen(_Source):
    def __init__(self, ns: dict[str, Any], table: FunctionTable) -> None:
        super().__init__(ns)
        self.table = table
        self.pending: list[tuple[str, str]] = []  # (struct code, target variable)
        #: Bytes read since `off` was last updated: `off` is only written when something needs it.
        self.delta = 0
        #: When set, the first flush reads the whole input with an exact-length `unpack`.
        self.exact_first = False

    @property
    def pos(self) -> str:
        return f"off + {self.delta}" if self.delta else "off"

    def flush(self) -> None:
        if not self.pending:
            return
        fmt = "<" + "".join(c for c, _ in self.pending)
        names = ", ".join(n for _, n in self.pending)
        self.pending = []
        if self.exact_first:
            self.exact_first = False
            self.stmt(f"{names}, = {self.method_const(fmt, 'unpack')}(data)")
        elif fmt == "<B":  # a lone tag byte: indexing is cheaper than a struct call
            self.stmt(f"{names} = data[{self.pos}]")
        else:
            self.stmt(f"{names}, = {self.method_const(fmt, 'unpack_from')}(data, {self.pos})")
        self.delta += struct.calcsize(fmt)

    def sync(self) -> None:
        """Flush pending reads and bring `off` up to date."""
        self.flush()
        if self.delta:
            self.stmt(f"off += {self.delta}")
            self.delta = 0

    def emit(self, code: str) -> None:
        self.flush()
        self.stmt(code)

    def read(self, code: str) -> str:
        v = self.name("_r")
        self.pending.append((code, v))
        return v

    def block(self, header: str, body: Callable[[], object]) -> None:
        self.sync()
        self.stmt(header)
        self.depth += 1
        body()
        self.sync()
        self.stmt("pass")
        self.depth -= 1

    # -- nodes

    def gen(self, node: Node, stack: tuple[Node, ...]) -> str:
        if isinstance(node, RefNode):
            if node in stack:
                fn = self.table.dec_fn(node, self)
                v = self.name("_x")
                self.sync()
                self.stmt(f"{v}, off = {fn}(data, off)")
                return v
            return self.gen(node.resolved(), (*stack, node))
        if isinstance(node, PrimNode):
            return self.prim(node.kind)
        if isinstance(node, BytesNode):
            return self.sized("_bytes({})")
        if isinstance(node, ArrayNode):
            return self.array(node, stack)
        if isinstance(node, OptionNode):
            return self.option(node, stack)
        if isinstance(node, ProductNode):
            return self.product(node, stack)
        if isinstance(node, SumNode):
            return self.sum(node, stack)
        raise TypeError(node)

    def prim(self, kind: Primitive) -> str:
        code = NATIVE.get(kind)
        if code is not None:
            return self.read(code)
        if kind in WIDE:
            size, signed = WIDE[kind]
            return f"_from_bytes({self.read(f'{size}s')}, 'little', signed={signed})"
        if kind is Primitive.Bool:
            return f"_BOOLS[{self.read('B')}]"
        return self.sized("{}.decode()")

    def sized(self, wrap: str) -> str:
        """A u32 length then that many bytes, converted by `wrap` (a format with one {})."""
        n = self.read("I")
        self.flush()
        start = self.name("_p")
        v = self.name("_s")
        self.stmt(f"{start} = {self.pos}")
        self.stmt(f"off = {start} + {n}")
        self.delta = 0
        # No bounds check here: a length past the end leaves `off > ln` for good (later struct
        # reads fail, slices come back short), and every entry point checks `off` at the end.
        self.stmt(f"{v} = {wrap.format(f'data[{start}:off]')}")
        return v

    def array(self, node: ArrayNode, stack: tuple[Node, ...]) -> str:
        n = self.read("I")
        self.sync()
        items = self.name("_a")
        elem = node.elem
        while isinstance(elem, RefNode) and elem not in stack:
            elem = elem.resolved()
        if isinstance(elem, PrimNode) and elem.kind in NATIVE and LITTLE_ENDIAN:
            size = struct.calcsize("<" + NATIVE[elem.kind])
            start = self.name("_p")
            self.stmt(f"{start} = off; off += {n} * {size}")
            self.stmt("if off > ln: raise _Bad")
            fn = self.const(_numeric_list)
            self.stmt(f"{items} = {fn}({ARRAY_CODES[NATIVE[elem.kind]]!r}, data[{start}:off])")
        else:
            smallest = min_size(node.elem)
            if smallest:
                self.stmt(f"if off + {n} * {smallest} > ln: raise _Bad")
            else:  # zero-size elements: bound the count so a hostile length cannot hang us
                self.stmt(f"if {n} > {MAX_ZERO_SIZE_ELEMENTS}: raise _Bad")
            append = self.name("_ap")
            self.stmt(f"{items} = []; {append} = {items}.append")

            def body() -> None:
                value = self.gen(node.elem, stack)
                self.emit(f"{append}({value})")

            self.block(f"for _ in range({n}):", body)
        return f"_tuple({items})" if node.as_tuple else items

    def option(self, node: OptionNode, stack: tuple[Node, ...]) -> str:
        tag = self.read("B")
        out = self.name("_o")
        nested = isinstance(_resolve_shallow(node.inner), OptionNode)

        def some() -> None:
            value = self.gen(node.inner, stack)
            if nested:
                self.emit(f"{out} = {value}")
                self.stmt(f"if {out} is None or {out}.__class__ is _Some: {out} = _Some({out})")
            else:
                self.emit(f"{out} = {value}")

        self.block(f"if {tag} == 0:", some)
        self.block(f"elif {tag} == 1:", lambda: self.stmt(f"{out} = None"))
        self.stmt("else: raise _Bad")
        return out

    def product(self, node: ProductNode, stack: tuple[Node, ...]) -> str:
        values = [self.gen(f.node, stack) for f in node.fields]
        if node.repr != CLASS:
            return f"({', '.join(values)},)" if values else "()"
        cls = self.const(node.cls)
        if node.positional_init:
            return f"{cls}({', '.join(values)})"
        obj = self.name("_c")
        self.emit(f"{obj} = _new({cls})")
        for f, value in zip(node.fields, values, strict=True):
            self.stmt(f"_set({obj}, {f.attr!r}, {value})")
        return obj

    def sum(self, node: SumNode, stack: tuple[Node, ...]) -> str:
        tag = self.read("B")
        if node.repr == ENUM:
            self.flush()
            return f"{self.const(tuple(node.members))}[{tag}]"
        out = self.name("_u")
        keyword = "if"
        for i, variant in enumerate(node.variants):
            def body(i: int = i, variant: Any = variant) -> None:
                skip = variant.is_unit and node.repr != UNION  # a unit class in a union is still built
                payload = "()" if skip else self.gen(variant.node, stack)
                self.emit(f"{out} = {self.construct(node, i, payload)}")

            self.block(f"{keyword} {tag} == {i}:", body)
            keyword = "elif"
        self.stmt("else: raise _Bad")
        return out

    def construct(self, node: SumNode, tag: int, payload: str) -> str:
        unit = node.variants[tag].is_unit
        if node.repr == SUM_VALUE:
            return self.const(SumValue(tag, ())) if unit else f"_SumValue({tag}, {payload})"
        if node.repr == UNION:
            return payload
        if node.repr == SUM_CLASS:
            cls = self.const(node.cls)
            name = node.variants[tag].name
            return f"{cls}({name!r}, None)" if unit else f"{cls}({name!r}, {payload})"
        if node.repr == CUSTOM:
            assert node.make is not None
            if unit:
                return self.const(node.make(tag, ()))
            return f"{self.const(node.make)}({tag}, {payload})"
        raise TypeError(node.repr)


def _resolve_shallow(node: Node) -> Node:
    for _ in range(100):
        if not isinstance(node, RefNode):
            return node
        node = node.resolved()
    return node
