"""Bound predicates to Python functions, generated once per plan.

A predicate over relations r0, r1, ... becomes the source of one small function such as
`lambda r0, r1: (r0[2] == _c0) and (r1[0] < r0[3])`, compiled with `eval` in a namespace holding
only its constants. The per-row cost is then that of hand-written Python, not of walking a tree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spacetimedb.query.bound import BCol, BCompare, BConst, BExpr, BLogic, BOperand

_PY_OPS = {"=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

Predicate = Callable[..., bool]


class _Emitter:
    def __init__(self, params: dict[int, str]) -> None:
        self.params = params
        self.consts: dict[str, Any] = {}

    def const(self, value: Any) -> str:
        name = f"_c{len(self.consts)}"
        self.consts[name] = value
        return name

    def operand(self, op: BOperand) -> str:
        if isinstance(op, BCol):
            return f"{self.params[op.rel]}[{op.col}]"
        return self.const(op.value)

    def expr(self, e: BExpr) -> str:
        if isinstance(e, BLogic):
            return f"({self.expr(e.left)} {e.op} {self.expr(e.right)})"
        if isinstance(e, BCompare):
            return f"({self.operand(e.left)} {_PY_OPS[e.op]} {self.operand(e.right)})"
        if isinstance(e, BCol):
            return f"({self.operand(e)} is True)"
        if isinstance(e, BConst):
            return "True" if e.value else "False"
        raise TypeError(f"not a bound predicate: {e!r}")


def compile_predicate(expr: BExpr, rels: tuple[int, ...]) -> Predicate:
    """A function taking one row per relation in `rels` (in that order) and returning the predicate."""
    params = {rel: f"r{rel}" for rel in rels}
    emitter = _Emitter(params)
    body = emitter.expr(expr)
    source = f"lambda {', '.join(params[r] for r in rels)}: {body}"
    fn: Predicate = eval(compile(source, "<sql predicate>", "eval"), {"__builtins__": {}, **emitter.consts})
    fn.__doc__ = source
    return fn


def compile_filter(expr: BExpr | None, rel: int) -> Callable[[list[Any]], list[Any]] | None:
    """A function filtering a list of rows of relation `rel` by `expr` (a list comprehension), or None."""
    if expr is None:
        return None
    emitter = _Emitter({rel: "r"})
    body = emitter.expr(expr)
    source = f"lambda rows: [r for r in rows if {body}]"
    fn: Callable[[list[Any]], list[Any]] = eval(
        compile(source, "<sql filter>", "eval"), {"__builtins__": {}, **emitter.consts}
    )
    return fn
