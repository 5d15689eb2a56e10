"""Decoding ServerMessages in tests (the inverse of spacetimedb.protocol.wire), kept deliberately plain."""

from __future__ import annotations

import struct
from typing import Any

from spacetimedb.protocol.compression import decompress_frame


class R:
    def __init__(self, data: bytes) -> None:
        self.d, self.p = data, 0

    def take(self, n: int) -> bytes:
        assert self.p + n <= len(self.d), "truncated"
        out = self.d[self.p : self.p + n]
        self.p += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(struct.unpack("<H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack("<Q", self.take(8))[0])

    def i64(self) -> int:
        return int(struct.unpack("<q", self.take(8))[0])

    def string(self) -> str:
        return self.take(self.u32()).decode()

    def bytes_(self) -> bytes:
        return self.take(self.u32())

    def array(self, f: Any) -> list[Any]:
        return [f() for _ in range(self.u32())]

    @property
    def done(self) -> bool:
        return self.p == len(self.d)


def row_list(r: R) -> dict[str, Any]:
    tag = r.u8()
    if tag == 0:
        hint: Any = ("fixed", r.u16())
    else:
        assert tag == 1
        hint = ("offsets", r.array(r.u64))
    data = r.bytes_()
    if hint[0] == "fixed":
        assert hint[1] > 0, "FixedSize(0) is never valid"
        rows = [data[i : i + hint[1]] for i in range(0, len(data), hint[1])]
    else:
        offs = [*hint[1], len(data)]
        rows = [data[offs[i] : offs[i + 1]] for i in range(len(hint[1]))]
    return {"hint": hint, "rows": rows}


def _table_update(r: R) -> dict[str, Any]:
    name = r.string()

    def rows() -> Any:
        tag = r.u8()
        if tag == 0:
            return {"inserts": row_list(r)["rows"], "deletes": row_list(r)["rows"]}
        return {"events": row_list(r)["rows"]}

    return {"table": name, "rows": r.array(rows)}


def _query_sets(r: R) -> list[Any]:
    return r.array(lambda: {"qs": r.u32(), "tables": r.array(lambda: _table_update(r))})


def _query_rows(r: R) -> list[Any]:
    return r.array(lambda: {"table": r.string(), "rows": row_list(r)["rows"]})


def decode_one(r: R) -> dict[str, Any]:
    tag = r.u8()
    if tag == 0:
        return {"type": "InitialConnection", "identity": r.take(32)[::-1].hex(), "connection_id": int.from_bytes(r.take(16), "little"), "token": r.string()}
    if tag == 1:
        return {"type": "SubscribeApplied", "request_id": r.u32(), "qs": r.u32(), "tables": _query_rows(r)}
    if tag == 2:
        rid, qs = r.u32(), r.u32()
        some = r.u8() == 0
        return {"type": "UnsubscribeApplied", "request_id": rid, "qs": qs, "tables": _query_rows(r) if some else None}
    if tag == 3:
        rid = r.u32() if r.u8() == 0 else None
        return {"type": "SubscriptionError", "request_id": rid, "qs": r.u32(), "error": r.string()}
    if tag == 4:
        return {"type": "TransactionUpdate", "query_sets": _query_sets(r)}
    if tag == 5:
        rid = r.u32()
        if r.u8() == 0:
            return {"type": "OneOffQueryResult", "request_id": rid, "ok": _query_rows(r)}
        return {"type": "OneOffQueryResult", "request_id": rid, "err": r.string()}
    if tag == 6:
        rid, ts = r.u32(), r.i64()
        outcome = r.u8()
        out: dict[str, Any] = {"type": "ReducerResult", "request_id": rid, "timestamp": ts}
        if outcome == 0:
            out["ok"] = {"ret": r.bytes_(), "query_sets": _query_sets(r)}
        elif outcome == 1:
            out["ok_empty"] = True
        elif outcome == 2:
            out["err"] = R(r.bytes_()).string()
        else:
            out["internal_error"] = r.string()
        return out
    if tag == 7:
        st = r.u8()
        status = {"returned": r.bytes_()} if st == 0 else {"internal_error": r.string()}
        return {"type": "ProcedureResult", **status, "timestamp": r.i64(), "duration": r.i64(), "request_id": r.u32()}
    raise AssertionError(f"unknown ServerMessage tag {tag}")


def decode_frame(message: bytes) -> list[dict[str, Any]]:
    r = R(decompress_frame(message))
    out = [decode_one(r)]
    while not r.done:
        out.append(decode_one(r))
    return out
