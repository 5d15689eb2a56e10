"""Reducer arguments: BSATN, SATS-JSON or Python values -> the Python values the reducer takes.

One decoder per reducer, compiled when the host starts: BSATN decodes straight into the
author's classes (the codec is compiled from the parameter annotations), so a call costs one
generated-function call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from spacetimedb.bsatn import compile_node
from spacetimedb.module.call_errors import ReducerArgumentsError
from spacetimedb.module.module_def import ModuleDef, ProcedureDef, ReducerDef
from spacetimedb.module.value_conv import value_converters
from spacetimedb.sats.algebraic_type import INT_KINDS, Primitive, int_range
from spacetimedb.sats.errors import ConversionError
from spacetimedb.sats.nodes import TUPLE, Field, Node, PrimNode, ProductNode, resolve

#: How a host passes arguments: BSATN bytes, a SATS-JSON value, or Python values (a tuple or list).
ArgsFormat = Literal["bsatn", "json", "python"]
#: A SATS-JSON value as `json.loads` returns it.
JsonValue = dict[str, Any] | list[Any] | str | int | float | bool | None
#: A reducer's arguments as a host received them, in one of the `ArgsFormat`s (None: a call without
#: arguments of its own, e.g. an ad-hoc transaction).
ReducerArgs = bytes | bytearray | memoryview | tuple[Any, ...] | JsonValue


class ArgDecoder:
    """Decodes one reducer's arguments in each supported format into a tuple."""

    def __init__(self, module: ModuleDef, rd: ReducerDef | ProcedureDef) -> None:
        self.reducer = rd.name
        self.names = [e.name or f"arg{i}" for i, e in enumerate(rd.params.elements)]
        self.nodes: list[Node] = [module.node_of(a) for a in rd.param_annotations]
        self.product = ProductNode(None, [Field(n, None, node) for n, node in zip(self.names, self.nodes, strict=True)], TUPLE)
        codec = compile_node(self.product)
        self._decode_bsatn: Callable[[Any], Any] = codec.decode
        #: The compiled decoder: raises ConversionError (not ReducerArgumentsError) on bad input.
        self.bsatn_codec: Callable[[Any], tuple[Any, ...]] = codec.decode
        self._py = [value_converters(n) for n in self.nodes]
        self._python_fast = _compile_python_args(self.names, self.nodes)
        self._json: list[Callable[[Any], Any]] | None = None

    def bsatn(self, data: bytes | bytearray | memoryview) -> tuple[Any, ...]:
        try:
            return self._decode_bsatn(data)
        except ConversionError as e:
            raise ReducerArgumentsError(
                f"reducer {self.reducer!r}: cannot decode BSATN arguments ({self._sig()}): {e}"
            ) from None

    def python(self, args: Any) -> tuple[Any, ...]:
        if not isinstance(args, (tuple, list)):
            raise ReducerArgumentsError(f"reducer {self.reducer!r}: pass arguments as a tuple or list")
        self._check_count(len(args))
        fast = self._python_fast(args)
        if fast is not None:
            return fast
        out = []
        for name, (to_bare, from_bare), v in zip(self.names, self._py, args, strict=True):
            try:
                # Validate by converting, and hand the reducer a copy it cannot alias.
                out.append(from_bare(to_bare(v, name)))
            except ConversionError as e:
                raise ReducerArgumentsError(f"reducer {self.reducer!r}: argument {e}") from None
        return tuple(out)

    def json(self, value: Any) -> tuple[Any, ...]:
        """A JSON array in parameter order, or an object keyed by parameter name."""
        if isinstance(value, dict):
            missing = [n for n in self.names if n not in value]
            extra = [k for k in value if k not in self.names]
            if missing or extra:
                raise ReducerArgumentsError(
                    f"reducer {self.reducer!r} takes ({self._sig()}); missing {missing}, unexpected {extra}"
                )
            items = [value[n] for n in self.names]
        elif isinstance(value, list):
            self._check_count(len(value))
            items = value
        else:
            raise ReducerArgumentsError(f"reducer {self.reducer!r}: JSON arguments must be an array or an object")
        decoders = self._json_decoders()
        out = []
        for name, dec, v in zip(self.names, decoders, items, strict=True):
            try:
                out.append(dec(v))
            except (ConversionError, ValueError, TypeError, KeyError) as e:
                raise ReducerArgumentsError(f"reducer {self.reducer!r}: argument {name}: {e}") from None
        return tuple(out)

    def _json_decoders(self) -> list[Callable[[Any], Any]]:
        if self._json is None:
            from spacetimedb.module.json_args import json_decoder

            self._json = [json_decoder(n) for n in self.nodes]
        return self._json

    def _check_count(self, n: int) -> None:
        if n != len(self.names):
            raise ReducerArgumentsError(
                f"reducer {self.reducer!r} takes {len(self.names)} argument(s) ({self._sig()}), got {n}"
            )

    def _sig(self) -> str:
        return ", ".join(self.names)


def _compile_python_args(names: list[str], nodes: list[Node]) -> Callable[[Any], tuple[Any, ...] | None]:
    """A generated check for the common case (plain ints, strings, bools): returns the arguments
    as a tuple when they all fit, or None to fall back to the general path (which also explains
    what does not fit)."""
    lines = ["def fast(a):"]
    for i, node in enumerate(nodes):
        r = resolve(node)
        if isinstance(r, PrimNode) and r.kind in INT_KINDS:
            lo, hi = int_range(r.kind)
            lines.append(f"    v = a[{i}]")
            lines.append(f"    if v.__class__ is not int or not ({lo} <= v <= {hi}): return None")
        elif isinstance(r, PrimNode) and r.kind == Primitive.String:
            lines.append(f"    v = a[{i}]")
            lines.append("    if v.__class__ is not str or not v.isascii(): return None")
        elif isinstance(r, PrimNode) and r.kind == Primitive.Bool:
            lines.append(f"    if a[{i}].__class__ is not bool: return None")
        else:
            return lambda a: None
    lines.append("    return tuple(a)")
    env: dict[str, Any] = {}
    exec("\n".join(lines), env)
    fn: Callable[[Any], tuple[Any, ...] | None] = env["fast"]
    return fn
