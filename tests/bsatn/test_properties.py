"""Property tests: compiled codec == reference codec, round trips, canonical bytes."""

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sats.strategies import typed_values
from spacetimedb import ConversionError, bsatn
from spacetimedb.bsatn import reference
from spacetimedb.sats import algebraic_type as at
from spacetimedb.sats.infer import node_of


@settings(max_examples=300, deadline=None)
@given(typed_values())
def test_round_trip_and_agreement_with_reference(pair: tuple[at.AlgebraicType, Any]) -> None:
    ty, value = pair
    codec = bsatn.compile(ty)
    data = codec.encode(value)
    ref = bytearray()
    reference.encode(node_of(ty), value, "v", ref)
    assert data == bytes(ref)
    assert codec.decode(data) == value
    assert reference.decode(node_of(ty), reference.BsatnReader(data), 0, "v") == (value, len(data))
    assert codec.decode_from(b"\x00" + data, 1) == (value, len(data) + 1)


@settings(max_examples=200, deadline=None)
@given(typed_values(allow_nan=True), st.data())
def test_truncations_always_raise(pair: tuple[at.AlgebraicType, Any], data: st.DataObject) -> None:
    ty, value = pair
    encoded = bsatn.encode(value, ty)
    if not encoded:
        return
    cut = data.draw(st.integers(0, len(encoded) - 1))
    try:
        bsatn.decode(encoded[:cut], ty)
    except ConversionError:
        pass
    else:  # a shorter prefix can only decode if the value had trailing optional data, which BSATN has not
        raise AssertionError(f"decoding {cut} of {len(encoded)} bytes succeeded")
