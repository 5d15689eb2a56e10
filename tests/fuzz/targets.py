"""Fuzz targets: hostile bytes into each decoder a client can reach, only documented errors out.

Each target takes the fuzzer's bytes and either returns or raises. A documented error (the
decoder's own error type, which the server turns into a clear 4xx or WebSocket close) is caught
here; anything else escaping is a bug. Where a decoder accepts its input, the target also checks
what the server does next with the result (a decoded value must encode again, a parsed query must
bind or be refused cleanly, DML must leave the database consistent).

    TARGETS["bsatn"](data)   # raises only on a bug

Run them with `scripts/fuzz TARGET SECONDS` (atheris, coverage-guided), or replay the corpus with
`pytest tests/fuzz` (tests/fuzz/test_fuzz.py). The corpus of each target is tests/fuzz/corpus/TARGET/.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spacetimedb.bsatn import Codec, compile_node
from spacetimedb.engine.database import Database
from spacetimedb.module.args import ArgDecoder
from spacetimedb.module.call_errors import ReducerArgumentsError
from spacetimedb.module.json_args import json_decoder  # noqa: F401  (imported here so atheris instruments it)
from spacetimedb.module.loader import load_module
from spacetimedb.module.module_def import ModuleDef
from spacetimedb.protocol.client_frames import MalformedMessage, decode_client_frame
from spacetimedb.query import SqlError, compile_subscription, execute_sql
from spacetimedb.query.parser import parse_sql
from spacetimedb.sats.errors import ConversionError
from spacetimedb.sats.nodes import TUPLE, Field, ProductNode
from spacetimedb.server.http_limits import loads_bounded

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"
#: Every SATS type the SDK test module declares (one table and reducer per type, as upstream's).
TYPES_MODULE = ROOT / "tests" / "sdk_conformance" / "sdk_test_module.py"


# ---- shared fixtures, built once per process -------------------------------------------------


@functools.cache
def _module() -> ModuleDef:
    return load_module(TYPES_MODULE, name="fuzz_types")


@functools.cache
def _codecs() -> list[Codec]:
    """Row types of every table, then the argument product of every reducer."""
    m = _module()
    codecs = [compile_node(ProductNode(None, [Field(c.name, None, n) for c, n in zip(t.schema.columns, t.column_nodes, strict=True)], TUPLE)) for t in m.tables]
    codecs += [compile_node(d.product) for d in _arg_decoders()]
    return codecs


@functools.cache
def _arg_decoders() -> list[ArgDecoder]:
    m = _module()
    return [ArgDecoder(m, rd) for rd in m.reducers.values()]


def _pick(items: list[Any], data: bytes) -> tuple[Any, bytes]:
    """The first two bytes choose an item; the rest is the input."""
    if len(data) < 2:
        return items[0], b""
    return items[int.from_bytes(data[:2], "little") % len(items)], data[2:]


# ---- targets -------------------------------------------------------------------------------


def fuzz_bsatn(data: bytes) -> None:
    """BSATN decoding of a row or argument tuple of any SATS type: ConversionError only; what decodes
    encodes back to the same bytes (the encoding is canonical) and decodes to an equal value."""
    codec, body = _pick(_codecs(), data)
    try:
        value = codec.decode(body)
    except ConversionError:
        return
    again = codec.encode(value)
    if again != body:
        # Only a NaN may change its bytes (its payload is not kept); everything else is canonical.
        assert "nan" in repr(value) and repr(codec.decode(again)) == repr(value), f"{value!r} re-encodes differently"


def fuzz_client_message(data: bytes) -> None:
    """A WebSocket frame from a client, as v2 (one message) and v3 (many): MalformedMessage only."""
    for many in (False, True):
        try:
            decode_client_frame(data, many=many)
        except MalformedMessage:
            pass


@functools.cache
def _catalog() -> Any:
    from tests.query.schemas import catalog

    return catalog()


def _database() -> Any:
    from tests.query.schemas import ALL, PERSON, PET

    db = Database(ALL)
    tx = db.begin()
    for row in [(1, "Ann", 30), (2, "Bob", 40)]:
        tx.insert(PERSON.table_id, row)
    for row in [(10, 1, "cat"), (11, 2, "dog")]:
        tx.insert(PET.table_id, row)
    tx.commit()
    return db


def fuzz_sql(data: bytes) -> None:
    """SQL text through the parser, the binder and the planner, as `/sql` (owner and not, run in a
    transaction that is rolled back) and as a subscription: SqlError only."""
    flags = data[0] if data else 0
    text = data[1:].decode("utf-8", errors="replace")
    owner = bool(flags & 1)
    try:
        parse_sql(text, "subscription" if flags & 2 else "sql")
    except SqlError:
        pass
    try:
        compile_subscription(text, _catalog(), is_owner=owner)
    except SqlError:
        pass
    db = _database()
    tx = db.begin()
    try:
        execute_sql(text, _catalog(), tx, is_owner=owner)
    except SqlError:
        pass
    finally:
        tx.rollback()
    db.check_invariants()


def fuzz_call_json(data: bytes) -> None:
    """A `/call` body: JSON parsing as the route does, then the reducer's SATS-JSON arguments. Errors:
    ValueError for the body (TooDeep, bad JSON; the route answers 400), ReducerArgumentsError for
    the arguments (400). Accepted arguments must encode to BSATN (they become rows) and decode back."""
    decoder, body = _pick(_arg_decoders(), data)
    try:
        args = loads_bounded(body or b"[]")
    except ValueError:  # includes UnicodeDecodeError and TooDeep
        return
    try:
        values = decoder.json(args)
    except ReducerArgumentsError:
        return
    codec = compile_node(decoder.product)
    encoded = codec.encode(values)
    assert codec.encode(codec.decode(encoded)) == encoded


TARGETS: dict[str, Callable[[bytes], None]] = {
    "bsatn": fuzz_bsatn,
    "client_message": fuzz_client_message,
    "sql": fuzz_sql,
    "call_json": fuzz_call_json,
}
