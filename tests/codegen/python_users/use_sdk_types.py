"""Every column type of the sdk-test port through its bindings (`sdk_test_module_bindings`)."""

from __future__ import annotations

from sdk_test_module_bindings import (
    EveryPrimitiveStruct,
    OneU256,
    OptionSimpleEnum,
    PkIdentity,
    SimpleEnum,
    UnitStruct,
    VecString,
)

from spacetimedb import ConnectionId, Identity, TimeDuration, Timestamp, Uuid


def widths(s: EveryPrimitiveStruct) -> int:
    total: int = s.a + s.b + s.c + s.d + s.e + s.f + s.g + s.h + s.i + s.j + s.k + s.l
    floats: float = s.n + s.o
    return total + int(floats) + len(s.p) + int(s.m)


def specials(s: EveryPrimitiveStruct) -> tuple[Identity, ConnectionId, Timestamp, TimeDuration, Uuid]:
    return (s.q, s.r, s.s, s.t, s.u)


def rows() -> list[object]:
    return [
        OneU256(n=2**255),
        VecString(s=["a", "b"]),
        OptionSimpleEnum(e=SimpleEnum.Two),
        OptionSimpleEnum(e=None),
        PkIdentity(i=Identity.ZERO, data=1),
        UnitStruct(),
    ]
