"""Generates the body of an encoder `def f(buf, v)` that appends v's BSATN to the bytearray buf."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spacetimedb.bsatn.compiler import ARRAY_CODES, LITTLE_ENDIAN, NATIVE, WIDE, FunctionTable, _Source
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


class EncoderGen(_Source):
    def __init__(self, ns: dict[str, Any], table: FunctionTable, parts: bool = False) -> None:
        super().__init__(ns)
        self.table = table
        self.pending: list[tuple[str, str]] = []  # (struct code, expression) not yet written
        #: Output sink: False appends to the bytearray `buf`; True appends pieces with `_ap`
        #: (a list's append, joined once at the end: cheaper than growing a bytearray).
        self.parts = parts

    # -- plumbing

    def flush(self) -> None:
        if not self.pending:
            return
        fmt = "<" + "".join(c for c, _ in self.pending)
        args = ", ".join(e for _, e in self.pending)
        self.pending = []
        self.out(f"{self.method_const(fmt, 'pack')}({args})")

    def out(self, expr: str) -> None:
        """Emit bytes (nothing may be pending)."""
        self.stmt(f"_ap({expr})" if self.parts else f"buf += {expr}")

    def write(self, code: str) -> None:
        """A statement that touches the output (or branches): everything pending goes first."""
        self.flush()
        self.stmt(code)

    def emit_bytes(self, expr: str) -> None:
        self.flush()
        self.out(expr)

    def bind(self, expr: str) -> str:
        if expr.isidentifier():
            return expr
        v = self.name("_v")
        self.stmt(f"{v} = {expr}")
        return v

    def block(self, header: str, body: Callable[[], object]) -> None:
        self.write(header)
        self.depth += 1
        body()
        self.flush()
        self.stmt("pass")
        self.depth -= 1

    # -- nodes

    def gen(self, node: Node, expr: str, stack: tuple[Node, ...]) -> None:
        if isinstance(node, RefNode):
            if node in stack:
                fn = self.table.enc_fn(node, self)
                self.flush()
                if self.parts:  # recursive encoders append to a bytearray
                    tmp = self.name("_b")
                    self.stmt(f"{tmp} = bytearray(); {fn}({tmp}, {expr}); _ap({tmp})")
                else:
                    self.stmt(f"{fn}(buf, {expr})")
            else:
                self.gen(node.resolved(), expr, (*stack, node))
        elif isinstance(node, PrimNode):
            self.prim(node.kind, expr)
        elif isinstance(node, BytesNode):
            x = self.bind(expr)
            self.stmt(f"if {x}.__class__ is not _bytes and not _isinstance({x}, (bytearray, memoryview)): raise _Bad")
            self.pending.append(("I", f"len({x})"))
            self.emit_bytes(x)
        elif isinstance(node, ArrayNode):
            self.array(node, expr, stack)
        elif isinstance(node, OptionNode):
            self.option(node, expr, stack)
        elif isinstance(node, ProductNode):
            self.product(node, expr, stack)
        elif isinstance(node, SumNode):
            self.sum(node, expr, stack)
        else:
            raise TypeError(node)

    def prim(self, kind: Primitive, expr: str) -> None:
        code = NATIVE.get(kind)
        if code is not None:
            self.pending.append((code, expr))
        elif kind in WIDE:
            size, signed = WIDE[kind]
            self.pending.append((f"{size}s", f"_to_bytes({expr}, {size}, 'little', signed={signed})"))
        elif kind is Primitive.Bool:
            x = self.bind(expr)
            self.stmt(f"if {x}.__class__ is not _bool: raise _Bad")
            self.pending.append(("?", x))
        else:  # String
            s = self.name("_s")
            n = self.name("_n")
            self.stmt(f"{s} = {expr}.encode(); {n} = len({s})")  # non-str values fail here (no .encode)
            if self.pending:
                self.pending.append(("I", n))
                self.emit_bytes(s)
            else:  # a precomputed prefix is cheaper than a pack call
                self.out(f"_LEN[{n}] if {n} < 4096 else {self.method_const('<I', 'pack')}({n})")
                self.out(s)

    def array(self, node: ArrayNode, expr: str, stack: tuple[Node, ...]) -> None:
        x = self.bind(expr)
        self.stmt(f"if {x}.__class__ is not _list and {x}.__class__ is not _tuple: raise _Bad")
        self.pending.append(("I", f"len({x})"))
        elem = node.elem
        while isinstance(elem, RefNode) and elem not in stack:
            elem = elem.resolved()
        if isinstance(elem, PrimNode) and elem.kind in NATIVE and LITTLE_ENDIAN:
            arr = self.const(__import__("array").array)
            self.emit_bytes(f"{arr}({ARRAY_CODES[NATIVE[elem.kind]]!r}, {x}).tobytes()")
            return
        it = self.name("_i")
        self.block(f"for {it} in {x}:", lambda: self.gen(node.elem, it, stack))

    def option(self, node: OptionNode, expr: str, stack: tuple[Node, ...]) -> None:
        x = self.bind(expr)
        self.block(f"if {x} is None:", lambda: self.pending.append(("B", "1")))

        def some() -> None:
            self.stmt(f"if {x}.__class__ is _Some: {x} = {x}.value")
            self.pending.append(("B", "0"))
            self.gen(node.inner, x, stack)

        self.block("else:", some)

    def product(self, node: ProductNode, expr: str, stack: tuple[Node, ...]) -> None:
        if not node.fields and node.repr != CLASS:
            x = self.bind(expr)
            self.stmt(f"if {x} != () and {x} != []: raise _Bad")
            return
        x = self.bind(expr)
        if node.repr == CLASS:
            cls = self.const(node.cls)
            self.stmt(f"if {x}.__class__ is not {cls} and not _isinstance({x}, {cls}): raise _Bad")
            for f in node.fields:
                self.gen(f.node, f"{x}.{f.attr}", stack)
            return
        self.stmt(f"if {x}.__class__ is not _tuple and {x}.__class__ is not _list: raise _Bad")
        names = [self.name("_f") for _ in node.fields]
        self.stmt(f"{', '.join(names)}, = {x}")
        for f, n in zip(node.fields, names, strict=True):
            self.gen(f.node, n, stack)

    def sum(self, node: SumNode, expr: str, stack: tuple[Node, ...]) -> None:
        x = self.bind(expr)
        tag = self.name("_t")
        payload = self.name("_p")
        if node.repr == SUM_VALUE:
            self.stmt(f"if {x}.__class__ is not _SumValue: raise _Bad")
            self.stmt(f"{tag} = {x}.tag; {payload} = {x}.value")
        elif node.repr == UNION:
            classes = self.const({c: i for i, c in enumerate(node.classes)})
            self.stmt(f"{tag} = {classes}[{x}.__class__]; {payload} = {x}")
        elif node.repr == ENUM:
            members = self.const({m: i for i, m in enumerate(node.members)})
            self.stmt(f"{tag} = {members}[{x}]")
            self.pending.append(("B", tag))
            return
        elif node.repr == SUM_CLASS:
            cls = self.const(node.cls)
            names = self.const({v.name: i for i, v in enumerate(node.variants)})
            self.stmt(f"if {x}.__class__ is not {cls}: raise _Bad")
            self.stmt(f"{tag} = {names}[{x}.tag]; {payload} = {x}.value")
        elif node.repr == CUSTOM:
            fn = self.const(node.tag_of)
            self.stmt(f"{tag}, {payload} = {fn}({x})")
        else:
            raise TypeError(node.repr)
        keyword = "if"
        for i, variant in enumerate(node.variants):
            def body(i: int = i, variant: Any = variant) -> None:
                self.pending.append(("B", str(i)))
                if not variant.is_unit:
                    self.gen(variant.node, payload, stack)

            self.block(f"{keyword} {tag} == {i}:", body)
            keyword = "elif"
        self.stmt("else: raise _Bad")
