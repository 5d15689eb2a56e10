"""The BSATN oracle: a long-lived `node tests/node/oracle.mjs` that encodes/decodes with the pinned npm SDK.

Types go over as the oracle's type language and values as its positional JSON (see oracle.mjs);
this module converts Python's bare-type values (tuples, SumValue, Some, special classes) both ways.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from spacetimedb.sats import algebraic_type as at
from spacetimedb.sats.special import ConnectionId, Identity, ScheduleAt, TimeDuration, Timestamp, Uuid
from spacetimedb.sats.values import Some, SumValue

NODE_DIR = Path(__file__).parent / "node"
_SPECIAL_CLASSES: dict[str, type] = {
    "Identity": Identity,
    "ConnectionId": ConnectionId,
    "Timestamp": Timestamp,
    "TimeDuration": TimeDuration,
    "Uuid": Uuid,
}
_SPECIAL_ATTR = {"Identity": "value", "ConnectionId": "value", "Uuid": "value", "Timestamp": "micros", "TimeDuration": "micros"}


def oracle_available() -> bool:
    return shutil.which("node") is not None and (NODE_DIR / "node_modules" / "spacetimedb").is_dir()


def type_to_oracle(ty: at.AlgebraicType) -> Any:
    if isinstance(ty, at.PrimitiveType):
        return ty.kind.name
    if isinstance(ty, at.ArrayType):
        return {"Array": type_to_oracle(ty.elem_ty)}
    if isinstance(ty, at.ProductType):
        return {"Product": [[e.name, type_to_oracle(e.algebraic_type)] for e in ty.elements]}
    if isinstance(ty, at.SumType):
        return {"Sum": [[v.name, type_to_oracle(v.algebraic_type)] for v in ty.variants]}
    if isinstance(ty, at.RefType):
        return {"Ref": ty.idx}
    raise TypeError(ty)


class _Conv:
    def __init__(self, typespace: at.Typespace | None) -> None:
        self.ts = typespace

    def resolve(self, ty: at.AlgebraicType) -> at.AlgebraicType:
        return self.ts.resolve(ty) if self.ts is not None else ty

    def to(self, ty: at.AlgebraicType, v: Any) -> Any:
        ty = self.resolve(ty)
        if isinstance(ty, at.PrimitiveType):
            k = ty.kind
            if k in (at.Primitive.F32, at.Primitive.F64):
                if math.isnan(v):
                    return "NaN"
                if math.isinf(v):
                    return "Infinity" if v > 0 else "-Infinity"
                if v == 0 and math.copysign(1, v) < 0:
                    return "-0"
                return v
            if k in at.INT_KINDS and at.INT_KINDS[k][0] > 32:
                return str(v)
            return v
        if isinstance(ty, at.ArrayType):
            if ty.elem_ty == at.U8:
                return bytes(v).hex()
            return [self.to(ty.elem_ty, x) for x in v]
        special = at.special_name(ty)
        if special == "ScheduleAt":
            return [v.tag, [str(v.value.micros)]]
        if special is not None:
            return [str(getattr(v, _SPECIAL_ATTR[special]))]
        if isinstance(ty, at.ProductType):
            return [self.to(e.algebraic_type, x) for e, x in zip(ty.elements, v, strict=True)]
        assert isinstance(ty, at.SumType)
        if at.is_option(ty):
            if v is None:
                return None
            if isinstance(v, Some):
                return {"some": self.to(ty.variants[0].algebraic_type, v.value)}
            return self.to(ty.variants[0].algebraic_type, v)
        return [v.tag, self.to(ty.variants[v.tag].algebraic_type, v.value)]

    def back(self, ty: at.AlgebraicType, j: Any) -> Any:
        ty = self.resolve(ty)
        if isinstance(ty, at.PrimitiveType):
            if ty.kind in (at.Primitive.F32, at.Primitive.F64):
                return float({"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf", "-0": "-0.0"}.get(j, j)) if isinstance(j, str) else float(j)
            if ty.kind in at.INT_KINDS:
                return int(j)
            return j
        if isinstance(ty, at.ArrayType):
            if ty.elem_ty == at.U8:
                return bytes.fromhex(j)
            return [self.back(ty.elem_ty, x) for x in j]
        special = at.special_name(ty)
        if special == "ScheduleAt":
            inner = TimeDuration if j[0] == 0 else Timestamp
            return ScheduleAt(inner(int(j[1][0])))
        if special is not None:
            return _SPECIAL_CLASSES[special](int(j[0]))
        if isinstance(ty, at.ProductType):
            return tuple(self.back(e.algebraic_type, x) for e, x in zip(ty.elements, j, strict=True))
        assert isinstance(ty, at.SumType)
        if at.is_option(ty):
            if j is None:
                return None
            if isinstance(j, dict) and set(j) == {"some"}:
                return Some(self.back(ty.variants[0].algebraic_type, j["some"]))
            return self.back(ty.variants[0].algebraic_type, j)
        tag, payload = j
        return SumValue(tag, self.back(ty.variants[tag].algebraic_type, payload))


class OracleError(Exception):
    pass


class BsatnOracle:
    """One node process for the whole session; requests are serialised by a lock."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            ["node", str(NODE_DIR / "oracle.mjs")],
            cwd=NODE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.lock = threading.Lock()
        self.next_id = 0

    def _call(self, req: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with self.lock:
            self.next_id += 1
            req["id"] = self.next_id
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        if not line:
            raise OracleError("oracle process exited")
        reply: dict[str, Any] = json.loads(line)
        if reply.get("id") != req["id"]:
            raise OracleError(f"oracle reply out of order: {reply}")
        if not reply["ok"]:
            raise OracleError(reply["error"])
        return reply

    def _req(self, op: str, ty: at.AlgebraicType, typespace: at.Typespace | None) -> dict[str, Any]:
        req: dict[str, Any] = {"op": op, "type": type_to_oracle(ty)}
        if typespace is not None:
            req["typespace"] = [type_to_oracle(t) for t in typespace.types]
        return req

    def encode(self, ty: at.AlgebraicType, values: list[Any], typespace: at.Typespace | None = None) -> list[bytes]:
        conv = _Conv(typespace)
        req = self._req("encode", ty, typespace)
        req["values"] = [conv.to(ty, v) for v in values]
        return [bytes.fromhex(h) for h in self._call(req)["hex"]]

    def decode(self, ty: at.AlgebraicType, datas: list[bytes], typespace: at.Typespace | None = None) -> list[Any]:
        conv = _Conv(typespace)
        req = self._req("decode", ty, typespace)
        req["hex"] = [d.hex() for d in datas]
        return [conv.back(ty, j) for j in self._call(req)["values"]]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
