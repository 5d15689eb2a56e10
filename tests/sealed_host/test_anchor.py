"""The sealed host's fidelity anchor: an official TypeScript module (npm `spacetimedb` 2.10.1,
bundled by esbuild as the official CLI bundles one) runs in it, and its schema and reducer effects
are what SpacetimeDB's datastore would give: auto-increment write-back, a unique violation thrown
as the module's own error class, SenderError as a user error, rollback of a failed reducer, btree
range scans and deletes, row iteration past the iterator's buffer. Plus the sealing itself: what
the module's global scope holds, which imports resolve, and that evaluation settles by microtasks."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.sealed_host.sealed import NODE_DIR, SealedHost, SealedHostError, node_available

from spacetimedb import bsatn
from spacetimedb.module import raw_def as r
from spacetimedb.module.export import decode_module_def_bsatn
from spacetimedb.sats import algebraic_type as at

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(not node_available(), reason="node or tests/node/node_modules is missing (run scripts/test)"),
]

HERE = Path(__file__).parent
ITEM = at.product(("id", at.U64), ("sku", at.STRING), ("owner", at.U32), ("qty", at.I32))


def esbuild(entry: Path, out: Path) -> None:
    """Bundles as the official CLI does for JS modules: one ESM file, `spacetime:sys*` external."""
    subprocess.run(
        [
            str(NODE_DIR / "node_modules" / ".bin" / "esbuild"), str(entry), "--bundle", "--format=esm",
            "--platform=neutral", "--target=es2022", "--external:spacetime:sys*", f"--outfile={out}", "--log-level=warning",
        ],
        check=True,
        env={**os.environ, "NODE_PATH": str(NODE_DIR / "node_modules")},
        timeout=120,
    )


@pytest.fixture(scope="module")
def ts_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ts-anchor") / "bundle.mjs"
    esbuild(HERE / "ts_module" / "index.ts", out)
    return out


@pytest.fixture
def host(ts_bundle: Path) -> Iterator[SealedHost]:
    with SealedHost() as h:
        h.start(ts_bundle)
        yield h


def items(h: SealedHost) -> list[tuple[int, str, int, int]]:
    return sorted(bsatn.decode(row, ITEM) for row in h.tables()["item"])


def args(**kw: object) -> bytes:
    return bsatn.encode(tuple(kw.values()), at.product(*((k, _ty(v)) for k, v in kw.items())))


def _ty(v: object) -> at.AlgebraicType:
    return at.STRING if isinstance(v, str) else at.I32 if isinstance(v, int) and v < 0 else at.U32


def test_schema_decodes_as_raw_module_def_v10(host: SealedHost) -> None:
    data = host.describe()
    assert data[0] == 2  # RawModuleDef::V10
    raw = decode_module_def_bsatn(data[1:])
    assert isinstance(raw, r.RawModuleDefV10)
    tables = next(s.value for s in raw.sections if s.tag == "Tables")
    item = next(t for t in tables if t.source_name == "item")
    assert item.primary_key == [0]
    assert [s.column for s in item.sequences] == [0]
    assert sorted(c.data.value.columns for c in item.constraints) == [[0], [1]]
    assert {(i.accessor_name, i.algorithm.tag, tuple(i.algorithm.value)) for i in item.indexes} == {
        ("id", "BTree", (0,)), ("sku", "BTree", (1,)), ("by_owner", "BTree", (2,)),
    }
    reducers = [x.source_name for x in next(s.value for s in raw.sections if s.tag == "Reducers")]
    assert "add_item" in reducers and "init" in reducers
    assert host.timings["total_ms"] > 0


def test_init_and_auto_increment_write_back(host: SealedHost) -> None:
    assert host.lifecycle("init").ok
    assert host.tables()["note"] == [bsatn.encode(("init",), at.product(("text", at.STRING)))]
    first = host.call_reducer("add_item", args(sku="a", owner=7, qty=5))
    second = host.call_reducer("add_item", args(sku="b", owner=8, qty=6))
    assert first.ok and second.ok
    # The module read the generated id back from the row buffer the host wrote it into.
    assert first.logs == [(2, "inserted a as 1")] and second.logs == [(2, "inserted b as 2")]
    assert items(host) == [(1, "a", 7, 5), (2, "b", 8, 6)]


def test_unique_violation_is_the_modules_error_class_and_burns_a_sequence_value(host: SealedHost) -> None:
    assert host.call_reducer("add_item", args(sku="a", owner=7, qty=5)).ok
    dup = host.call_reducer("dup_sku", args(sku="a"))
    assert dup.outcome == "error"
    assert dup.logs == [(2, "caught UniqueAlreadyExists")]
    assert "Value with given unique identifier already exists" in (dup.message or "")
    # As upstream, a sequence value taken by a failed insert stays taken.
    assert host.call_reducer("add_item", args(sku="c", owner=7, qty=1)).logs == [(2, "inserted c as 3")]


def test_sender_error_is_a_user_error_and_rolls_back(host: SealedHost) -> None:
    call = host.call_reducer("add_item", args(sku="neg", owner=1, qty=-1))
    assert (call.outcome, call.message) == ("sender_error", "negative qty for neg")
    missing = host.call_reducer("set_qty", args(sku="nope", qty=1))
    assert (missing.outcome, missing.message) == ("sender_error", "no item nope")
    assert items(host) == []


def test_thrown_error_rolls_back_every_write(host: SealedHost) -> None:
    assert host.call_reducer("add_item", args(sku="a", owner=7, qty=5)).ok
    before = host.tables()
    fail = host.call_reducer("add_then_fail", args(sku="z"))
    assert fail.outcome == "error" and "boom" in (fail.message or "")
    assert host.tables() == before


def test_update_by_primary_key(host: SealedHost) -> None:
    assert host.call_reducer("add_item", args(sku="a", owner=7, qty=5)).ok
    assert host.call_reducer("set_qty", args(sku="a", qty=42)).ok
    assert items(host) == [(1, "a", 7, 42)]


def test_btree_range_scan_and_delete(host: SealedHost) -> None:
    for sku, owner in [("w", 5), ("x", 3), ("y", 4), ("z", 6), ("v", 3)]:
        assert host.call_reducer("add_item", args(sku=sku, owner=owner, qty=1)).ok
    call = host.call_reducer("drop_owners", args(lo=3, hi=5))
    assert call.ok
    # Index order (owner, then insertion), then the count deleted.
    assert call.logs == [(2, "dropping x,v,y"), (2, "dropped 3")]
    assert [(i[1], i[2]) for i in items(host)] == [("w", 5), ("z", 6)]


def test_rows_larger_than_the_iterator_buffer(host: SealedHost) -> None:
    # Each row is bigger than the module's 64 KiB iterator buffer: BufferTooSmall, grow, go on.
    assert host.call_reducer("bulk", args(n=3, pad=70_000)).ok
    assert host.call_reducer("add_item", args(sku="small", owner=1, qty=10)).ok
    assert host.call_reducer("census").logs == [(2, "count=4 total=13")]


def _start_raw(tmp_path: Path, source: str) -> str:
    bundle = tmp_path / "raw.mjs"
    bundle.write_text(source, encoding="utf-8")
    with SealedHost() as h:
        try:
            h.start(bundle)
        except SealedHostError as e:
            return str(e)
    return "loaded"


HOOKS = """
import { moduleHooks } from 'spacetime:sys@2.0';
const describe = () => new Uint8Array([2, 0, 0, 0, 0]);
export default { [moduleHooks]: () => ({
  __describe_module__: describe, __get_error_constructor__: () => Error, __sender_error_class__: Error,
  __call_reducer__() {}, __call_view__() {}, __call_view_anon__() {}, __call_procedure__() {},
}) };
"""


def test_only_the_sys_modules_resolve(tmp_path: Path) -> None:
    assert _start_raw(tmp_path, HOOKS) == "loaded"
    assert 'Could not find module "node:fs"' in _start_raw(tmp_path, "import 'node:fs';\n" + HOOKS)
    assert "sys@2.x ABI only" in _start_raw(tmp_path, "import 'spacetime:sys@1.0';\n" + HOOKS)


def test_the_global_scope_is_sealed(tmp_path: Path) -> None:
    # V8 itself puts a `console` (wired to no embedder output) on every context, upstream's too.
    probe = """
const absent = ['setTimeout', 'setInterval', 'queueMicrotask', 'fetch', 'crypto', 'performance',
  'process', 'require', 'Buffer', 'atob', 'structuredClone'].filter((n) => n in globalThis);
if (absent.length) throw new Error('present: ' + absent);
let threw = false;
try { Math.random(); } catch (e) { threw = e instanceof TypeError; }
if (!threw) throw new Error('Math.random did not throw');
if (!Object.getOwnPropertyDescriptor(Math, 'random').configurable) throw new Error('not configurable');
if (new TextDecoder().decode(new TextEncoder().encode('héllo')) !== 'héllo') throw new Error('utf-8');
if (typeof WebAssembly.Module !== 'function') throw new Error('no wasm');
"""
    assert _start_raw(tmp_path, probe + HOOKS) == "loaded"


def test_evaluation_settles_by_microtasks_only(tmp_path: Path) -> None:
    assert _start_raw(tmp_path, "await Promise.resolve(1);\n" + HOOKS) == "loaded"
    pending = _start_raw(tmp_path, "await new Promise(() => {});\n" + HOOKS)
    assert "module has top-level await and is pending" in pending
    # A WebAssembly promise needs the event loop in this V8; the server never runs it.
    wasm = "await WebAssembly.compile(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));\n"
    assert "module has top-level await and is pending" in _start_raw(tmp_path, wasm + HOOKS)


def test_hooks_are_checked_as_upstream(tmp_path: Path) -> None:
    assert "must export schema as default export" in _start_raw(tmp_path, "export const x = 1;\n")
    missing = HOOKS.replace("__call_procedure__() {},", "")
    assert "`__call_procedure__`" in _start_raw(tmp_path, missing)


def test_multi_column_index_prefix_point_and_range(host: SealedHost) -> None:
    assert host.call_reducer("pairs", args(n=3)).ok
    assert host.lifecycle("init").ok
    call = host.call_reducer("scan_pairs", args(a=1, lo=0))
    assert call.ok, call.message
    assert call.logs == [
        (2, "after=1/1 exact=1/0 prefix=3"),
        (2, "deleted=true again=false cleared=1 left=8"),
    ]
    assert host.tables()["note"] == []


def test_procedure_transactions_commit_and_abort(host: SealedHost) -> None:
    text = bsatn.encode(("n1", False), at.product(("text", at.STRING), ("fail", at.BOOL)))
    first = host.call_procedure("tx_proc", text)
    assert first.ok and first.result == (1).to_bytes(4, "little")
    failing = bsatn.encode(("n2", True), at.product(("text", at.STRING), ("fail", at.BOOL)))
    second = host.call_procedure("tx_proc", failing)
    assert second.ok and second.result == (2).to_bytes(4, "little")
    note = at.product(("text", at.STRING))
    assert sorted(bsatn.decode(row, note) for row in host.tables()["note"]) == [("n1",), ("n2",)]


def test_views_return_their_rows(host: SealedHost) -> None:
    assert host.call_reducer("add_item", args(sku="a", owner=7, qty=5)).ok
    assert host.call_reducer("add_item", args(sku="b", owner=8, qty=6)).ok
    row_a = bsatn.encode((1, "a", 7, 5), ITEM)
    row_b = bsatn.encode((2, "b", 8, 6), ITEM)
    mine = host.call_view("my_items", sender=1007)
    assert mine.ok, mine.message
    assert mine.result is not None and row_a in mine.result and row_b not in mine.result
    every = host.call_view("all_items")
    assert every.ok and every.result is not None and row_a in every.result and row_b in every.result
    assert items(host) == [(1, "a", 7, 5), (2, "b", 8, 6)]  # views write nothing
