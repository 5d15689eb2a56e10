"""The sealed host's sys functions called directly (no module library in between), on the schema
of `examples/bank.py`: the exact values, errnos and exceptions upstream's `syscall/v2.rs` gives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.sealed_host.sealed import SealedHost, node_available

from spacetimedb.module.export import module_def_bsatn
from spacetimedb.module.loader import load_module

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(not node_available(), reason="node or tests/node/node_modules is missing (run scripts/test)"),
]

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import * as sys from 'spacetime:sys@2.0';
import { moduleHooks } from 'spacetime:sys@2.0';
import { datastore_clear } from 'spacetime:sys@2.1';
const DEF = new Uint8Array(%(def)s);
const classes = new Map();
const errorClass = (code) => {
  if (!classes.has(code)) classes.set(code, class extends Error { constructor(m) { super(m); this.code = code; } });
  return classes.get(code);
};
class SenderError extends Error {}
let atInit;
try { sys.table_id_from_name('accounts'); atInit = 'no error'; } catch (e) { atInit = `${e.constructor === Error}:${e.message}`; }
const out = [];
const log = (m) => out.push(String(m));
const attempt = (f) => {
  try { return `ok:${f()}`; } catch (e) {
    if (e.code !== undefined) return `errno:${e.code}:${e.message}`;
    if (e && Object.hasOwn(e, '__buffer_too_small__')) return `small:${e.__buffer_too_small__}`;
    return `throw:${e.name}`;
  }
};
const row = (id, balance) => {
  const b = new ArrayBuffer(12); const v = new DataView(b);
  v.setUint32(0, id, true); v.setBigInt64(4, BigInt(balance), true); return b;
};
const bound = (tag, id) => { const b = new Uint8Array(tag === 2 ? 1 : 5); b[0] = tag; if (tag !== 2) new DataView(b.buffer).setUint32(1, id, true); return b; };
const concat = (...parts) => { const n = parts.reduce((a, p) => a + p.length, 0); const o = new Uint8Array(n); let i = 0; for (const p of parts) { o.set(p, i); i += p.length; } return o.buffer; };
function probe() {
  log(atInit);
  const t = sys.table_id_from_name('accounts');
  const i = sys.index_id_from_name('%(index)s');
  log(attempt(() => sys.table_id_from_name('nope')));
  log(attempt(() => sys.index_id_from_name('nope')));
  for (const [id, bal] of [[1, 10], [2, 20], [3, 30]]) log(attempt(() => sys.datastore_insert_bsatn(t, row(id, bal), 12)));
  log(attempt(() => sys.datastore_insert_bsatn(t, row(1, 10), 12)));
  log(attempt(() => sys.datastore_insert_bsatn(t, row(1, 99), 12)));
  log(attempt(() => sys.datastore_table_row_count(t)));
  const it = sys.datastore_table_scan_bsatn(t);
  log(attempt(() => sys.row_iter_bsatn_advance(it, new ArrayBuffer(4))));
  log(attempt(() => sys.row_iter_bsatn_advance(it, new ArrayBuffer(100))));
  log(attempt(() => sys.row_iter_bsatn_advance(it, new ArrayBuffer(100))));
  log(attempt(() => sys.row_iter_bsatn_close(it)));
  log(attempt(() => sys.datastore_update_bsatn(t, i, row(2, 25), 12)));
  log(attempt(() => sys.datastore_update_bsatn(t, i, row(7, 1), 12)));
  const point = new Uint8Array([2, 0, 0, 0]).buffer;
  const p = sys.datastore_index_scan_point_bsatn(i, point, 4);
  const buf = new ArrayBuffer(64);
  log(attempt(() => sys.row_iter_bsatn_advance(p, buf)) + ':' + new DataView(buf).getBigInt64(4, true));
  const r = sys.datastore_index_scan_range_bsatn(i, concat(bound(0, 2), bound(2)), 0, 0, 5, 1);
  log(attempt(() => sys.row_iter_bsatn_advance(r, new ArrayBuffer(64))));
  log(attempt(() => sys.datastore_delete_by_index_scan_range_bsatn(i, concat(bound(0, 3)), 0, 0, 5, 0)));
  const rel = concat(new Uint8Array([1, 0, 0, 0]), new Uint8Array(row(1, 10)));
  log(attempt(() => sys.datastore_delete_all_by_eq_bsatn(t, rel, 16)));
  log(attempt(() => sys.datastore_delete_all_by_eq_bsatn(t, rel, 16)));
  log(attempt(() => sys.datastore_table_row_count(t)));
  log(attempt(() => sys.datastore_insert_bsatn(t, row(5, 5), 100)));
  log(attempt(() => sys.datastore_insert_bsatn(t, row(5, 5), 5)));
  log(attempt(() => sys.procedure_start_mut_tx()));
  log(attempt(() => datastore_clear(t)));
  log(attempt(() => sys.identity()));
}
export default { [moduleHooks]: () => ({
  __describe_module__: () => DEF,
  __get_error_constructor__: errorClass,
  __sender_error_class__: SenderError,
  __call_reducer__(id, sender, conn, ts, args) {
    if (id === 0) { out.length = 0; probe(); for (const m of out) sys.console_log(2, m); return; }
    sys.datastore_insert_bsatn(sys.table_id_from_name('accounts'), row(42, 1), 12);
    if (id === 1) throw new SenderError(`no ${args.byteLength}/${args.buffer.byteLength} ${typeof sender} ${typeof conn} ${ts}`);
    return 7;
  },
  __call_view__() {}, __call_view_anon__() {}, __call_procedure__() {},
}) };
"""


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SealedHost]:
    module = load_module(ROOT / "examples" / "bank.py")
    index = module.tables[0].schema.indexes[0].name
    definition = list(module_def_bsatn(module, wrapped=True))
    bundle = tmp_path_factory.mktemp("abi") / "probe.mjs"
    bundle.write_text(PROBE % {"def": definition, "index": index}, encoding="utf-8")
    with SealedHost() as h:
        h.start(bundle, identity=0xABC)
        yield h


def test_sys_functions_behave_as_upstream(host: SealedHost) -> None:
    call = host.call_reducer(0)
    assert call.ok, call.message
    assert [m for _, m in call.logs] == [
        "true:cannot call this function during module initialization",  # no env outside a call
        "errno:4:No such table",
        "errno:5:No such index",
        "ok:0", "ok:0", "ok:0",  # no sequences: nothing written back
        "ok:0",  # an identical row: set semantics
        "errno:12:Value with given unique identifier already exists",
        "ok:3",
        "small:36",  # the three rows are one chunk
        "ok:-36",  # negated: exhausted, and the iterator is gone
        "errno:6:The provided row iterator is not valid",
        "errno:6:The provided row iterator is not valid",
        "ok:0",
        "errno:15:The row was not found, e.g., in an update call",
        "ok:-12:25",
        "ok:-24",  # [2, unbounded): rows 2 and 3
        "ok:1",
        "ok:1",
        "ok:0",
        "ok:1",
        "throw:RangeError",  # length past the buffer
        "errno:3:Couldn't decode the BSATN to the expected type",
        "errno:17:Attempted async or blocking op while holding open a transaction",
        "ok:1",  # datastore_clear (sys@2.1)
        f"ok:{0xABC}",
    ]
    assert host.tables()["accounts"] == []  # the probe cleared what it wrote


def test_hook_arguments_sender_error_and_return_value(host: SealedHost) -> None:
    err = host.call_reducer(1, b"xyz", sender=5, connection_id=6, timestamp=7)
    # The arguments are a view of the first bytes of upstream's reused 4 KiB buffer.
    assert (err.outcome, err.message) == ("sender_error", "no 3/4096 bigint bigint 7")
    big = host.call_reducer(1, bytes(5000))
    assert big.message == "no 5000/5000 bigint bigint 0"
    bad = host.call_reducer(2)
    assert bad.outcome == "error" and "other than `undefined`" in (bad.message or "")
    assert host.tables()["accounts"] == []  # both rolled back
