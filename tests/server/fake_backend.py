"""A tiny in-memory DatabaseBackend for server tests, independent of the real host. Its commits
go through the commit listener as the real host's do, so fan-out takes the production path.

Module: public table person(id u64 pk auto-inc, name string), private table secret(id u64),
reducers add(name), rename(id u64, name), fail(), crash(), and lifecycle hooks that record
connects and can refuse an identity. Queries: `SELECT * FROM <t> [WHERE name = '<x>']` and
`SELECT * FROM *`, with double-quoted identifiers allowed.
"""

from __future__ import annotations

import asyncio
import re
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from spacetimedb.control.backend import (
    CallResult,
    CallStatus,
    Changes,
    CommitListener,
    LogLine,
    ModuleSwapPlan,
    PlanRouter,
    QueryRejected,
    Row,
    ServedTable,
    SqlStatementResult,
    TableChanges,
)
from spacetimedb.control.database_registry import BackendSpec
from spacetimedb.module.auth import AuthCtx
from spacetimedb.protocol.wire import pack_str

_U64 = struct.Struct("<Q")
_QUERY = re.compile(
    r'^select\s+\*\s+from\s+"?(\w+|\*)"?(?:\s+where\s+(?:"?\w+"?\.)?"?name"?\s*=\s*\'([^\']*)\')?\s*;?$', re.I
)


def encode_person(row: Row) -> bytes:
    return _U64.pack(row[0]) + pack_str(row[1])


def encode_secret(row: Row) -> bytes:
    return _U64.pack(row[0])


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u64(self) -> int:
        return int(_U64.unpack(self.take(8))[0])

    def string(self) -> str:
        (n,) = struct.unpack("<I", self.take(4))
        return self.take(n).decode()

    def end(self) -> None:
        if self.pos != len(self.data):
            raise ValueError("trailing bytes")


@dataclass
class FakePlan:
    table_name: str
    name_filter: str | None
    backend: FakeBackend

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.table_name, self.name_filter)

    @property
    def reads(self) -> frozenset[str]:
        return frozenset({self.table_name})

    @property
    def sql(self) -> str:
        """The one-table query this plan answers (what a module swap recompiles it from)."""
        where = "" if self.name_filter is None else f" WHERE name = '{self.name_filter}'"
        return f"SELECT * FROM {self.table_name}{where}"

    def _match(self, row: Row) -> bool:
        return self.name_filter is None or row[1] == self.name_filter

    def initial_rows(self, budget: Any = None) -> Sequence[Row]:
        self.backend.evaluations += 1
        return [r for r in self.backend.rows[self.table_name].values() if self._match(r)]

    def delta(self, changes: Changes) -> tuple[Sequence[Row], Sequence[Row]]:
        self.backend.evaluations += 1
        if self.name_filter == "explode":
            raise RuntimeError("this query explodes on every commit")
        c = changes.get(self.table_name)
        if c is None:
            return (), ()
        return [r for r in c.inserts if self._match(r)], [r for r in c.deletes if self._match(r)]


class OffsetGate:
    """A fake commit log whose durable offset the test moves by hand (`release`)."""

    def __init__(self) -> None:
        self.durable = -1
        #: Every offset the server waited for, in order.
        self.waited: list[int] = []

    def release(self, upto: int) -> None:
        self.durable = max(self.durable, upto)

    async def wait_for(self, offset: int) -> None:
        self.waited.append(offset)
        while self.durable < offset:
            await asyncio.sleep(0.005)


@dataclass
class FakeBackend:
    spec: BackendSpec | None = None
    rows: dict[str, dict[int, Row]] = field(default_factory=lambda: {"person": {}, "secret": {}})
    next_id: int = 1
    connected: list[tuple[bytes, int]] = field(default_factory=list)
    disconnected: list[tuple[bytes, int]] = field(default_factory=list)
    refuse: set[bytes] = field(default_factory=set)
    log_records: list[LogLine] = field(default_factory=list)
    log_listeners: list[Callable[[LogLine], None]] = field(default_factory=list)
    evaluations: int = 0
    closed: bool = False
    due_us: int | None = None
    #: When set, commits get tx offsets and become durable only once this event is set.
    durability_gate: Any = None
    next_offset: int = 0
    log_failure_listeners: list[Callable[[str], None]] = field(default_factory=list)
    #: The hosted database's subscriptions, told of each commit inside it (as HostBackend does).
    commit_listener: CommitListener | None = None
    #: No QueryRegistry routing: every query reading a changed table is evaluated.
    plan_router: PlanRouter | None = None

    def set_commit_listener(self, listener: CommitListener | None) -> None:
        self.commit_listener = listener

    def _committed(self, timestamp_us: int, changes: Changes | None = None, tx_offset: int | None = None) -> CallResult:
        """A committed transaction's result, evaluated by the commit listener as the real host does."""
        changes = dict(changes or {})
        fanout = None
        listener = self.commit_listener
        if listener is not None and listener.listening() and changes:
            fanout = listener.evaluate(changes)
        return CallResult(CallStatus.COMMITTED, timestamp_us, changes=changes, tx_offset=tx_offset, fanout=fanout)

    def tables(self) -> Mapping[str, ServedTable]:
        return {
            "person": ServedTable("person", True, False, encode_person),
            "secret": ServedTable("secret", False, False, encode_secret),
        }

    def _log(self, message: str, ts: int) -> None:
        rec = LogLine("Info", ts, message)
        self.log_records.append(rec)
        for listener in self.log_listeners:
            listener(rec)

    def _insert(self, table: str, row: Row) -> Changes:
        old = self.rows[table].get(row[0])
        self.rows[table][row[0]] = row
        return {table: TableChanges([row], [old] if old else [])}

    def call_budget(self) -> None:
        return None  # every call runs on the worker thread

    def has_http_route(self, method: str, path: str) -> bool:
        return False

    def call_http_handler(self, request: Any, timestamp_us: int) -> None:
        return None  # the fake module routes nothing: 404

    def set_procedure_launcher(self, launch: Any) -> None:
        pass

    def has_procedure(self, name: str) -> bool:
        return False

    def call_reducer(
        self,
        name: str,
        args: bytes | Any,
        *,
        caller: bytes,
        connection_id: int | None,
        timestamp_us: int,
        args_format: str = "bsatn",
        is_owner: bool = False,
        auth: AuthCtx | None = None,
    ) -> CallResult:
        def result(status: CallStatus, error: str = "", changes: Changes | None = None) -> CallResult:
            offset = None
            if status is CallStatus.COMMITTED and self.durability_gate is not None:
                offset, self.next_offset = self.next_offset, self.next_offset + 1
            if status is CallStatus.COMMITTED:
                return self._committed(timestamp_us, changes, offset)
            return CallResult(status, timestamp_us, error, dict(changes or {}), tx_offset=offset)

        if name in ("client_connected", "client_disconnected", "init"):
            return result(CallStatus.LIFECYCLE, f"can't directly call special lifecycle reducer {name}")
        params = {"add": ["name"], "rename": ["id", "name"], "fail": [], "crash": [], "add_secret": ["id"]}.get(name)
        if params is None:
            return result(CallStatus.NO_SUCH_REDUCER, "no such reducer")
        try:
            values = self._decode_args(params, args, args_format)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            return result(CallStatus.BAD_ARGS, f"invalid arguments for reducer {name}: {e}")
        self._log(f"{name} called", timestamp_us)
        if name == "add":
            row = (self.next_id, values[0])
            self.next_id += 1
            return result(CallStatus.COMMITTED, changes=self._insert("person", row))
        if name == "rename":
            if values[0] not in self.rows["person"]:
                return result(CallStatus.FAILED_USER, f"no person {values[0]}")
            return result(CallStatus.COMMITTED, changes=self._insert("person", (values[0], values[1])))
        if name == "add_secret":
            return result(CallStatus.COMMITTED, changes=self._insert("secret", (values[0],)))
        if name == "fail":
            return result(CallStatus.FAILED_USER, "this reducer always fails")
        return result(CallStatus.FAILED_INTERNAL, "the reducer crashed: ZeroDivisionError")

    @staticmethod
    def _decode_args(params: list[str], args: Any, args_format: str) -> list[Any]:
        if args_format == "json":
            if isinstance(args, dict):
                args = [args[p] for p in params]
            if not isinstance(args, list) or len(args) != len(params):
                raise ValueError(f"expected {len(params)} arguments")
            return args
        r = _Reader(args)
        out: list[Any] = [r.u64() if p == "id" else r.string() for p in params]
        r.end()
        return out

    def client_connected(
        self, caller: bytes, connection_id: int, timestamp_us: int, auth: AuthCtx | None = None
    ) -> CallResult:
        if caller in self.refuse:
            return CallResult(CallStatus.FAILED_USER, timestamp_us, "you are not welcome here")
        self.connected.append((caller, connection_id))
        return self._committed(timestamp_us, tx_offset=self._lifecycle_offset())

    def client_disconnected(
        self, caller: bytes, connection_id: int, timestamp_us: int, auth: AuthCtx | None = None
    ) -> CallResult:
        self.disconnected.append((caller, connection_id))
        return self._committed(timestamp_us, tx_offset=self._lifecycle_offset())

    def _lifecycle_offset(self) -> int | None:
        """Lifecycle commits get tx offsets too, but only with an OffsetGate (old tests count offsets)."""
        if not isinstance(self.durability_gate, OffsetGate):
            return None
        offset, self.next_offset = self.next_offset, self.next_offset + 1
        return offset

    def compile_subscription(self, sql: str, caller: bytes, is_owner: bool) -> list[Any]:
        m = _QUERY.match(sql.strip())
        if not m:
            raise QueryRejected(f"unsupported query: {sql}")
        table, name = m.group(1), m.group(2)
        visible = [t for t, info in self.tables().items() if info.public or is_owner]
        if table == "*":
            return [FakePlan(t, None, self) for t in visible]
        if table not in visible:
            raise QueryRejected(f"no such table: `{table}`")
        return [FakePlan(table, name, self)]

    def run_sql(
        self, sql: str, caller: bytes, is_owner: bool, timestamp_us: int, *, row_budget: int | None = None
    ) -> tuple[list[SqlStatementResult], CallResult | None]:
        m = re.match(r"^insert into person values \((\d+), '([^']*)'\)$", sql.strip(), re.I)
        if m:
            if not is_owner:
                raise PermissionError("only the owner can run DML")
            changes = self._insert("person", (int(m.group(1)), m.group(2)))
            schema: dict[str, Any] = {"elements": []}
            offset = None
            if self.durability_gate is not None:
                offset, self.next_offset = self.next_offset, self.next_offset + 1
            tx = self._committed(timestamp_us, changes, offset)
            return [SqlStatementResult(schema, [], rows_inserted=1)], tx
        plans = self.compile_subscription(sql, caller, is_owner)
        out = []
        for plan in plans:
            schema = {"elements": [{"name": {"some": "id"}, "algebraic_type": {"U64": []}}]}
            out.append(SqlStatementResult(schema, [list(r) for r in plan.initial_rows()]))
        return out, None

    def module_def_json(self, version: int) -> dict[str, Any]:
        return {"sections": []} if version == 10 else {"tables": []}

    def next_due_us(self) -> int | None:
        return self.due_us

    def run_due(self, now_us: int) -> list[CallResult]:
        self.due_us = None
        row = (self.next_id, "scheduled")
        self.next_id += 1
        return [self._committed(now_us, self._insert("person", row))]

    def logs(self, num_lines: int | None) -> list[LogLine]:
        return self.log_records[-num_lines:] if num_lines else list(self.log_records)

    def subscribe_logs(self, listener: Callable[[LogLine], None]) -> Callable[[], None]:
        self.log_listeners.append(listener)
        return lambda: self.log_listeners.remove(listener)

    def durable_offset_waiter(self) -> Callable[[int], Any] | None:
        gate = self.durability_gate
        if gate is None:
            return None
        if isinstance(gate, OffsetGate):
            return gate.wait_for

        async def wait(offset: int) -> None:
            await gate.wait()

        return wait

    def durable_offset_now(self) -> int | None:
        gate = self.durability_gate
        return gate.durable if isinstance(gate, OffsetGate) else None

    def request_snapshot(self) -> int | None:
        raise NotImplementedError("the fake backend keeps no durable state")

    def wait_snapshot(self, tx_offset: int, timeout: float | None = None) -> None:
        raise NotImplementedError("the fake backend keeps no durable state")

    def check_module_swap(self, module_path: Any) -> ModuleSwapPlan:
        return ModuleSwapPlan()  # the fake's module never changes

    def on_log_failure(self, callback: Callable[[str], None]) -> None:
        self.log_failure_listeners.append(callback)

    def close(self) -> None:
        self.closed = True


def fake_factory(spec: BackendSpec) -> FakeBackend:
    return FakeBackend(spec)
