"""`GlueApi`: what the bundle's JS entry hands the Python adapter (js/entry.mjs, `glue`).

Each member wraps one `spacetime:sys@2.0`/`2.1` function with bytes in and out: Python passes
bytes as a Latin-1 `str` (one char per byte: a str crosses to JS without a proxy, which halves
the crossings of an insert) or a `Uint8Array`, JS copies them into an ArrayBuffer for the host and returns a `Uint8Array` (or a number). Scans return every row of the row
iterator concatenated (JS drains the iterator, growing its buffer on BufferTooSmall). Insert and
update return the generated column values the host wrote back (None when there are none), or the
errno (an int) of the host error they raised; other host errors propagate as exceptions.
"""

from __future__ import annotations

from typing import Any, Protocol

#: Bytes from JS: a Pyodide JsProxy of a Uint8Array (`.to_bytes()`), or bytes in a native fake.
JsBytes = Any


class GlueApi(Protocol):
    def table_id(self, name: str) -> int: ...
    def index_id(self, name: str) -> int: ...
    def count(self, table_id: int) -> int: ...
    def scan(self, table_id: int) -> JsBytes: ...
    def point(self, index_id: int, key: Any) -> JsBytes: ...
    def range(self, index_id: int, buf: Any, prefix_len: int, prefix_elems: int, start_len: int, end_len: int) -> JsBytes: ...
    def insert(self, table_id: int, row: Any) -> JsBytes | int | None: ...
    def update(self, table_id: int, index_id: int, row: Any) -> JsBytes | int | None: ...
    def delete_eq(self, table_id: int, relation: Any) -> int: ...
    def delete_point(self, index_id: int, key: Any) -> int: ...
    def delete_range(self, index_id: int, buf: Any, prefix_len: int, prefix_elems: int, start_len: int, end_len: int) -> int: ...
    def clear(self, table_id: int) -> int: ...
    def log(self, level: int, message: str) -> None: ...
    def identity(self) -> int: ...
    def jwt_payload(self) -> JsBytes:
        """The running call's caller's JWT payload (`get_jwt_payload` of its connection id; empty: none)."""
        ...
    def http_request(self, request: Any, body: Any) -> Any:
        """`procedure_http_request`: [response BSATN, body], or the host's error message (a str)."""
        ...

    def start_tx(self) -> int: ...
    def commit_tx(self) -> bool: ...
    def abort_tx(self) -> None: ...


def as_bytes(data: JsBytes) -> bytes:
    """Bytes from what JS handed over: a JsProxy of a Uint8Array, a Latin-1 str (one char per
    byte: it crosses without a proxy), or bytes."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("latin-1")
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    return bytes(data.to_bytes())


def as_int(value: Any) -> int:
    """An integer from JS: a hex str (the entry passes the hooks' BigInts so: Pyodide converts a
    BigInt 32 bits at a time in JS, a str crosses as is), or an int (a native fake, a Number)."""
    return int(value, 16) if isinstance(value, str) else int(value)


#: Upstream's errno codes the adapter turns into the module layer's errors
#: (crates/primitives/src/errno.rs).
UNIQUE_ALREADY_EXISTS = 12
SCHEDULE_AT_DELAY_TOO_LONG = 13
NO_SUCH_ROW = 15
AUTO_INC_OVERFLOW = 16

#: console_log levels (crates/bindings-typescript/src/server/console.ts).
LOG_LEVELS = {"error": 0, "warn": 1, "warning": 1, "info": 2, "debug": 3, "trace": 4}


#: The members of `GlueApi`.
MEMBERS = (
    "table_id", "index_id", "count", "scan", "point", "range", "insert", "update", "delete_eq", "delete_point",
    "delete_range", "clear", "log", "identity", "jwt_payload", "http_request", "start_tx", "commit_tx", "abort_tx",
)  # fmt: skip


class CachedGlue:
    """The glue's functions looked up once: an attribute of a JS object costs a round trip
    through Pyodide's proxy on every access (the glue functions are arrows: no `this`)."""

    def __init__(self, glue: Any) -> None:
        for name in MEMBERS:
            setattr(self, name, getattr(glue, name))
