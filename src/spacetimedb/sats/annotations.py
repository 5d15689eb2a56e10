"""Python annotations -> type nodes (the rules in docs/types.md)."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any

from spacetimedb.sats import algebraic_type as at
from spacetimedb.sats import sums
from spacetimedb.sats.builtin_nodes import META_CLASS_NODES, SPECIAL_CLASS_NODES
from spacetimedb.sats.errors import SchemaError
from spacetimedb.sats.from_type import nodes_from_type
from spacetimedb.sats.nodes import (
    CLASS,
    ENUM,
    SUM_CLASS,
    TUPLE,
    UNION,
    UNIT_NODE,
    ArrayNode,
    BytesNode,
    Field,
    Node,
    NodeVariant,
    OptionNode,
    PrimNode,
    ProductNode,
    RefNode,
    SumNode,
)

_SIMPLE: dict[Any, Node] = {
    bool: PrimNode(at.Primitive.Bool),
    int: PrimNode(at.Primitive.I64),
    float: PrimNode(at.Primitive.F64),
    str: PrimNode(at.Primitive.String),
}

_ADVICE: dict[Any, str] = {
    dict: "use a list of a product class, e.g. list[Entry] with fields key and value",
    set: "use a list, e.g. list[T]",
    frozenset: "use a list, e.g. list[T]",
    bytearray: "use bytes",
    object: "use a concrete type",
    typing.Any: "use a concrete type",
    complex: "use a product class with two float fields",
}


def _unsupported(path: str, ann: Any, advice: str) -> SchemaError:
    return SchemaError(f"{path}: {_name_of(ann)} is not supported; {advice}")


def _name_of(ann: Any) -> str:
    if isinstance(ann, type):
        return ann.__name__
    return repr(ann).replace("typing.", "")


class AnnotationLowering:
    """Lowers annotations to nodes; one instance shares nodes between annotations (one per class)."""

    def __init__(self) -> None:
        self.classes: dict[Any, Node] = {}

    def lower(self, ann: Any, path: str | None = None) -> Node:
        return self._lower(ann, path if path is not None else _name_of(ann))

    def _lower(self, ann: Any, path: str) -> Node:
        if isinstance(ann, str | typing.ForwardRef):
            raise SchemaError(f"{path}: unresolved forward reference {ann!r}; define the class at module level")
        simple = _SIMPLE.get(ann)
        if simple is not None:
            return simple
        if ann is bytes:
            return BytesNode()
        if ann is None or ann is type(None):
            return UNIT_NODE
        if isinstance(ann, at.AlgebraicType):
            return nodes_from_type(ann)
        origin = typing.get_origin(ann)
        if origin is typing.Annotated:
            return self._annotated(ann, path)
        if origin is list:
            (elem,) = typing.get_args(ann) or (None,)
            if elem is None:
                raise SchemaError(f"{path}: bare list needs an element type, e.g. list[str]")
            return ArrayNode(self._lower(elem, f"{path}[]"))
        if origin is tuple:
            return self._tuple(ann, path)
        if origin is typing.Union or origin is types.UnionType:
            return self._union(ann, path)
        if origin is not None:
            base = origin if origin in _ADVICE else ann
            raise _unsupported(path, ann, _ADVICE.get(base, "see docs/types.md for supported annotations"))
        if ann is list or ann is tuple:
            raise SchemaError(f"{path}: bare {ann.__name__} needs an element type, e.g. list[str]")
        if isinstance(ann, type):
            return self._class(ann, path)
        raise _unsupported(path, ann, "see docs/types.md for supported annotations")

    def _annotated(self, ann: Any, path: str) -> Node:
        base, *extras = typing.get_args(ann)
        for extra in extras:
            if isinstance(extra, at.PrimitiveType):
                if extra.kind is at.Primitive.Bool or extra.kind is at.Primitive.String:
                    return PrimNode(extra.kind)
                want = float if extra.kind in (at.Primitive.F32, at.Primitive.F64) else int
                if base is not want:
                    raise SchemaError(f"{path}: width {extra!r} applies to {want.__name__}, not {_name_of(base)}")
                return PrimNode(extra.kind)
            if isinstance(extra, at.AlgebraicType):
                return nodes_from_type(extra)
            if isinstance(extra, sums.TypeName):
                origin = typing.get_origin(base)
                if origin is not typing.Union and origin is not types.UnionType:
                    raise SchemaError(f"{path}: TypeName names a union of classes, not {_name_of(base)}")
                return self._union(base, path, extra.name)
        return self._lower(base, path)

    def _tuple(self, ann: Any, path: str) -> Node:
        args = typing.get_args(ann)
        if len(args) == 2 and args[1] is Ellipsis:
            return ArrayNode(self._lower(args[0], f"{path}[]"), as_tuple=True)
        if args == ((),) or not args:
            return UNIT_NODE
        fields = [Field(None, None, self._lower(a, f"{path}[{i}]")) for i, a in enumerate(args)]
        return ProductNode(None, fields, TUPLE)

    def _union(self, ann: Any, path: str, name: str | None = None) -> Node:
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        optional = len(args) < len(typing.get_args(ann))
        if len(args) == 1:
            inner = self._lower(args[0], path)
        else:
            inner = self._class_union(args, path, name)
        return OptionNode(inner) if optional else inner

    def _class_union(self, args: list[Any], path: str, name: str | None) -> Node:
        key = ("union", name, *args)
        existing = self.classes.get(key)
        if existing is not None:
            return existing
        for a in args:
            if not isinstance(a, type) or a in _SIMPLE or a is bytes or a in SPECIAL_CLASS_NODES or issubclass(a, enum.Enum | sums.Sum):
                raise SchemaError(
                    f"{path}: {' | '.join(_name_of(x) for x in args)} is not supported; a union must list "
                    "product classes only (each becomes a variant named after its class); for other payloads "
                    "declare a `class MySum(Sum)` with one annotated attribute per variant"
                )
        ref = RefNode(name or "Or".join(a.__name__ for a in args))
        self.classes[key] = ref
        variants = []
        for a in args:
            node = self._lower(a, f"{path}.{a.__name__}")
            target = node.resolved() if isinstance(node, RefNode) else node
            is_unit = isinstance(target, ProductNode) and not target.fields
            variants.append(NodeVariant(a.__name__, target if is_unit else node, is_unit))
        ref.target = SumNode(ref.name, variants, UNION, classes=list(args))
        return ref

    def _class(self, cls: type, path: str) -> Node:
        special = SPECIAL_CLASS_NODES.get(cls)
        if special is not None:
            return special
        meta = META_CLASS_NODES.get(cls)
        if meta is not None:
            return meta
        if cls in _ADVICE:
            raise _unsupported(path, cls, _ADVICE[cls])
        existing = self.classes.get(cls)
        if existing is not None:
            return existing
        ref = RefNode(cls.__name__)
        self.classes[cls] = ref
        try:
            if issubclass(cls, enum.Enum):
                members = list(cls)
                variants = [NodeVariant(m.name, UNIT_NODE, True) for m in members]
                ref.target = SumNode(cls.__name__, variants, ENUM, members=members)
            elif issubclass(cls, sums.Sum):
                ref.target = self._sum_class(cls)
            else:
                ref.target = self._product_class(cls, path)
        except BaseException:
            del self.classes[cls]
            raise
        return ref

    def _sum_class(self, cls: type[sums.Sum]) -> SumNode:
        hints = _hints(cls)
        variants = []
        for name in cls.__variant_names__:
            ann = hints[name]
            if typing.get_origin(ann) is sums.Variant:
                (ann,) = typing.get_args(ann)
            if ann is None or ann is type(None) or ann is sums.UnitVariant:
                variants.append(NodeVariant(name, UNIT_NODE, True))
            else:
                variants.append(NodeVariant(name, self._lower(ann, f"{cls.__name__}.{name}")))
        if len(variants) > 256:
            raise SchemaError(f"{cls.__name__}: a sum type has at most 256 variants")
        return SumNode(cls.__name__, variants, SUM_CLASS, cls=cls)

    def _product_class(self, cls: type, path: str) -> ProductNode:
        hints = _hints(cls)
        names = [n for n, a in hints.items() if typing.get_origin(a) is not typing.ClassVar and not n.startswith("__")]
        if not names and not dataclasses.is_dataclass(cls) and not _declares_annotations(cls):
            raise _unsupported(
                path, cls, "use a class with annotated fields (or a dataclass), a special type, or a primitive"
            )
        fields = [Field(n, n, self._lower(hints[n], f"{cls.__name__}.{n}")) for n in names]
        return ProductNode(
            name=cls.__name__, fields=fields, repr=CLASS, cls=cls, positional_init=_positional_init(cls, names)
        )


def _declares_annotations(cls: type) -> bool:
    return "__annotations__" in cls.__dict__


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls, include_extras=True)
    except NameError as e:
        raise SchemaError(f"{cls.__name__}: cannot resolve an annotation ({e}); define referenced classes at module level") from None


def _positional_init(cls: type, names: list[str]) -> bool:
    """Can decoded fields be passed as `cls(*values)`? Only when a dataclass __init__ takes exactly them."""
    if not dataclasses.is_dataclass(cls):
        return False
    fields = dataclasses.fields(cls)
    init_names = [f.name for f in fields if f.init]
    return init_names == names and all(f.init and f.kw_only is not True for f in fields)
