// A sealed imitation of SpacetimeDB's V8 module host (crates/core/src/host/v8/, snapshot 2.8.x):
// - the module runs in a fresh `vm` context holding only V8's built-ins plus upstream's
//   TextEncoder/TextDecoder (builtins/text_encoding.js) and its throwing, configurable `Math.random`
//   getter (builtins/delete_math_random.js); no console, timers, fetch, crypto or performance;
// - the bundle is one ES module named `spacetimedb_module`; only `spacetime:sys@2.0` and `@2.1`
//   resolve (syscall/mod.rs `resolve_sys_module`), and there is no dynamic import;
// - evaluation must settle through microtasks alone (mod.rs `eval_module`: a still-pending module
//   is "module has top-level await and is pending");
// - the hooks come from the default export's `moduleHooks` symbol, called with the namespace and
//   checked as `get_hooks_from_default_export` (syscall/v2.rs) does;
// - every sys function works on the in-memory `Datastore`; failures are thrown as
//   `new (hooks.__get_error_constructor__(errno))(strerror)`, iterators as upstream's chunked ones.
// Needs `node --experimental-vm-modules`; run it with `--single-threaded` as the server runs V8.
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { types as utilTypes } from 'node:util';
import vm from 'node:vm';
import { Datastore, Errno, ERRNO } from './datastore.mjs';

// crates/primitives/src/errno.rs
const STRERROR = {
  1: 'ABI called by host returned an error', 2: 'ABI call can only be made while in a transaction',
  3: "Couldn't decode the BSATN to the expected type", 4: 'No such table', 5: 'No such index',
  6: 'The provided row iterator is not valid', 7: 'The provided console timer does not exist',
  8: 'The provided bytes source or sink is not valid', 9: 'The provided sink has no more space left',
  10: 'The Index does not support range scans', 11: 'The provided buffer is not large enough to store the data',
  12: 'Value with given unique identifier already exists', 13: 'Specified delay in scheduling row was too long',
  14: 'The index was not unique', 15: 'The row was not found, e.g., in an update call',
  16: 'The auto-increment sequence overflowed', 17: 'Attempted async or blocking op while holding open a transaction',
  18: 'Not in an anonymous transaction. Called by a reducer?', 19: 'ABI call can only be made while within a mutable transaction',
  20: 'ABI call can only be made while within a read-only transaction', 21: 'The HTTP request failed',
};
// instance_env.rs: a new chunk starts once the current one passes ROW_ITER_CHUNK_SIZE.
const ROW_ITER_CHUNK_SIZE = 32 * 1024;
// mod.rs: the worker's reusable reducer-arguments buffer.
const REDUCER_ARGS_BUFFER_SIZE = 4096;
// How many microtask turns evaluation may take before it counts as pending.
const MAX_MICROTASK_TURNS = 1_000_000;

// builtins/delete_math_random.js, verbatim.
const DELETE_MATH_RANDOM = `delete Math.random;
Object.defineProperty(Math, 'random', {
  enumerable: false,
  configurable: true,
  get() {
    throw new TypeError(
      'Math.random is not available in SpacetimeDB modules. Use ctx.random instead.'
    );
  },
});`;

// builtins/text_encoding.js, with the two natives passed in instead of imported.
const TEXT_ENCODING = `(utf8_encode, utf8_decode) => {
globalThis.TextEncoder = class TextEncoder {
  constructor() {}
  get encoding() { return 'utf-8'; }
  encode(input = '') { return utf8_encode(input); }
};
globalThis.TextDecoder = class TextDecoder {
  #encoding;
  #fatal;
  constructor(label = 'utf-8', options = {}) {
    if (label !== 'utf-8') throw new RangeError('The encoding label provided is invalid');
    this.#encoding = label;
    this.#fatal = !!options.fatal;
    if (options.ignoreBOM) throw new TypeError("Option 'ignoreBOM' not supported");
  }
  get encoding() { return this.#encoding; }
  get fatal() { return this.#fatal; }
  get ignoreBOM() { return false; }
  decode(input, options = {}) {
    if (options.stream) throw new TypeError("Option 'stream' not supported");
    if (input instanceof ArrayBuffer || input instanceof SharedArrayBuffer) input = new Uint8Array(input);
    return utf8_decode(input, this.#fatal);
  }
};
}`;

// Built-ins the server's V8 (14.5) has and Node 20's V8 (11.3) lacks, which the official TS runtime
// uses (`Set.prototype.isSubsetOf`, `Symbol.dispose` for its lowered `using`): defined only where
// missing, non-enumerable as V8's own.
const NEWER_V8_BUILTINS = `(() => {
const def = (o, name, value) => {
  if (!(name in o)) Object.defineProperty(o, name, { value, writable: true, configurable: true, enumerable: false });
};
def(Symbol, 'dispose', Symbol('Symbol.dispose'));
def(Symbol, 'asyncDispose', Symbol('Symbol.asyncDispose'));
const keys = (other) => [...other.keys()];
const S = Set.prototype;
def(S, 'union', function (o) { return new Set([...this, ...keys(o)]); });
def(S, 'intersection', function (o) { return new Set([...this].filter((x) => o.has(x))); });
def(S, 'difference', function (o) { return new Set([...this].filter((x) => !o.has(x))); });
def(S, 'symmetricDifference', function (o) {
  const out = new Set(this);
  for (const x of keys(o)) { if (this.has(x)) out.delete(x); else out.add(x); }
  return out;
});
def(S, 'isSubsetOf', function (o) { return [...this].every((x) => o.has(x)); });
def(S, 'isSupersetOf', function (o) { return keys(o).every((x) => this.has(x)); });
def(S, 'isDisjointFrom', function (o) { return [...this].every((x) => !o.has(x)); });
def(Promise, 'withResolvers', function () {
  let resolve, reject;
  const promise = new this((a, b) => { resolve = a; reject = b; });
  return { promise, resolve, reject };
});
const groupBy = (items, f, make, add) => { const out = make(); let i = 0; for (const x of items) add(out, f(x, i++), x); return out; };
def(Object, 'groupBy', (items, f) => groupBy(items, f, () => Object.create(null), (o, k, x) => { (o[k] ??= []).push(x); }));
def(Map, 'groupBy', (items, f) => groupBy(items, f, () => new Map(), (m, k, x) => { if (!m.has(k)) m.set(k, []); m.get(k).push(x); }));
})()`;

/** A context as the server's isolate sees it: built-ins, TextEncoder/TextDecoder, no Math.random. */
export function makeSealedContext() {
  const context = vm.createContext({}, { name: 'spacetimedb' });
  const G = vm.runInContext('({ Uint8Array, TypeError, RangeError, Error, Object, DataView, ArrayBuffer })', context);
  const decoderFatal = new TextDecoder('utf-8', { fatal: true });
  const utf8Encode = (s) => {
    const b = Buffer.from(String(s), 'utf8');
    const out = new G.Uint8Array(b.length);
    out.set(b);
    return out;
  };
  const utf8Decode = (view, fatal) => {
    if (!ArrayBuffer.isView(view)) throw new G.TypeError('argument is not an `ArrayBuffer` or a view on one');
    const bytes = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
    if (!fatal) return bytes.toString('utf8');
    try {
      return decoderFatal.decode(bytes);
    } catch (e) {
      throw new G.TypeError(String(e.message));
    }
  };
  vm.runInContext(TEXT_ENCODING, context)(utf8Encode, utf8Decode);
  vm.runInContext(DELETE_MATH_RANDOM, context);
  vm.runInContext(NEWER_V8_BUILTINS, context);
  return { context, G };
}

/** Runs queued microtasks only (never a macrotask turn) until `done()` or the bound. */
async function drainMicrotasks(done, bound = MAX_MICROTASK_TURNS) {
  for (let i = 0; i < bound && !done(); i++) await Promise.resolve();
}

function describeThrown(e) {
  try {
    if (e !== null && typeof e === 'object' && typeof e.stack === 'string' && e.stack) return e.stack;
    return String(e);
  } catch {
    return 'uncaught exception (not convertible to a string)';
  }
}

export class SealedHost {
  /**
   * Loads `source` (the bundle's text) as upstream does on publish: evaluate, find the hooks,
   * describe the module, build the datastore from its definition.
   * Options: `identity` (the database identity, a bigint u256).
   */
  static async load(source, { identity = 0xc200_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0001n } = {}) {
    const host = new SealedHost(identity);
    const t0 = performance.now();
    const ns = await host.#evaluate(source);
    const t1 = performance.now();
    host.#findHooks(ns);
    const t2 = performance.now();
    host.describeBytes = host.#describe();
    host.ds = new Datastore(host.describeBytes);
    const t3 = performance.now();
    host.timings = { evaluate_ms: t1 - t0, hooks_ms: t2 - t1, describe_ms: t3 - t2, total_ms: t3 - t0 };
    return host;
  }

  constructor(identity) {
    const { context, G } = makeSealedContext();
    this.context = context;
    this.G = G;
    this.identity = identity;
    this.hooks = null;
    this.env = null; // set for the length of one call, as upstream's JsInstanceEnv
    this.sysModules = new Map([
      ['spacetime:sys@2.0', () => this.#sysModule('spacetime:sys@2.0', this.#sysV20())],
      ['spacetime:sys@2.1', () => this.#sysModule('spacetime:sys@2.1', { datastore_clear: (t) => this.ds.clear(this.#u32(t)) })],
    ]);
    this.moduleHooksSymbol = Symbol('SpacetimeDB.moduleHooks.v2');
    this.argsBuffer = new this.G.ArrayBuffer(REDUCER_ARGS_BUFFER_SIZE); // V8 `Symbol::for_api`: not reachable by Symbol.for
  }

  async #evaluate(source) {
    if (typeof source !== 'string') source = new TextDecoder('utf-8', { fatal: true }).decode(source);
    const module = new vm.SourceTextModule(source, { identifier: 'spacetimedb_module', context: this.context });
    const cache = new Map();
    await module.link((specifier) => {
      const make = this.sysModules.get(specifier);
      if (!make) {
        const legacy = /^spacetime:sys@1\.[0-3]$/.test(specifier);
        throw new this.G.TypeError(legacy
          ? `the sealed host implements the sys@2.x ABI only, not ${JSON.stringify(specifier)}`
          : `Could not find module ${JSON.stringify(specifier)}`);
      }
      if (!cache.has(specifier)) cache.set(specifier, make());
      return cache.get(specifier);
    });
    let settled = false;
    const evaluation = module.evaluate().then(() => { settled = true; }, () => { settled = true; });
    await drainMicrotasks(() => settled);
    if (module.status === 'errored') throw module.error;
    if (!settled || module.status !== 'evaluated') {
      evaluation.catch(() => {});
      throw new this.G.TypeError('module has top-level await and is pending');
    }
    return module.namespace;
  }

  /** `get_hooks` + `get_hooks_from_default_export` (syscall/mod.rs, v2.rs). */
  #findHooks(ns) {
    const dflt = ns.default;
    if (dflt === null || dflt === undefined) throw new Error('must export schema as default export');
    const isObject = (v) => v !== null && (typeof v === 'object' || typeof v === 'function');
    if (!isObject(dflt)) throw new Error('default export is not a Schema object');
    const hooksFn = dflt[this.moduleHooksSymbol];
    if (typeof hooksFn !== 'function') throw new this.G.TypeError('expected hooks function');
    const hooks = hooksFn.call(dflt, ns);
    if (!isObject(hooks)) throw new this.G.TypeError('expected hooks object');
    const fn = (name) => {
      const f = hooks[name];
      if (typeof f !== 'function') throw new this.G.TypeError(`expected module function hook \`${name}\``);
      return f;
    };
    this.hooks = {
      recv: hooks,
      describe: fn('__describe_module__'),
      getErrorConstructor: fn('__get_error_constructor__'),
      senderErrorClass: fn('__sender_error_class__'),
      callReducer: fn('__call_reducer__'),
      callView: fn('__call_view__'),
      callViewAnon: fn('__call_view_anon__'),
      callProcedure: fn('__call_procedure__'),
      callHttpHandler: null,
    };
    const http = hooks.__call_http_handler__;
    if (http !== null && http !== undefined) {
      if (typeof http !== 'function') throw new this.G.TypeError('expected module function hook `__call_http_handler__`');
      this.hooks.callHttpHandler = http;
    }
  }

  #describe() {
    const bytes = this.hooks.describe.call(this.hooks.recv);
    if (!utilTypes.isUint8Array(bytes)) throw new this.G.TypeError('expected bytes return from `__describe_module__`');
    return new Uint8Array(bytes); // a host-realm copy
  }

  // ---- the sys modules ----

  #sysModule(name, fns) {
    const names = Object.keys(fns);
    const exportNames = name === 'spacetime:sys@2.0' ? ['moduleHooks', ...names] : names;
    const wrapped = Object.fromEntries(names.map((n) => [n, this.#syscall(fns[n])]));
    const symbol = this.moduleHooksSymbol;
    return new vm.SyntheticModule(exportNames, function () {
      if (name === 'spacetime:sys@2.0') this.setExport('moduleHooks', symbol);
      for (const n of names) this.setExport(n, wrapped[n]);
    }, { identifier: name, context: this.context });
  }

  /** Upstream's `with_sys_result`: errno -> the module's error class; no env -> code 1. */
  #syscall(fn) {
    return (...args) => {
      try {
        if (!this.env) throw new Errno(1, 'cannot call this function during module initialization');
        return fn(...args);
      } catch (e) {
        throw this.#toJsError(e);
      }
    };
  }

  #toJsError(e) {
    if (e instanceof Errno) {
      const message = e.code === 1 && e.message.startsWith('cannot call') ? e.message : (STRERROR[e.code] ?? 'Unknown error');
      if (!this.hooks) return new this.G.Error(message);
      const cls = this.hooks.getErrorConstructor.call(undefined, e.code);
      if (typeof cls !== 'function') return new this.G.TypeError('expected function');
      return new cls(message);
    }
    if (e instanceof HostTypeError) return new this.G.TypeError(e.message);
    if (e instanceof HostRangeError) return new this.G.RangeError(e.message);
    return e; // already a value of the module's realm (a BufferTooSmall object, an exception it threw)
  }

  #u32(v) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new HostTypeError('expected u32');
    return v;
  }
  #u16(v) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff) throw new HostTypeError('expected u16');
    return v;
  }
  #buffer(v, len) {
    if (!utilTypes.isArrayBuffer(v)) throw new HostTypeError('expected `ArrayBuffer`');
    if (len > v.byteLength) throw new HostRangeError('length argument was out of bounds for `ArrayBuffer`');
    return new Uint8Array(v, 0, len);
  }
  #string(v) {
    if (typeof v !== 'string') throw new HostTypeError('expected string');
    return v;
  }

  /** Registers rows as an iterator of upstream-sized chunks. */
  #iterator(rows) {
    const chunks = [];
    let cur = [];
    let size = 0;
    for (const row of rows) {
      cur.push(row.bytes);
      size += row.bytes.length;
      if (size > ROW_ITER_CHUNK_SIZE) { chunks.push(Buffer.concat(cur)); cur = []; size = 0; }
    }
    if (cur.length) chunks.push(Buffer.concat(cur));
    const id = this.env.nextIter++;
    this.env.iters.set(id, chunks);
    return id;
  }

  #sysV20() {
    const ds = () => this.ds;
    const env = () => this.env;
    const rangeArgs = (buf, prefixLen, prefixElems, rstartLen, rendLen) => {
      const [pl, pe, sl, el] = [this.#u32(prefixLen), this.#u16(prefixElems), this.#u32(rstartLen), this.#u32(rendLen)];
      if (!utilTypes.isArrayBuffer(buf)) throw new HostTypeError('expected `ArrayBuffer`');
      const all = new Uint8Array(buf);
      if (pl + sl + el > all.length) throw new HostRangeError('length argument was out of bounds for `ArrayBuffer`');
      const prefix = all.subarray(0, pl);
      const rstart = all.subarray(pl, pl + sl);
      const rend = el === 0 ? rstart : all.subarray(pl + sl, pl + sl + el);
      return [prefix, pe, rstart, rend];
    };
    return {
      table_id_from_name: (name) => ds().tableIdFromName(this.#string(name)),
      index_id_from_name: (name) => ds().indexIdFromName(this.#string(name)),
      datastore_table_row_count: (t) => ds().rowCount(this.#u32(t)),
      datastore_table_scan_bsatn: (t) => this.#iterator(ds().scanTable(this.#u32(t))),
      datastore_index_scan_range_bsatn: (i, buf, pl, pe, sl, el) =>
        this.#iterator(ds().scanRange(this.#u32(i), ...rangeArgs(buf, pl, pe, sl, el))),
      row_iter_bsatn_advance: (iter, buf) => {
        const id = this.#u32(iter);
        if (!utilTypes.isArrayBuffer(buf)) throw new HostTypeError('expected `ArrayBuffer`');
        const chunks = env().iters.get(id);
        if (!chunks) throw new Errno(ERRNO.NO_SUCH_ITER);
        const out = new Uint8Array(buf);
        let written = 0;
        while (chunks.length && written + chunks[0].length <= out.length) {
          out.set(chunks[0], written);
          written += chunks.shift().length;
        }
        if (written === 0 && chunks.length) {
          // error.rs `BufferTooSmall`: a plain object the module grows its buffer from.
          const exc = new this.G.Object();
          exc.__buffer_too_small__ = chunks[0].length;
          throw exc;
        }
        if (!chunks.length) { env().iters.delete(id); return -written; }
        return written;
      },
      row_iter_bsatn_close: (iter) => {
        if (!env().iters.delete(this.#u32(iter))) throw new Errno(ERRNO.NO_SUCH_ITER);
      },
      datastore_insert_bsatn: (t, buf, len) => ds().insert(this.#u32(t), this.#buffer(buf, this.#u32(len))),
      datastore_update_bsatn: (t, i, buf, len) =>
        ds().update(this.#u32(t), this.#u32(i), this.#buffer(buf, this.#u32(len))),
      datastore_delete_by_index_scan_range_bsatn: (i, buf, pl, pe, sl, el) =>
        ds().deleteByRange(this.#u32(i), ...rangeArgs(buf, pl, pe, sl, el)),
      datastore_delete_all_by_eq_bsatn: (t, buf, len) =>
        ds().deleteAllByEq(this.#u32(t), this.#buffer(buf, this.#u32(len))),
      volatile_nonatomic_schedule_immediate: (name, args) => {
        env().scheduled.push({ reducer: this.#string(name), args: Buffer.from(args).toString('hex') });
      },
      console_log: (level, message) => {
        env().logs.push({ level: Number(level) & 0xff, message: String(message) });
      },
      console_timer_start: (name) => {
        const id = env().nextTimer++;
        env().timers.set(id, String(name));
        return id;
      },
      console_timer_end: (id) => {
        if (!env().timers.delete(this.#u32(id))) throw new Errno(ERRNO.NO_SUCH_CONSOLE_TIMER);
      },
      identity: () => this.identity,
      get_jwt_payload: (connectionId) => {
        if (typeof connectionId !== 'bigint') throw new HostTypeError('expected u128');
        const jwt = env().jwt ?? '';
        const bytes = Buffer.from(jwt, 'utf8');
        const out = new this.G.Uint8Array(bytes.length);
        out.set(bytes);
        return out;
      },
      // The sealed host has no network: a procedure's HTTP request fails as a refused one would.
      procedure_http_request: () => { throw new Errno(ERRNO.HTTP_ERROR); },
      procedure_start_mut_tx: () => {
        if (env().kind !== 'procedure' || this.ds.tx) throw new Errno(ERRNO.WOULD_BLOCK_TRANSACTION);
        this.ds.begin();
        return env().timestamp;
      },
      procedure_commit_mut_tx: () => {
        if (env().kind !== 'procedure' || !this.ds.tx) throw new Errno(ERRNO.TRANSACTION_NOT_ANONYMOUS);
        this.ds.commit();
      },
      procedure_abort_mut_tx: () => {
        if (env().kind !== 'procedure' || !this.ds.tx) throw new Errno(ERRNO.TRANSACTION_NOT_ANONYMOUS);
        this.ds.rollback();
      },
      datastore_index_scan_point_bsatn: (i, buf, len) =>
        this.#iterator(ds().scanPoint(this.#u32(i), this.#buffer(buf, this.#u32(len)))),
      datastore_delete_by_index_scan_point_bsatn: (i, buf, len) =>
        ds().deleteByPoint(this.#u32(i), this.#buffer(buf, this.#u32(len))),
    };
  }

  // ---- calls into the module ----

  /** Runs `body` with a call environment; microtasks queued by the module run before it closes. */
  async #withEnv(kind, timestamp, body, jwt) {
    this.env = { kind, timestamp, iters: new Map(), nextIter: 0, timers: new Map(), nextTimer: 0, logs: [], scheduled: [], jwt };
    try {
      const result = body();
      // V8's auto microtask policy runs the checkpoint when the host's call returns, env still set.
      await drainMicrotasks(() => false, 64);
      return { result, logs: this.env.logs, scheduled: this.env.scheduled };
    } finally {
      this.env = null;
    }
  }

  #classify(e) {
    const cls = this.hooks.senderErrorClass;
    if (e !== null && (typeof e === 'object' || typeof e === 'function') && e instanceof cls) {
      return { outcome: 'sender_error', message: String(e.message) };
    }
    return { outcome: 'error', message: describeThrown(e) };
  }

  /** A reducer call in its own transaction: committed when it returns, rolled back when it throws. */
  async callReducer({ id, sender = 0n, connectionId = 0n, timestamp = 0n, args = new Uint8Array(0), jwt }) {
    this.ds.begin();
    let outcome = { outcome: 'ok' };
    const done = await this.#withEnv('reducer', timestamp, () => {
      // v2.rs `reducer_args_to_value`: arguments that fit go into the worker's one reused 4 KiB
      // buffer (a view of its first bytes; later bytes are stale), bigger ones into their own.
      let buf = this.argsBuffer;
      if (args.length > buf.byteLength) buf = new this.G.ArrayBuffer(args.length);
      new Uint8Array(buf).set(args);
      try {
        const view = new this.G.DataView(buf, 0, args.length);
        const ret = this.hooks.callReducer.call(this.hooks.recv, id, sender, connectionId, timestamp, view);
        if (ret !== undefined) outcome = { outcome: 'error', message: 'TypeError: Reducer returned a value other than `undefined`' };
      } catch (e) {
        outcome = this.#classify(e);
      }
    }, jwt);
    if (outcome.outcome === 'ok') this.ds.commit(); else this.ds.rollback();
    return { ...outcome, logs: done.logs, scheduled: done.scheduled };
  }

  /** A procedure: no transaction of its own; `procedure_start_mut_tx` opens one. */
  async callProcedure({ id, sender = 0n, connectionId = 0n, timestamp = 0n, args = new Uint8Array(0) }) {
    let outcome;
    const done = await this.#withEnv('procedure', timestamp, () => {
      const a = new this.G.Uint8Array(args.length);
      a.set(args);
      try {
        const ret = this.hooks.callProcedure.call(this.hooks.recv, id, sender, connectionId, timestamp, a);
        if (!utilTypes.isUint8Array(ret)) outcome = { outcome: 'error', message: 'TypeError: expected bytes return from `__call_procedure__`' };
        else outcome = { outcome: 'ok', result: Buffer.from(ret).toString('hex') };
      } catch (e) {
        outcome = this.#classify(e);
      }
    });
    if (this.ds.tx) this.ds.rollback(); // a transaction left open is not committed
    return { ...outcome, logs: done.logs };
  }

  /** A view, over a read-only transaction; returns `data` (header first) as hex. */
  async callView({ id, sender = null, args = new Uint8Array(0), timestamp = 0n }) {
    this.ds.begin({ readOnly: true });
    let outcome;
    const done = await this.#withEnv('view', timestamp, () => {
      const a = new this.G.Uint8Array(args.length);
      a.set(args);
      try {
        const ret = sender === null
          ? this.hooks.callViewAnon.call(this.hooks.recv, id, a)
          : this.hooks.callView.call(this.hooks.recv, id, sender, a);
        const data = ret !== null && typeof ret === 'object' ? ret.data : undefined;
        if (!utilTypes.isUint8Array(data)) outcome = { outcome: 'error', message: 'TypeError: expected bytes in the `data` field' };
        else outcome = { outcome: 'ok', result: Buffer.from(data).toString('hex') };
      } catch (e) {
        outcome = this.#classify(e);
      }
    });
    this.ds.rollback();
    return { ...outcome, logs: done.logs };
  }

  reducerId(name) {
    const i = this.ds.def.reducers.findIndex((r) => r.source_name === name);
    if (i < 0) throw new Error(`no reducer named ${JSON.stringify(name)}`);
    return i;
  }
  lifecycleReducer(spec) {
    const l = this.ds.def.lifecycle.find((x) => x.spec === spec);
    return l ? this.reducerId(l.function_name) : null;
  }
}

class HostTypeError extends Error {}
class HostRangeError extends Error {}
