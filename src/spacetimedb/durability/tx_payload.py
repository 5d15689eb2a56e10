"""The payload of one commit-log record: a transaction's delta plus the reducer call behind it.

The payload is the BSATN encoding of `TX_PAYLOAD_TYPE` (declared below with the SATS model, so
any BSATN decoder can read a log). Rows inside it are opaque byte strings (each row's own BSATN,
made by the row type's codec), so this layer never needs to know a table's columns:

    TxPayload = { reducer: Option<ReducerCall>, sequences: Array<SequenceState>,
                  tables: Array<EncodedTableDelta> }
    ReducerCall = { name: String, caller_identity: Identity, caller_connection_id: ConnectionId,
                    timestamp: Timestamp, args: Array<U8> }
    SequenceState = { table_id: U32, column: U16, value: I128 }
    EncodedTableDelta = { table_id: U32, name: String, deletes: Array<Array<U8>>, inserts: Array<Array<U8>> }

The encoder and decoder are hand-written over `struct` because they sit on the commit path and
the replay path (a million records must replay in seconds).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from spacetimedb.durability import segment_format
from spacetimedb.module.datastore import Row
from spacetimedb.sats.algebraic_type import (
    BYTES,
    CONNECTION_ID,
    I128,
    IDENTITY,
    STRING,
    TIMESTAMP,
    U16,
    U32,
    array,
    option,
    product,
)
from spacetimedb.sats.errors import ConversionError

if TYPE_CHECKING:
    from spacetimedb.durability.database_durability import CommittedCall
    from spacetimedb.engine.delta import TableDelta
    from spacetimedb.engine.sequence import SequenceKey

REDUCER_CALL_TYPE = product(
    ("name", STRING),
    ("caller_identity", IDENTITY),
    ("caller_connection_id", CONNECTION_ID),
    ("timestamp", TIMESTAMP),
    ("args", BYTES),
)
SEQUENCE_STATE_TYPE = product(("table_id", U32), ("column", U16), ("value", I128))
ENCODED_TABLE_DELTA_TYPE = product(
    ("table_id", U32), ("name", STRING), ("deletes", array(BYTES)), ("inserts", array(BYTES))
)
TX_PAYLOAD_TYPE = product(
    ("reducer", option(REDUCER_CALL_TYPE)),
    ("sequences", array(SEQUENCE_STATE_TYPE)),
    ("tables", array(ENCODED_TABLE_DELTA_TYPE)),
)


@dataclass(frozen=True, slots=True)
class ReducerCallInfo:
    """Which reducer call produced a transaction: the log doubles as an audit trail."""

    name: str
    #: The caller's Identity as its U256 value.
    caller_identity: int
    #: The caller's ConnectionId as its U128 value (0 when there was no connection).
    caller_connection_id: int
    #: Microseconds since the Unix epoch.
    timestamp_us: int
    #: The BSATN arguments exactly as received.
    args: bytes


@dataclass(slots=True)
class EncodedTableDelta:
    """One table's rows deleted and inserted by a transaction, each row as its BSATN bytes.

    The logged form of the engine's `TableDelta` (which holds the decoded row tuples).
    """

    table_id: int
    name: str
    deletes: list[bytes] = field(default_factory=list)
    inserts: list[bytes] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SequenceState:
    """A sequence's state after the transaction: the next value it will hand out."""

    table_id: int
    column: int
    value: int


@dataclass(slots=True)
class TxPayload:
    tables: list[EncodedTableDelta] = field(default_factory=list)
    reducer: ReducerCallInfo | None = None
    sequences: list[SequenceState] = field(default_factory=list)


_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")
_I64 = struct.Struct("<q")
_SEQ = struct.Struct("<IH")
_pack_u32 = _U32.pack
_unpack_u32 = _U32.unpack_from
_NONE = b"\x01"
_name_cache: dict[str, bytes] = {}


def _string(s: str) -> bytes:
    b = _name_cache.get(s)
    if b is None:
        raw = s.encode()
        b = _pack_u32(len(raw)) + raw
        if len(_name_cache) < 4096:
            _name_cache[s] = b
    return b


def _rows(out: list[bytes], rows: list[bytes]) -> None:
    out.append(_pack_u32(len(rows)))
    for r in rows:
        out.append(_pack_u32(len(r)))
        out.append(r)


def encode_tx_payload(tx: TxPayload) -> bytes:
    out: list[bytes] = []
    r = tx.reducer
    if r is None:
        out.append(_NONE)
    else:
        try:
            out.append(b"\x00" + _string(r.name))
            out.append(
                r.caller_identity.to_bytes(32, "little")
                + r.caller_connection_id.to_bytes(16, "little")
                + _I64.pack(r.timestamp_us)
                + _pack_u32(len(r.args))
            )
        except (OverflowError, struct.error) as e:
            raise ConversionError(f"reducer call info does not fit its type: {e}", path="reducer") from e
        out.append(r.args)
    out.append(_pack_u32(len(tx.sequences)))
    for s in tx.sequences:
        out.append(_SEQ.pack(s.table_id, s.column) + s.value.to_bytes(16, "little", signed=True))
    out.append(_pack_u32(len(tx.tables)))
    for t in tx.tables:
        out.append(_pack_u32(t.table_id) + _string(t.name))
        _rows(out, t.deletes)
        _rows(out, t.inserts)
    return b"".join(out)


def _read_rows(buf: bytes, pos: int) -> tuple[list[bytes], int]:
    (n,) = _unpack_u32(buf, pos)
    pos += 4
    rows = []
    for _ in range(n):
        (ln,) = _unpack_u32(buf, pos)
        pos += 4
        end = pos + ln
        if end > len(buf):
            raise ConversionError("row runs past the end of the payload", offset=pos)
        rows.append(buf[pos:end])
        pos = end
    return rows, pos


def _read_string(buf: bytes, pos: int) -> tuple[str, int]:
    (ln,) = _unpack_u32(buf, pos)
    pos += 4
    end = pos + ln
    if end > len(buf):
        raise ConversionError("string runs past the end of the payload", offset=pos)
    return buf[pos:end].decode(), end


def decode_tx_payload(buf: bytes) -> TxPayload:
    """Decode a payload; raises ConversionError (with the byte offset) if it is malformed."""
    try:
        return _decode(buf)
    except (struct.error, UnicodeDecodeError, IndexError) as e:
        raise ConversionError(f"malformed transaction payload: {e}") from e


def _decode(buf: bytes) -> TxPayload:
    pos = 1
    reducer = None
    tag = buf[0]
    if tag == 0:
        name, pos = _read_string(buf, pos)
        identity = int.from_bytes(buf[pos : pos + 32], "little")
        conn = int.from_bytes(buf[pos + 32 : pos + 48], "little")
        (ts,) = _I64.unpack_from(buf, pos + 48)
        (alen,) = _unpack_u32(buf, pos + 56)
        pos += 60
        if pos + alen > len(buf):
            raise ConversionError("reducer args run past the end of the payload", offset=pos)
        reducer = ReducerCallInfo(
            name=name, caller_identity=identity, caller_connection_id=conn, timestamp_us=ts,
            args=buf[pos : pos + alen],
        )
        pos += alen
    elif tag != 1:
        raise ConversionError(f"bad Option tag {tag} for the reducer call", offset=0)
    (nseq,) = _unpack_u32(buf, pos)
    pos += 4
    sequences = []
    for _ in range(nseq):
        table_id, column = _SEQ.unpack_from(buf, pos)
        if pos + 22 > len(buf):
            raise ConversionError("sequence state runs past the end of the payload", offset=pos)
        value = int.from_bytes(buf[pos + 6 : pos + 22], "little", signed=True)
        sequences.append(SequenceState(table_id, column, value))
        pos += 22
    (ntables,) = _unpack_u32(buf, pos)
    pos += 4
    tables = []
    for _ in range(ntables):
        (table_id,) = _unpack_u32(buf, pos)
        name, pos = _read_string(buf, pos + 4)
        deletes, pos = _read_rows(buf, pos)
        inserts, pos = _read_rows(buf, pos)
        tables.append(EncodedTableDelta(table_id=table_id, name=name, deletes=deletes, inserts=inserts))
    if pos != len(buf):
        raise ConversionError(f"{len(buf) - pos} trailing bytes after the transaction payload", offset=pos)
    return TxPayload(tables=tables, reducer=reducer, sequences=sequences)


#: Packed u32 length prefixes for short rows (a tuple index is cheaper than a struct call).
_LEN_PREFIX = tuple(_pack_u32(n) for n in range(1024))
_TS_ARGLEN = struct.Struct("<qI")
#: An empty sequence array followed by the table count (the usual commit has no sequence change).
_NO_SEQUENCES_THEN_TABLES = tuple(struct.pack("<II", 0, n) for n in range(64))


#: Deltas with more rows than this in one table are framed row by row (no packer is cached for them).
_MAX_PACKED_ROWS = 32
#: pack(deletes, inserts) -> the table's whole framed delta
_Packer = Callable[[list[Row], list[Row]], bytes]
#: pack(caller head, timestamp, args, deletes, inserts) -> a one-table call's whole payload
_CallPacker = Callable[[bytes, int, bytes, list[Row], list[Row]], bytes]
#: Reducer arguments longer than this are not packed into the one-call payload (no packer per length).
_MAX_PACKED_ARGS = 256
#: At most this many one-call packers per encoder (shapes of table, row counts and argument length).
_MAX_CALL_PACKERS = 4096
_UNKNOWN: Any = object()


class CommitEncoder:
    """Encodes committed transactions straight from the engine's delta (the commit hot path).

    Produces exactly the bytes `encode_tx_payload` would for the same transaction, without
    building the intermediate objects: table headers are cached, the caller's identity and
    connection id bytes are cached per caller, rows are encoded by each table's codec.

    `row_formats` (optional) gives, for tables whose rows are tuples of fixed-width integers,
    the `struct` codes of a row (e.g. "Iq"): such a table's whole delta (counts, length prefixes,
    rows) is then packed by one cached `struct.Struct` per (table, deletes, inserts) count, the very
    bytes the row codec's single pack call would produce row by row. A row the packer refuses
    falls back to the codec, which raises its usual error.
    """

    def __init__(
        self,
        names: Mapping[int, str],
        encoders: Mapping[int, Callable[[Row], bytes]],
        row_formats: Mapping[int, str] | None = None,
    ) -> None:
        self._heads = {tid: _pack_u32(tid) + _string(name) for tid, name in names.items()}
        self._encoders = encoders
        self._row_formats = dict(row_formats or {})
        #: (table id, n deletes, n inserts) -> pack(deletes, inserts) of that table's whole delta
        self._packers: dict[tuple[int, int, int], _Packer] = {}
        #: (table id, n deletes, n inserts, caller head length, args length) -> the whole payload's packer
        self._call_packers: dict[tuple[int, int, int, int, int], _CallPacker] = {}
        self._caller_name: str | None = None
        self._caller_identity = -1
        self._caller_connection = -1
        self._caller_head = b""
        #: The caller objects `_caller_head` was last made from by `encode_result` (None: by value).
        self._caller_obj: object = None
        self._connection_obj: object = None
        #: (table id, n deletes, n inserts, args length) -> the one-call packer for this caller head's length
        self._head_packers: dict[tuple[int, int, int, int], _CallPacker | None] = {}
        self._head_packers_by_len: dict[int, dict[tuple[int, int, int, int], _CallPacker | None]] = {}
        #: The last shape `encode_result` packed (table id, row counts, args length) and its packer.
        self._last_table = self._last_deletes = self._last_inserts = self._last_args = -1
        self._last_pack: _CallPacker | None = None

    def encode(
        self,
        tables: Mapping[int, TableDelta],
        sequences: Mapping[SequenceKey, int],
        reducer: ReducerCallInfo | None,
    ) -> bytes:
        if reducer is None:
            return self.encode_fields(tables, sequences, None, 0, 0, 0, b"")
        return self.encode_fields(
            tables, sequences, reducer.name, reducer.caller_identity, reducer.caller_connection_id,
            reducer.timestamp_us, reducer.args,
        )

    def encode_result(self, result: CommittedCall, args: bytes) -> bytes:
        """As `encode_fields` for a host's committed call (`args` its arguments as bytes).

        The per-call path of a server: the caller's head is reused while the call's caller and
        connection id are the very objects of the last call (they are immutable), and the usual
        one-table commit goes to its packer with one lookup."""
        delta = result.delta
        tables = delta.tables  # type: ignore[union-attr]
        if (
            result.caller is not self._caller_obj
            or result.connection_id is not self._connection_obj
            or result.reducer != self._caller_name
        ):
            self._use_caller(result)
        if len(tables) == 1 and not delta.sequences:  # type: ignore[union-attr]
            for tid in tables:  # (a key and a lookup cost less than an items() view)
                change = tables[tid]
                deletes = change.deletes
                inserts = change.inserts
                n_deletes = len(deletes)
                n_inserts = len(inserts)
                n_args = len(args)
                if (
                    n_deletes == self._last_deletes
                    and n_inserts == self._last_inserts
                    and n_args == self._last_args
                    and tid == self._last_table
                ):  # the last call's shape (a reducer's calls usually share one): no key to hash
                    call_pack = self._last_pack
                else:
                    call_pack = self._shape_packer(tid, n_deletes, n_inserts, n_args)
                if call_pack is not None:
                    try:
                        return call_pack(self._caller_head, result.timestamp.micros, args, deletes, inserts)
                    except (struct.error, TypeError, ValueError):
                        pass  # the general path names what is wrong
        return self.encode_fields(
            tables, delta.sequences, result.reducer, self._caller_identity, self._caller_connection,  # type: ignore[union-attr]
            result.timestamp.micros, args,
        )

    def _use_caller(self, result: CommittedCall) -> None:
        conn = result.connection_id
        identity = result.caller.value
        connection = 0 if conn is None else conn.value
        if (
            result.reducer != self._caller_name
            or identity != self._caller_identity
            or connection != self._caller_connection
        ):
            self._set_caller(result.reducer, identity, connection)
        self._caller_obj = result.caller
        self._connection_obj = conn

    def _shape_packer(self, tid: int, n_deletes: int, n_inserts: int, n_args: int) -> _CallPacker | None:
        """The one-call packer of this shape (`_head_packer`), remembered as the last shape."""
        key = (tid, n_deletes, n_inserts, n_args)
        call_pack = self._head_packers.get(key, _UNKNOWN)
        if call_pack is _UNKNOWN:
            call_pack = self._head_packer(key)
        self._last_table, self._last_deletes, self._last_inserts, self._last_args = key
        self._last_pack = call_pack
        return call_pack

    def _head_packer(self, key: tuple[int, int, int, int]) -> _CallPacker | None:
        """The one-call packer for `key` and this caller head's length (None: the general path;
        remembered too, up to `_MAX_CALL_PACKERS` shapes, so a table without one looks no further)."""
        tid, n_deletes, n_inserts, args_len = key
        pack = None
        if tid in self._row_formats:
            full = (tid, n_deletes, n_inserts, len(self._caller_head), args_len)
            pack = self._call_packers.get(full) or self._call_packer(full)
        if pack is not None or len(self._head_packers) < _MAX_CALL_PACKERS:
            self._head_packers[key] = pack
        return pack

    def encode_fields(
        self,
        tables: Mapping[int, TableDelta],
        sequences: Mapping[SequenceKey, int],
        reducer: str | None,
        caller_identity: int,
        caller_connection_id: int,
        timestamp_us: int,
        args: bytes,
    ) -> bytes:
        """As `encode`, with the reducer call's fields passed directly (`reducer` None: no call)."""
        if reducer is None:
            out = [_NONE]
        else:
            if (
                reducer != self._caller_name
                or caller_identity != self._caller_identity
                or caller_connection_id != self._caller_connection
            ):
                self._set_caller(reducer, caller_identity, caller_connection_id)
            if not sequences and len(tables) == 1:
                # The usual reducer commit (one flat table, no sequence change): one struct call
                # packs the whole payload, call and delta, with no list and no join.
                for tid, change in tables.items():
                    deletes = change.deletes
                    inserts = change.inserts
                    head = self._caller_head
                    key = (tid, len(deletes), len(inserts), len(head), len(args))
                    call_pack = self._call_packers.get(key)
                    if call_pack is None and tid in self._row_formats:
                        call_pack = self._call_packer(key)
                    if call_pack is not None:
                        try:
                            return call_pack(head, timestamp_us, args, deletes, inserts)
                        except (struct.error, TypeError, ValueError):
                            pass  # the general path below names what is wrong
            out = [self._caller_head, _TS_ARGLEN.pack(timestamp_us, len(args)), args]
        append = out.append
        n_tables = len(tables)
        if not sequences and n_tables < 64:
            append(_NO_SEQUENCES_THEN_TABLES[n_tables])
            if n_tables == 1:  # the usual commit: one table, one packer call, no loop
                for tid, change in tables.items():
                    deletes = change.deletes
                    inserts = change.inserts
                    pack = self._packers.get((tid, len(deletes), len(inserts)))
                    if pack is not None:
                        try:
                            append(pack(deletes, inserts))
                            return _checked(b"".join(out))
                        except (struct.error, TypeError, ValueError):
                            pass  # the general loop below falls back to the codec
        else:
            append(_pack_u32(len(sequences)))
            for (tid, col), value in sequences.items():
                append(_SEQ.pack(tid, col) + value.to_bytes(16, "little", signed=True))
            append(_LEN_PREFIX[n_tables] if n_tables < 1024 else _pack_u32(n_tables))
        packers = self._packers
        flat = self._row_formats
        for tid, change in tables.items():
            deletes = change.deletes
            inserts = change.inserts
            pack = packers.get((tid, len(deletes), len(inserts)))
            if pack is None and tid in flat:
                pack = self._packer(tid, len(deletes), len(inserts))
            if pack is not None:
                try:
                    append(pack(deletes, inserts))
                    continue
                except (struct.error, TypeError, ValueError):
                    pass  # a row the packer refuses: the codec below names what is wrong
            append(self._heads[tid])
            enc = self._encoders[tid]
            _append_rows(out, enc, deletes)
            _append_rows(out, enc, inserts)
        return _checked(b"".join(out))

    def _packer(self, table_id: int, n_deletes: int, n_inserts: int) -> _Packer | None:
        """`pack(deletes, inserts)` for a delta of these row counts of a flat table: one struct
        call packs the table's header, the counts, the length prefixes and every row's fields
        (generated once per shape; None past `_MAX_PACKED_ROWS` rows)."""
        if n_deletes + n_inserts > _MAX_PACKED_ROWS:
            return None
        plan = _PackPlan()
        plan.const(self._heads[table_id])
        plan.delta(self._row_formats[table_id], n_deletes, n_inserts)
        pack: _Packer = plan.compile("d, i")
        self._packers[(table_id, n_deletes, n_inserts)] = pack
        return pack

    def _call_packer(self, key: tuple[int, int, int, int, int]) -> _CallPacker | None:
        """`pack(caller_head, timestamp, args, deletes, inserts)`: the whole payload of a reducer call
        that changed one flat table, the same bytes as the general path (reducer call, no sequences,
        one table, its delta) in one `struct` call. None past the size limits."""
        table_id, n_deletes, n_inserts, head_len, args_len = key
        if (
            n_deletes + n_inserts > _MAX_PACKED_ROWS
            or args_len > _MAX_PACKED_ARGS
            or len(self._call_packers) >= _MAX_CALL_PACKERS
        ):
            return None
        plan = _PackPlan()
        plan.field(f"{head_len}s", "h")
        plan.field("q", "ts")
        plan.const(_pack_u32(args_len))
        plan.field(f"{args_len}s", "a")
        plan.const(_NO_SEQUENCES_THEN_TABLES[1] + self._heads[table_id])
        plan.delta(self._row_formats[table_id], n_deletes, n_inserts)
        pack: _CallPacker = plan.compile("h, ts, a, d, i")
        self._call_packers[key] = pack
        return pack

    def _set_caller(self, reducer: str, caller_identity: int, caller_connection_id: int) -> None:
        try:
            self._caller_head = (
                b"\x00" + _string(reducer) + caller_identity.to_bytes(32, "little")
                + caller_connection_id.to_bytes(16, "little")
            )
        except OverflowError as e:
            raise ConversionError(f"reducer call info does not fit its type: {e}", path="reducer") from e
        self._caller_name = reducer
        self._caller_identity = caller_identity
        self._caller_connection = caller_connection_id
        self._caller_obj = self._connection_obj = None  # `encode_result` checks the objects again
        self._last_table = -1  # the last shape's packer was for the old head's length
        head_packers = self._head_packers_by_len.get(len(self._caller_head))
        if head_packers is None:
            head_packers = self._head_packers_by_len[len(self._caller_head)] = {}
        self._head_packers = head_packers


def _checked(payload: bytes) -> bytes:
    """`payload`, if one commit-log record can carry it: refused here, the commit is undone and the
    log stays up (the writer would fail the whole log on it)."""
    if len(payload) > segment_format.MAX_PAYLOAD:
        raise ConversionError(
            f"the transaction's log record would be {len(payload)} bytes, over the "
            f"{segment_format.MAX_PAYLOAD}-byte limit of one commit-log record",
            path="payload",
        )
    return payload


def _append_rows(out: list[bytes], enc: Callable[[Row], bytes], rows: list[Row]) -> None:
    n = len(rows)
    out.append(_LEN_PREFIX[n] if n < 1024 else _pack_u32(n))
    for r in rows:
        b = enc(r)
        m = len(b)
        out.append(_LEN_PREFIX[m] if m < 1024 else _pack_u32(m))
        out.append(b)


class _PackPlan:
    """Builds a generated packer: one `struct` call whose fields are the packer's variables, with
    each run of constant bytes between them (counts, length prefixes, headers) one `s` field.

    Rows are taken apart by one nested unpacking per side (`((d0_0, d0_1), (d1_0, d1_1)) = d`),
    a plain call after: no star-arguments to build a tuple from, and a row of the wrong arity
    raises (ValueError/TypeError) instead of packing only its first fields."""

    def __init__(self) -> None:
        self._codes = ["<"]
        self._values: list[str] = []
        self._unpack: list[str] = []
        self._consts: dict[str, bytes] = {}
        self._run: list[bytes] = []

    def const(self, data: bytes) -> None:
        self._run.append(data)

    def field(self, code: str, expr: str) -> None:
        self._flush()
        self._codes.append(code)
        self._values.append(expr)

    def delta(self, row_format: str, n_deletes: int, n_inserts: int) -> None:
        """A table delta's rows: each side's count, then per row its length and fields."""
        size = struct.calcsize("<" + row_format)
        for side, count in (("d", n_deletes), ("i", n_inserts)):
            self.const(_pack_u32(count))
            rows = []
            for k in range(count):
                self.const(_pack_u32(size))
                names = [f"{side}{k}_{j}" for j in range(len(row_format))]
                for code, name in zip(row_format, names, strict=True):
                    self.field(code, name)
                rows.append(f"({', '.join(names)},)")
            if rows:
                self._unpack.append(f"    ({', '.join(rows)},) = {side}\n")

    def _flush(self) -> None:
        if self._run:
            name = f"_c{len(self._consts)}"
            self._consts[name] = data = b"".join(self._run)
            self._run = []
            self._codes.append(f"{len(data)}s")
            self._values.append(name)

    def compile(self, params: str) -> Any:
        self._flush()
        namespace: dict[str, Any] = {"_pack": struct.Struct("".join(self._codes)).pack, **self._consts}
        body = "".join(self._unpack) + f"    return _pack({', '.join(self._values)})\n"
        exec(f"def pack({params}):\n{body}", namespace)
        return namespace["pack"]
