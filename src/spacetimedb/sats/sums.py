"""`Sum`: the base class for declaring a tagged union with named variants.

    class Shape(Sum):
        Circle: Circle      # variant with a payload (any supported annotation)
        Square: Variant[f32]    # the same, but mypy can check Shape.Square(1.0)
        Empty: None         # unit variant (or `Empty: UnitVariant` for mypy)

    s = Shape.Circle(Circle(radius=1.0))   # or Shape("Circle", Circle(radius=1.0))
    e = Shape.Empty()
    s.tag == "Circle"; s.value.radius == 1.0

Variant tags are the declaration order. A union of product classes (`Circle | Square`) and an
`enum.Enum` are the other two ways to declare a sum (see docs/types.md).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

T = TypeVar("T")


class Variant(Generic[T]):
    """Typed variant annotation: `Move: Variant[Pos]` lets mypy check `Command.Move(pos)`.

    Plain annotations (`Move: Pos`) work the same at runtime; this only helps type checkers.
    """

    def __call__(self, value: T) -> Any:  # replaced by a constructor in every Sum subclass
        raise NotImplementedError


class UnitVariant:
    """Typed unit variant annotation: `Quit: UnitVariant` lets mypy check `Command.Quit()`."""

    def __call__(self) -> Any:  # replaced by a constructor in every Sum subclass
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class TypeName:
    """Names a union of classes: `Shape = Annotated[Circle | Square, TypeName("Shape")]`."""

    name: str


class _VariantConstructor:
    """`Shape.Circle`: calling it builds a `Shape` with that tag."""

    __slots__ = ("cls", "name")

    def __init__(self, cls: type[Sum], name: str) -> None:
        self.cls = cls
        self.name = name

    def __call__(self, value: Any = None) -> Any:
        return self.cls(self.name, value)

    def __repr__(self) -> str:
        return f"{self.cls.__name__}.{self.name}"


class Sum:
    """A value of a user-declared sum type: `tag` is the variant name, `value` its payload (None for units)."""

    __slots__ = ("tag", "value")
    #: Variant names in declaration order (the BSATN tag is the index).
    __variant_names__: ClassVar[tuple[str, ...]] = ()

    tag: str
    value: Any

    __match_args__ = ("tag", "value")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names = tuple(n for n in inspect.get_annotations(cls) if not n.startswith("_"))
        reserved = [n for n in names if n in ("tag", "value", "tag_index")]
        if reserved:
            from spacetimedb.sats.errors import SchemaError

            raise SchemaError(
                f"{cls.__name__}: variant name {reserved[0]!r} is reserved by Sum (tag, value, tag_index); rename it"
            )
        cls.__variant_names__ = names
        for name in names:
            setattr(cls, name, _VariantConstructor(cls, name))

    def __init__(self, tag: str, value: Any = None) -> None:
        if tag not in self.__variant_names__:
            raise ValueError(
                f"{type(self).__name__} has no variant {tag!r}; variants are {list(self.__variant_names__)}"
            )
        object.__setattr__(self, "tag", tag)
        object.__setattr__(self, "value", value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} values are immutable")

    @property
    def tag_index(self) -> int:
        return self.__variant_names__.index(self.tag)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Sum)
        return self.tag == other.tag and self.value == other.value

    def __hash__(self) -> int:
        return hash((type(self), self.tag, self.value))

    def __repr__(self) -> str:
        inner = "" if self.value is None else repr(self.value)
        return f"{type(self).__name__}.{self.tag}({inner})"
