// The entry of a `spacetimedb build` bundle: one ES module for SpacetimeDB's V8 module host whose
// only imports are `spacetime:sys@2.0` and `@2.1`. It starts Pyodide (CPython for WebAssembly,
// embedded), runs the Python adapter `spacetimedb.jshost` over the sys functions, and exports
// the module hooks (crates/bindings-typescript/src/server/sys.d.ts) as the default export.
//
// The host's rules (crates/core/src/host/v8): evaluation must settle through microtasks alone
// (no timers, no fetch), WebAssembly is compiled synchronously, there is no file system and no
// Math.random (shims.mjs, imported first, supplies what the Emscripten glue expects instead).
import { decodeInto, file, sizeOf, take } from './shims.mjs';
import { CONFIG } from './payload.mjs';
import * as sys from 'spacetime:sys@2.0';
import * as sys21 from 'spacetime:sys@2.1';
import { loadPyodide } from 'pyodide/pyodide.mjs';
import createPyodideModule from 'pyodide/pyodide.asm.mjs';

const { moduleHooks } = sys;

// ---- errors -------------------------------------------------------------------------------------

/** What the host throws from a sys function: an instance of `__get_error_constructor__(errno)`. */
class HostError extends Error {
  get name() { return 'SpacetimeHostError'; }
  get code() { return this.constructor.code ?? 1; }
}
const errorClasses = new Map();
function errorClass(code) {
  let cls = errorClasses.get(code);
  if (cls === undefined) {
    cls = class extends HostError {};
    cls.code = code;
    errorClasses.set(code, cls);
  }
  return cls;
}
/** Thrown for a Python `SenderError`: the host reports its message to the caller as a user error. */
class SenderError extends Error {
  get name() { return 'SenderError'; }
}

/** A failure string from the Python adapter ("s" sender error / "i" internal, then the message). */
function raise(failure) {
  if (failure[0] === 's') throw new SenderError(failure.slice(1));
  throw new Error(failure.slice(1));
}

// ---- the sys functions, shaped for Python (bytes in and out, errno codes as numbers) -------------

/** The connection id of the call running now (for `get_jwt_payload`). */
let currentConnId = 0n;

let leaf = new ArrayBuffer(64 * 1024);
/** `data` (bytes, or a Latin-1 string from Python: one proxy fewer per call) copied to the start of
 *  a shared ArrayBuffer large enough for it. */
function put(data) {
  const n = data.length;
  if (leaf.byteLength < n) leaf = new ArrayBuffer(Math.max(n, leaf.byteLength * 2));
  const view = new Uint8Array(leaf);
  if (typeof data === 'string') {
    for (let i = 0; i < n; i++) view[i] = data.charCodeAt(i);
  } else {
    view.set(data);
  }
  return leaf;
}
/** Bytes as a Latin-1 string (one char per byte): Python receives it as a str without a proxy. */
function latin1(bytes) {
  if (bytes.length <= 8192) return String.fromCharCode.apply(null, bytes);
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
  return s;
}
let iterBuf = new ArrayBuffer(64 * 1024);
/** Every row of a row iterator, concatenated; grows the buffer when the host says BufferTooSmall. */
function drain(iter) {
  const chunks = [];
  let total = 0;
  for (;;) {
    let n;
    try {
      n = sys.row_iter_bsatn_advance(iter, iterBuf);
    } catch (e) {
      if (e !== null && typeof e === 'object' && Object.hasOwn(e, '__buffer_too_small__')) {
        iterBuf = new ArrayBuffer(Math.max(e.__buffer_too_small__, iterBuf.byteLength * 2));
        continue;
      }
      throw e;
    }
    const len = n < 0 ? -n : n;
    if (len > 0) {
      chunks.push(new Uint8Array(iterBuf, 0, len).slice());
      total += len;
    }
    if (n <= 0) break;  // negative (or zero): exhausted, and the host has already freed the iterator
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) { out.set(c, o); o += c.length; }
  return out;
}
/** `fn()`, or the errno of the host error it threw. */
function errnoOf(fn) {
  try {
    return fn();
  } catch (e) {
    if (e instanceof HostError) return e.code;
    throw e;
  }
}

const glue = {
  table_id: (name) => sys.table_id_from_name(name),
  index_id: (name) => sys.index_id_from_name(name),
  count: (tid) => Number(sys.datastore_table_row_count(tid)),
  scan: (tid) => drain(sys.datastore_table_scan_bsatn(tid)),
  point: (iid, key) => drain(sys.datastore_index_scan_point_bsatn(iid, put(key), key.length)),
  range: (iid, buf, prefixLen, prefixElems, startLen, endLen) =>
    drain(sys.datastore_index_scan_range_bsatn(iid, put(buf), prefixLen, prefixElems, startLen, endLen)),
  // Insert/update write the generated (auto-increment) column values back into the buffer.
  // null when nothing was generated: one proxy fewer for Python on the common path.
  insert: (tid, row) => errnoOf(() => {
    const buf = put(row);
    const n = sys.datastore_insert_bsatn(tid, buf, row.length);
    return n === 0 ? null : new Uint8Array(buf, 0, n).slice();
  }),
  update: (tid, iid, row) => errnoOf(() => {
    const buf = put(row);
    const n = sys.datastore_update_bsatn(tid, iid, buf, row.length);
    return n === 0 ? null : new Uint8Array(buf, 0, n).slice();
  }),
  delete_eq: (tid, rel) => sys.datastore_delete_all_by_eq_bsatn(tid, put(rel), rel.length),
  delete_point: (iid, key) => sys.datastore_delete_by_index_scan_point_bsatn(iid, put(key), key.length),
  delete_range: (iid, buf, prefixLen, prefixElems, startLen, endLen) =>
    sys.datastore_delete_by_index_scan_range_bsatn(iid, put(buf), prefixLen, prefixElems, startLen, endLen),
  clear: (tid) => Number(sys21.datastore_clear(tid)),
  log: (level, message) => sys.console_log(level, message),
  identity: () => sys.identity(),
  // The connection id stays a BigInt on this side (a small one would reach Python and come back
  // as a Number, which the host's u128 argument rejects).
  jwt_payload: () => sys.get_jwt_payload(currentConnId),
  http_request: (request, body) => {
    try {
      return sys.procedure_http_request(request, body);
    } catch (e) {
      if (e instanceof HostError) return String(e.message || 'the HTTP request failed');
      throw e;
    }
  },
  start_tx: () => sys.procedure_start_mut_tx(),
  commit_tx: () => { try { sys.procedure_commit_mut_tx(); return true; } catch { return false; } },
  abort_tx: () => sys.procedure_abort_mut_tx(),
};

// ---- Pyodide, started synchronously -------------------------------------------------------------

/** Pyodide's module factory with a synchronous wasm instantiation: V8's async compile does not
 *  settle through microtasks alone on every version, and the host pumps nothing else. */
function createModule(settings) {
  settings.instantiateWasm = (imports, done) => {
    // Pyodide's JS fallback for the two imports its tiny helper wasm would otherwise provide.
    const marker = Symbol('error marker');
    imports.env.Jsv_GetError_import = () => marker;
    imports.env.JsvError_Check = (v) => v === marker;
    // Python str -> JS string for Latin-1 text with a char >= 0x80 (the row bytes this adapter
    // passes as Latin-1 strs, every call): the glue's own builds the string one char at a time,
    // ~10 us per row; the same string from the heap in one `fromCharCode`.
    imports.env._python2js_ucs1 = (ptr, len) => {
      const at = ptr >>> 0;
      return latin1(settings.HEAPU8.subarray(at, at + len));
    };
    const module = new WebAssembly.Module(take('pyodide.asm.wasm'));
    const instance = new WebAssembly.Instance(module, imports);
    // The wasm defines its own memory: grow it to the snapshot's heap before it is written in
    // (the snapshot was taken after the module's imports grew the heap).
    const memory = instance.exports.memory;
    if (CONFIG.snapshot && memory.buffer.byteLength < heapSize) {
      memory.grow(Math.ceil((heapSize - memory.buffer.byteLength) / 65536));
    }
    done(instance, module);
    return {};
  };
  if (CONFIG.snapshot) {
    // Pyodide restores a snapshot by copying its heap image over the wasm memory. It is handed
    // the header alone (nothing to copy), and the heap is decoded straight into the memory
    // instead: no 31 MB buffer of its own and no copy.
    let restore;
    Object.defineProperty(settings.API, 'restoreSnapshot', {
      configurable: true,
      set(fn) { restore = fn; },
      get() {
        return (header) => {
          const state = restore(header);
          decodeInto('snapshot_heap.bin', settings.HEAPU8);
          return state;
        };
      },
    });
  }
  return createPyodideModule(settings);
}

const lineTo = (level) => (line) => sys.console_log(level, line);
const heapSize = CONFIG.snapshot ? sizeOf('snapshot_heap.bin') : 0;
const pyodide = await loadPyodide({
  indexURL: '/pyodide/',
  stdLibURL: '/pyodide/python_stdlib.zip',
  lockFileContents: CONFIG.lock,
  createPyodideModule: createModule,
  stdout: lineTo(2),
  stderr: lineTo(1),
  _loadSnapshot: CONFIG.snapshot ? take('snapshot_header.bin') : undefined,
  _makeSnapshot: globalThis.__spacetimedb_make_snapshot__ === true,
  env: { PYTHONDONTWRITEBYTECODE: '1' },
});

// The user's module as files (tracebacks read them; `load_module` imports from a path).
for (const [path, text] of Object.entries(CONFIG.module_files)) {
  const full = `${CONFIG.module_root}/${path}`;
  pyodide.FS.mkdirTree(full.slice(0, full.lastIndexOf('/')));
  pyodide.FS.writeFile(full, text);
}
const boot = pyodide.pyimport('spacetimedb.jshost.boot');
// In a snapshot the module is already imported and prepared; `prepare` is then a no-op.
boot.prepare(CONFIG.module_path, CONFIG.module_name);
if (globalThis.__spacetimedb_make_snapshot__ === true) {
  globalThis.__spacetimedb_snapshot__ = pyodide.makeMemorySnapshot();
}
const host = boot.attach(glue);

// The definition as our native host exports it, computed by `spacetimedb build`.
const describe = file('module_def.bin');
const callReducer = host.call_reducer;
const callView = host.call_view;
const callViewAnon = host.call_view_anon;
const callProcedure = host.call_procedure;
const callHttpHandler = host.call_http_handler;

/** A BigInt as hex for Python (`glue.as_int`): Pyodide converts a BigInt 32 bits at a time with
 *  BigInt shifts in JS (~1-2 us each, three per call); a short str crosses as is. */
const hex = (n) => n.toString(16);

const hooks = {
  __describe_module__: () => describe,
  __get_error_constructor__: (code) => errorClass(code),
  __sender_error_class__: SenderError,
  __call_reducer__(id, sender, connId, timestamp, args) {
    currentConnId = connId;
    const failure = callReducer(id, hex(sender), hex(connId), hex(timestamp),
      latin1(new Uint8Array(args.buffer, args.byteOffset, args.byteLength)));
    if (failure !== undefined) raise(failure);
  },
  __call_view__(id, sender, args) {
    const out = callView(id, hex(sender), args);
    if (typeof out === 'string') raise(out);
    return { data: out };
  },
  __call_view_anon__(id, args) {
    const out = callViewAnon(id, args);
    if (typeof out === 'string') raise(out);
    return { data: out };
  },
  __call_procedure__(id, sender, connId, timestamp, args) {
    currentConnId = connId;
    const out = callProcedure(id, hex(sender), hex(connId), hex(timestamp), args);
    if (typeof out === 'string') raise(out);
    return out;
  },
  __call_http_handler__(id, timestamp, request, body) {
    currentConnId = 0n;
    const out = callHttpHandler(id, hex(timestamp), request, body);
    if (typeof out === 'string') raise(out);
    return out;
  },
};

export default { [moduleHooks]: () => hooks };
