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
#: An OR of at least this many `col = constant` terms on one column becomes a set membership test.
_MIN_IN_SET = 4
#: Comparisons that cost about as much as reading one row.
_TESTS_PER_ROW = 8


class _Emitter:
    def __init__(self, params: dict[int, str]) -> None:
        self.params = params
        self.consts: dict[str, Any] = {}
        #: Comparisons emitted: what one call costs, for the row budget (see `weight_of`).
        self.tests = 0

    def const(self, value: Any) -> str:
        name = f"_c{len(self.consts)}"
        self.consts[name] = value
        return name

    def in_sets(self, terms: tuple[BExpr, ...]) -> list[str]:
        """The terms of an OR, with `c = v1 OR c = v2 OR ...` (IN-like, 4+ constants on one column)
        tested as one set membership, so a long list costs one hash lookup per row."""
        by_col: dict[BCol, list[Any]] = {}
        for t in terms:
            eq = _const_eq(t)
            if eq is not None:
                by_col.setdefault(eq[0], []).append(eq[1])
        sets = {col: values for col, values in by_col.items() if len(values) >= _MIN_IN_SET}
        out: list[str] = []
        done: set[BCol] = set()
        for t in terms:
            eq = _const_eq(t)
            if eq is not None and eq[0] in sets:
                if eq[0] not in done:  # the first term of the column stands for all of them
                    done.add(eq[0])
                    self.tests += 1
                    out.append(f"({self.operand(eq[0])} in {self.const(frozenset(sets[eq[0]]))})")
                continue
            out.append(self.expr(t))
        return out

    def operand(self, op: BOperand) -> str:
        if isinstance(op, BCol):
            return f"{self.params[op.rel]}[{op.col}]"
        return self.const(op.value)

    def expr(self, e: BExpr) -> str:
        if isinstance(e, BLogic):
            # Flat `(a or b or c ...)`: a long chain nests no deeper than one term, so the source
            # stays within the Python compiler's nesting limits however many terms there are.
            parts = self.in_sets(e.terms) if e.op == "or" else [self.expr(t) for t in e.terms]
            return "(" + f" {e.op} ".join(parts) + ")"
        if isinstance(e, BCompare):
            self.tests += 1
            return f"({self.operand(e.left)} {_PY_OPS[e.op]} {self.operand(e.right)})"
        if isinstance(e, BCol):
            return f"({self.operand(e)} is True)"
        if isinstance(e, BConst):
            return "True" if e.value else "False"
        raise TypeError(f"not a bound predicate: {e!r}")


def _const_eq(t: BExpr) -> tuple[BCol, Any] | None:
    """(column, value) of a `column = constant` term with a hashable constant, else None."""
    if isinstance(t, BCompare) and t.op == "=" and isinstance(t.left, BCol) and isinstance(t.right, BConst):
        try:
            hash(t.right.value)
        except TypeError:
            return None
        return t.left, t.right.value
    return None


def compile_predicate(expr: BExpr, rels: tuple[int, ...]) -> Predicate:
    """A function taking one row per relation in `rels` (in that order) and returning the predicate."""
    params = {rel: f"r{rel}" for rel in rels}
    emitter = _Emitter(params)
    body = emitter.expr(expr)
    source = f"lambda {', '.join(params[r] for r in rels)}: {body}"
    fn: Predicate = eval(compile(source, "<sql predicate>", "eval"), {"__builtins__": {}, **emitter.consts})
    fn.__doc__ = source
    fn.weight = 1 + emitter.tests // _TESTS_PER_ROW  # type: ignore[attr-defined]
    return fn


def weight_of(pred: Predicate | None) -> int:
    """Rows' worth of work one call of a compiled predicate costs (1 unless it is long): a row
    tested against thousands of comparisons is charged to the row budget as that many rows."""
    return 1 if pred is None else int(getattr(pred, "weight", 1))


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
