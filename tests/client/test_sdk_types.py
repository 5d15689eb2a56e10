"""Every column type of the sdk-test port (tests/sdk_conformance) round-trips through our server and
this client without bindings, as roundtrip_client.ts does with the npm SDK: insert, then for keyed
tables find, a refused duplicate, update (on_update with a primary key, delete + insert without)
and delete, each checked on the callbacks' rows and the cache."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from tests.sdk_conformance.test_sdk_roundtrips import (
    KEY_TYPES,
    ONE_TYPES,
    OPTION_TYPES,
    VEC_TYPES,
    expected_tables,
)

from spacetimedb import ConnectionId, Identity, TimeDuration, Timestamp, Uuid, client
from spacetimedb.sats.values import SumValue
from spacetimedb.server.app import Server

from .harness import run_with_server, until

MODULE = Path(__file__).resolve().parents[1] / "sdk_conformance" / "sdk_test_module.py"


def U(bits: int) -> int:
    return (1 << bits) - 1


def I(bits: int) -> tuple[int, int]:  # noqa: E743
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def f32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


F32_MAX = f32(3.4028234663852886e38)
INTS: dict[str, list[Any]] = {
    "u8": [0, 255, 7], "u16": [0, 65535], "u32": [0, U(32)], "u64": [0, U(64)], "u128": [0, U(128), 1 << 64],
    "u256": [0, U(256), 1 << 200],
    "i8": [-128, 127, 0], "i16": [-32768, 32767], "i32": [*I(32)], "i64": [*I(64), -1],
    "i128": [*I(128), -1], "i256": [*I(256), -1, 0],
}  # fmt: skip
ENUM = [SumValue(0, ()), SumValue(1, ()), SumValue(2, ())]
KEY_VALUES: dict[str, list[Any]] = {
    **INTS,
    "bool": [False, True],
    "string": ["", "héllo wörld ✓ 日本 🚀", 'a"b\\c\n'],
    "identity": [Identity(0), Identity(U(256)), Identity(int("01" * 32, 16))],
    "connection_id": [ConnectionId(1), ConnectionId(U(128)), ConnectionId(0xABCDEF)],
    "uuid": [Uuid(0), Uuid(U(128)), Uuid(0x0190C3F47A1B7C2D8E3F0123456789AB)],
}


def every_primitive(m: bool, k: int) -> tuple[Any, ...]:
    return (
        255 if k else 0, 65535 if k else 0, U(32) if k else 0, U(64) if k else 0, U(128) if k else 0,
        U(256) if k else 0, -128 if k else 127, -32768 if k else 32767, I(32)[1 - k], I(64)[k], I(128)[k],
        I(256)[k], m, F32_MAX if k else -0.0, 1e308 if k else 5e-324, "ünïcödé 🚀" if k else "",
        Identity(U(256) if k else 0), ConnectionId(U(128) if k else 1), Timestamp(I(64)[k]),
        TimeDuration(-1 if k else 1_000_000), Uuid(U(128) if k else 0),
    )  # fmt: skip


ONE_VALUES: dict[str, list[Any]] = {
    **KEY_VALUES,
    "f32": [-0.0, F32_MAX, -F32_MAX, f32(1.401298464324817e-45), f32(0.1), float("inf"), float("-inf")],
    "f64": [-0.0, 1e308, -1e308, 5e-324, 1.7976931348623157e308, 0.1, float("inf")],
    "timestamp": [Timestamp(0), Timestamp(I(64)[0]), Timestamp(I(64)[1]), Timestamp(1_700_000_000_123_456)],
    "simple_enum": ENUM,
    "unit_struct": [()],
    "every_primitive_struct": [every_primitive(False, 0), every_primitive(True, 1)],
}


def canon(v: Any) -> Any:
    """Exact comparison: -0.0 apart from 0.0, floats by their bits, containers element-wise."""
    if isinstance(v, float):
        return ("f", struct.pack("<d", v))
    if isinstance(v, list | tuple):
        return tuple(canon(x) for x in v)
    if isinstance(v, SumValue):
        return ("sum", v.tag, canon(v.value))
    return v


def cases() -> list[tuple[str, list[Any]]]:
    out = [(f"one_{t}", ONE_VALUES[t]) for t in ONE_TYPES]
    out += [(f"vec_{t}", [[], ONE_VALUES[t], [ONE_VALUES[t][0]]]) for t in VEC_TYPES if t != "u8"]
    out.append(("vec_u8", [b"", bytes(ONE_VALUES["u8"]), bytes(ONE_VALUES["u8"][:1])]))  # Vec<u8> is bytes
    out += [(f"option_{t}", [None, *ONE_VALUES[t][:2]]) for t in OPTION_TYPES]
    out += [(f"unique_{t}", KEY_VALUES[t]) for t in KEY_TYPES]
    out += [(f"pk_{t}", vals) for t, vals in {**KEY_VALUES, "simple_enum": ENUM}.items()]
    return out


def test_every_type_round_trips_through_the_python_client(tmp_path: Path) -> None:
    assert {t for t, _ in cases()} == expected_tables()

    async def scenario(server: Server, uri: str) -> None:
        async with client.connect(uri, "sdktest") as conn:
            events: dict[str, list[tuple[Any, ...]]] = {}
            for table, _ in cases():
                q = events[table] = []
                handle = conn.db[table]
                handle.on_insert(lambda ctx, row, q=q: q.append(("insert", tuple(row))))
                handle.on_delete(lambda ctx, row, q=q: q.append(("delete", tuple(row))))
                if table.startswith("pk_"):
                    handle.on_update(lambda ctx, old, new, q=q: q.append(("update", tuple(old), tuple(new))))
            await conn.subscription_builder().subscribe_to_all_tables()
            mismatches: list[str] = []
            checks = 0

            def expect(table: str, what: str, actual: Any, expected: Any) -> None:
                nonlocal checks
                if canon(actual) != canon(expected):
                    mismatches.append(f"{table} {what}: expected {expected!r}, got {actual!r}")
                checks += 1

            async def take(table: str, n: int) -> list[tuple[Any, ...]]:
                await until(lambda: len(events[table]) >= n)
                got, events[table][:n] = events[table][:n], []
                return got

            for table, values in cases():
                r = conn.reducers
                handle = conn.db[table]
                if table.startswith(("pk_", "unique_")):
                    col = next(c for c in conn._module.tables[table].unique_columns)
                    for k in values:
                        first, second = (k, I(32)[0]), (k, I(32)[1])
                        await getattr(r, f"insert_{table}")(*first)
                        expect(table, f"insert {k!r}", await take(table, 1), [("insert", first)])
                        expect(table, f"find {k!r}", getattr(handle, col).find(k), first)
                        try:
                            await getattr(r, f"insert_{table}")(k, 0)
                            expect(table, f"duplicate {k!r}", "accepted", "refused")
                        except client.ReducerError:
                            checks += 1
                        await getattr(r, f"update_{table}")(*second)
                        if table.startswith("pk_"):
                            expect(table, f"update {k!r}", await take(table, 1), [("update", first, second)])
                        else:
                            got = sorted(await take(table, 2), key=lambda e: e[0])
                            expect(table, f"update {k!r}", got, [("delete", first), ("insert", second)])
                        await getattr(r, f"delete_{table}")(k)
                        expect(table, f"delete {k!r}", await take(table, 1), [("delete", second)])
                    expect(table, "cache empty", len(handle), 0)
                else:
                    for v in values:
                        await getattr(r, f"insert_{table}")(v)
                        expect(table, f"insert {v!r}", await take(table, 1), [("insert", (v,))])
                    expect(table, "cache", sorted(map(repr, map(canon, handle))), sorted(repr(canon((v,))) for v in values))
            assert mismatches == []
            assert checks > 4 * len(cases())

    run_with_server(tmp_path, scenario, modules={"sdktest": MODULE})
