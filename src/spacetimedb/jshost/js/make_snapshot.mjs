// Build step of `spacetimedb build`: evaluate a bundle once in a stub of SpacetimeDB's V8 host and
// write Pyodide's memory snapshot, taken after the module is imported (entry.mjs, `prepare`).
// node --experimental-vm-modules --single-threaded make_snapshot.mjs BUNDLE OUT
import { readFileSync, writeFileSync } from 'node:fs';
import vm from 'node:vm';

const [bundlePath, outPath] = process.argv.slice(2);
const context = vm.createContext({ TextEncoder, TextDecoder, __spacetimedb_make_snapshot__: true });
// As the host: Math.random is a configurable getter that throws (builtins/delete_math_random.js).
vm.runInContext(`Object.defineProperty(Math, 'random', { configurable: true, get() { throw new Error('Math.random is not available'); } });`, context);

const names = {
  '2.0': [
    'table_id_from_name', 'index_id_from_name', 'datastore_table_row_count', 'datastore_table_scan_bsatn',
    'datastore_index_scan_range_bsatn', 'row_iter_bsatn_advance', 'row_iter_bsatn_close', 'datastore_insert_bsatn',
    'datastore_update_bsatn', 'datastore_delete_by_index_scan_range_bsatn', 'datastore_delete_all_by_eq_bsatn',
    'volatile_nonatomic_schedule_immediate', 'console_log', 'console_timer_start', 'console_timer_end', 'identity',
    'get_jwt_payload', 'procedure_http_request', 'procedure_start_mut_tx', 'procedure_commit_mut_tx',
    'procedure_abort_mut_tx', 'datastore_index_scan_point_bsatn', 'datastore_delete_by_index_scan_point_bsatn',
  ],
  '2.1': ['datastore_clear'],
};
function sysModule(version) {
  const exports = version === '2.0' ? ['moduleHooks', ...names[version]] : names[version];
  return new vm.SyntheticModule(exports, function () {
    for (const name of names[version]) {
      this.setExport(name, name === 'console_log'
        ? (level, message) => process.stderr.write(`[${level}] ${message}\n`)
        : () => { throw new Error(`${name} is not available while the bundle is built`); });
    }
    if (version === '2.0') this.setExport('moduleHooks', Symbol.for('SpacetimeDB.moduleHooks.v2'));
  }, { context, identifier: `spacetime:sys@${version}` });
}
const sys = { 'spacetime:sys@2.0': sysModule('2.0'), 'spacetime:sys@2.1': sysModule('2.1') };
const module = new vm.SourceTextModule(readFileSync(bundlePath, 'utf8'), { context, identifier: 'spacetimedb_module' });
await module.link((specifier) => {
  const m = sys[specifier];
  if (m === undefined) throw new Error(`cannot import ${specifier}`);
  return m;
});
const done = module.evaluate();
let settled = false, failure;
done.then(() => { settled = true; }, (e) => { settled = true; failure = e; });
for (let i = 0; i < 1_000_000 && !settled; i++) await Promise.resolve();
if (failure !== undefined) { console.error(failure?.stack ?? String(failure)); process.exit(1); }
if (!settled) { console.error('the bundle did not settle through microtasks alone'); process.exit(1); }
const snapshot = context.__spacetimedb_snapshot__;
if (!ArrayBuffer.isView(snapshot)) { console.error('no snapshot was taken'); process.exit(1); }
writeFileSync(outPath, snapshot);
