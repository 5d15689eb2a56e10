"""BSATN, the binary SATS encoding: one encoder/decoder compiled per type and cached.

    from spacetimedb import bsatn
    data = bsatn.encode(player, Player)          # an annotation ...
    row = bsatn.decode(data, at.product(...))    # ... or a bare AlgebraicType (products are tuples)
    codec = bsatn.compile(Player)                # reuse: codec.encode / encode_into / decode / decode_from
"""

from __future__ import annotations

from typing import Any

from spacetimedb.bsatn.codec import Codec, compile, compile_node
from spacetimedb.sats import algebraic_type as at


def encode(value: Any, t: Any, typespace: at.Typespace | None = None) -> bytes:
    """BSATN bytes of `value` of type `t` (annotation or AlgebraicType)."""
    return compile(t, typespace).encode(value)


def decode(data: bytes | bytearray | memoryview, t: Any, typespace: at.Typespace | None = None) -> Any:
    """The value of type `t` in `data`; the whole input must be exactly one value."""
    return compile(t, typespace).decode(data)


__all__ = ["Codec", "compile", "compile_node", "decode", "encode"]
