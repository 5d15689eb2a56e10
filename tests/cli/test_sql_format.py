"""`spacetimedb sql` cells are rendered by column type, not as raw JSON."""

from __future__ import annotations

from spacetimedb.cli.sql_format import cell, column_types
from spacetimedb.sats import algebraic_type as at
from spacetimedb.sats.json import to_json
from spacetimedb.sats.special import Identity, Timestamp


def _schema(*cols: tuple[str, at.AlgebraicType]) -> dict:
    return to_json(at.product(*cols), at.ProductType)


def test_special_types_and_options_read_naturally() -> None:
    ident = Identity.from_hex("c200" + "ab" * 30)
    ts = Timestamp(1_700_000_000_000_000)
    opt = at.option(at.STRING)
    cols = column_types(_schema(("who", at.IDENTITY), ("when", at.TIMESTAMP), ("name", opt), ("n", at.U32)))
    assert [c[0] for c in cols] == ["who", "when", "name", "n"]
    row = [
        to_json(ident, at.IDENTITY, positional=True),
        to_json(ts, at.TIMESTAMP, positional=True),
        to_json(None, opt, positional=True),
        to_json(7, at.U32, positional=True),
    ]
    rendered = [cell(v, ty) for v, (_, ty) in zip(row, cols, strict=True)]
    assert rendered == ["0x" + ident.to_hex(), ts.isoformat(), "null", "7"]


def test_a_value_that_does_not_fit_its_type_falls_back_to_json() -> None:
    assert cell({"unexpected": 1}, at.U32) == '{"unexpected": 1}'
