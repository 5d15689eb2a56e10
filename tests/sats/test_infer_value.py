import pytest

from spacetimedb import Identity, SchemaError, Some, infer_type
from spacetimedb.sats import algebraic_type as at

from .test_infer import Color, Player, Pos, Shape


def test_scalars_and_int_ranges() -> None:
    assert infer_type(True) == at.BOOL
    assert infer_type(5) == at.I64
    assert infer_type(-(1 << 63)) == at.I64
    assert infer_type(1 << 63) == at.U64
    assert infer_type(-(1 << 64)) == at.I128
    assert infer_type(1 << 127) == at.U128
    assert infer_type(-(1 << 200)) == at.I256
    assert infer_type((1 << 256) - 1) == at.U256
    with pytest.raises(SchemaError):
        infer_type(1 << 256)
    assert infer_type(1.5) == at.F64
    assert infer_type("x") == at.STRING
    assert infer_type(b"x") == at.BYTES


def test_containers() -> None:
    assert infer_type([1, 2, 1 << 63]) == at.array(at.U64)
    assert infer_type({"a": 1, "b": "x"}) == at.product(("a", at.I64), ("b", at.STRING))
    assert infer_type(Player(1, "a", Pos(1, 2))) == at.product(
        ("id", at.U32),
        ("name", at.STRING),
        ("pos", at.product(("x", at.F32), ("y", at.F32))),
        ("inventory", at.array(at.STRING)),
        ("owner", at.IDENTITY),
    )
    assert infer_type(Identity(1)) == at.IDENTITY
    assert infer_type(Color.RED) == at.sum_of(("RED", at.UNIT), ("GREEN", at.UNIT))
    assert isinstance(infer_type(Shape.Empty()), at.SumType)
    assert infer_type(Some(1)) == at.option(at.I64)


def test_mixed_lists_name_the_disagreeing_elements() -> None:
    with pytest.raises(SchemaError, match=r"value\[0\] is I64 but value\[2\] is String"):
        infer_type([1, 2, "x"])
    with pytest.raises(SchemaError, match="empty list"):
        infer_type([])
    with pytest.raises(SchemaError, match="None"):
        infer_type(None)
