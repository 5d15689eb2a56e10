// The sealed host's in-memory datastore, built from a module's RawModuleDef V10, with upstream's
// semantics for what a module can observe through `spacetime:sys@2.x`
// (crates/datastore/src/locking_tx_datastore/mut_tx.rs, crates/core/src/host/instance_env.rs):
// set semantics (inserting an identical row is a no-op), unique constraints (errno 12), sequences
// filled where the inserted value is 0 and never rolled back, update through a unique index
// (errno 14/15), point and range scans in index order, and one transaction at a time with an undo
// log for rollback. Event tables keep their rows only until commit.
import { Buffer } from 'node:buffer';
import {
  DecodeError, INTS, Reader, compareValues, concatBytes, encodeInt, intRange, readModuleDef, readValue, resolve,
} from './bsatn.mjs';

export const ERRNO = {
  HOST_CALL_FAILURE: 1, NOT_IN_TRANSACTION: 2, BSATN_DECODE_ERROR: 3, NO_SUCH_TABLE: 4, NO_SUCH_INDEX: 5,
  NO_SUCH_ITER: 6, NO_SUCH_CONSOLE_TIMER: 7, NO_SUCH_BYTES: 8, NO_SPACE: 9, WRONG_INDEX_ALGO: 10,
  BUFFER_TOO_SMALL: 11, UNIQUE_ALREADY_EXISTS: 12, SCHEDULE_AT_DELAY_TOO_LONG: 13, INDEX_NOT_UNIQUE: 14,
  NO_SUCH_ROW: 15, AUTO_INC_OVERFLOW: 16, WOULD_BLOCK_TRANSACTION: 17, TRANSACTION_NOT_ANONYMOUS: 18,
  TRANSACTION_IS_READ_ONLY: 19, TRANSACTION_IS_MUT: 20, HTTP_ERROR: 21,
};

/** A failed datastore call: the sys layer turns it into `new (__get_error_constructor__(code))(msg)`. */
export class Errno extends Error {
  constructor(code, detail) {
    super(detail ?? `errno ${code}`);
    this.code = code;
  }
}

// Upstream's first user table id and index ids; modules only see them through *_from_name.
const FIRST_TABLE_ID = 4096;
const FIRST_INDEX_ID = 4096;
const latin1 = (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');

class Table {
  constructor(id, def, types) {
    this.id = id;
    this.def = def;
    this.name = def.source_name;
    this.types = types;
    const rowType = resolve({ tag: 'Ref', ref: def.product_type_ref }, types);
    if (rowType.tag !== 'Product') throw new Error(`table ${this.name}: row type is not a product`);
    this.columns = rowType.elements;
    this.rows = new Map(); // latin1(row bytes) -> row
    this.uniques = def.constraints.map((c) => ({ cols: c.unique, keys: new Map() }));
    if (def.primary_key.length && !this.uniques.some((u) => sameCols(u.cols, def.primary_key))) {
      this.uniques.push({ cols: def.primary_key, keys: new Map() });
    }
    this.sequences = def.sequences.map((s) => {
      const kind = resolve(this.columns[s.column].type, types).tag;
      if (!INTS[kind]) throw new Error(`table ${this.name}: sequence on a non-integer column`);
      const [tmin, tmax] = intRange(kind);
      const min = s.min_value ?? 1n;
      const max = s.max_value ?? tmax;
      return {
        column: s.column, kind, increment: s.increment, next: s.start ?? 1n,
        min: min > tmin ? min : tmin, max: max < tmax ? max : tmax,
      };
    });
    this.isEvent = def.is_event;
  }

  /** Decodes a row, keeping each column's bytes. */
  decode(bytes) {
    const r = new Reader(bytes);
    const values = [];
    const slices = [];
    for (const col of this.columns) {
      const at = r.o;
      values.push(readValue(r, col.type, this.types));
      slices.push(bytes.subarray(at, r.o));
    }
    if (!r.done()) throw new DecodeError('trailing bytes after row');
    return { values, slices, bytes, key: latin1(bytes), seq: 0 };
  }

  keyOf(row, cols) {
    return latin1(concatBytes(cols.map((c) => row.slices[c])));
  }
}

function sameCols(a, b) {
  return a.length === b.length && a.every((c, i) => c === b[i]);
}

export class Datastore {
  constructor(moduleDefBytes) {
    this.def = readModuleDef(moduleDefBytes);
    const types = this.def.typespace;
    this.tables = [];
    this.indexes = [];
    this.tableByName = new Map();
    this.indexByName = new Map();
    this.insertCounter = 0;
    const explicit = new Map(this.def.explicit_names.map((e) => [`${e.kind}:${e.source_name}`, e.canonical_name]));
    for (const tdef of this.def.tables) {
      const table = new Table(FIRST_TABLE_ID + this.tables.length, tdef, types);
      this.tables.push(table);
      // Upstream resolves a table by its name or alias (`table_id_from_name_or_alias`).
      this.tableByName.set(tdef.source_name, table);
      const canonical = explicit.get(`Table:${tdef.source_name}`);
      if (canonical) this.tableByName.set(canonical, table);
      for (const idef of tdef.indexes) {
        const cols = idef.algorithm.columns;
        const index = {
          id: FIRST_INDEX_ID + this.indexes.length, table, cols, kind: idef.algorithm.kind,
          unique: table.uniques.some((u) => sameCols(u.cols, cols)), name: idef.source_name,
        };
        this.indexes.push(index);
        for (const n of [idef.source_name, idef.accessor_name, explicit.get(`Index:${idef.source_name}`)]) {
          if (n && !this.indexByName.has(n)) this.indexByName.set(n, index);
        }
      }
    }
    this.tx = null;
  }

  // ---- transactions ----

  begin({ readOnly = false } = {}) {
    if (this.tx) throw new Error('a transaction is already open');
    this.tx = { undo: [], readOnly };
  }
  commit() {
    for (const t of this.tables) if (t.isEvent) for (const row of [...t.rows.values()]) this.#remove(t, row);
    this.tx = null;
  }
  rollback() {
    const { undo } = this.tx;
    for (let i = undo.length - 1; i >= 0; i--) {
      const [op, table, row] = undo[i];
      if (op === 'ins') this.#remove(table, row); else this.#add(table, row);
    }
    this.tx = null;
  }
  #inTx(write = false) {
    if (!this.tx) throw new Errno(ERRNO.NOT_IN_TRANSACTION);
    if (write && this.tx.readOnly) throw new Errno(ERRNO.TRANSACTION_IS_READ_ONLY);
  }
  #add(table, row) {
    table.rows.set(row.key, row);
    for (const u of table.uniques) u.keys.set(table.keyOf(row, u.cols), row);
  }
  #remove(table, row) {
    table.rows.delete(row.key);
    for (const u of table.uniques) {
      const k = table.keyOf(row, u.cols);
      if (u.keys.get(k) === row) u.keys.delete(k);
    }
  }
  #logged(op, table, row) {
    if (op === 'ins') this.#add(table, row); else this.#remove(table, row);
    this.tx.undo.push([op, table, row]);
  }

  // ---- lookups ----

  table(id) {
    const t = this.tables[id - FIRST_TABLE_ID];
    if (!t) throw new Errno(ERRNO.NO_SUCH_TABLE);
    return t;
  }
  index(id) {
    const i = this.indexes[id - FIRST_INDEX_ID];
    if (!i) throw new Errno(ERRNO.NO_SUCH_INDEX);
    return i;
  }
  tableIdFromName(name) {
    this.#inTx();
    const t = this.tableByName.get(name);
    if (!t) throw new Errno(ERRNO.NO_SUCH_TABLE);
    return t.id;
  }
  indexIdFromName(name) {
    this.#inTx();
    const i = this.indexByName.get(name);
    if (!i) throw new Errno(ERRNO.NO_SUCH_INDEX);
    return i.id;
  }
  rowCount(tableId) {
    this.#inTx();
    return BigInt(this.table(tableId).rows.size);
  }

  // ---- writes ----

  #decodeRow(table, bytes) {
    try {
      return table.decode(bytes);
    } catch (e) {
      if (e instanceof DecodeError) throw new Errno(ERRNO.BSATN_DECODE_ERROR, e.message);
      throw e;
    }
  }

  /** Fills sequence triggers (value 0); returns the generated columns in column order. */
  #generate(table, row) {
    const gen = [];
    for (const s of table.sequences) {
      const v = row.values[s.column];
      if (v !== 0 && v !== 0n) continue;
      const value = s.next;
      if (value < s.min || value > s.max) throw new Errno(ERRNO.AUTO_INC_OVERFLOW);
      s.next = value + s.increment; // taken values stay taken, even on rollback
      row.values[s.column] = typeof v === 'bigint' ? value : Number(value);
      row.slices[s.column] = encodeInt(s.kind, value);
      gen.push(s.column);
    }
    if (gen.length) {
      row.bytes = concatBytes(row.slices);
      row.key = latin1(row.bytes);
    }
    return gen.sort((a, b) => a - b);
  }

  #checkUnique(table, row, except) {
    for (const u of table.uniques) {
      const other = u.keys.get(table.keyOf(row, u.cols));
      if (other && other !== except) {
        throw new Errno(ERRNO.UNIQUE_ALREADY_EXISTS, `unique constraint on ${table.name} (${u.cols}) violated`);
      }
    }
  }

  /** Writes the generated columns' BSATN over the start of `buf`; returns its length. */
  #writeBack(row, gen, buf) {
    const out = concatBytes(gen.map((c) => row.slices[c]));
    buf.set(out, 0);
    return out.length;
  }

  insert(tableId, buf) {
    this.#inTx(true);
    const table = this.table(tableId);
    const row = this.#decodeRow(table, buf.slice());
    const gen = this.#generate(table, row);
    const existing = table.rows.get(row.key);
    if (existing) return this.#writeBack(existing, gen, buf); // set semantics
    this.#checkUnique(table, row, null);
    row.seq = ++this.insertCounter;
    this.#logged('ins', table, row);
    return this.#writeBack(row, gen, buf);
  }

  update(tableId, indexId, buf) {
    this.#inTx(true);
    const table = this.table(tableId);
    const row = this.#decodeRow(table, buf.slice());
    const gen = this.#generate(table, row);
    const index = this.index(indexId);
    if (index.table !== table) throw new Errno(ERRNO.NO_SUCH_INDEX);
    if (!index.unique) throw new Errno(ERRNO.INDEX_NOT_UNIQUE);
    const u = table.uniques.find((x) => sameCols(x.cols, index.cols));
    const old = u.keys.get(table.keyOf(row, index.cols));
    if (!old) throw new Errno(ERRNO.NO_SUCH_ROW);
    if (old.key !== row.key) {
      this.#checkUnique(table, row, old);
      this.#logged('del', table, old);
      row.seq = ++this.insertCounter;
      this.#logged('ins', table, row);
    }
    return this.#writeBack(row, gen, buf);
  }

  #deleteRows(table, rows) {
    for (const row of rows) this.#logged('del', table, row);
    return rows.length;
  }

  deleteAllByEq(tableId, relation) {
    this.#inTx(true);
    const table = this.table(tableId);
    const r = new Reader(relation);
    let count = 0;
    try {
      const n = r.u32();
      for (let i = 0; i < n; i++) {
        const at = r.o;
        for (const col of table.columns) readValue(r, col.type, table.types);
        const found = table.rows.get(latin1(relation.subarray(at, r.o)));
        if (found) { this.#logged('del', table, found); count++; }
      }
    } catch (e) {
      if (e instanceof DecodeError) throw new Errno(ERRNO.BSATN_DECODE_ERROR, e.message);
      throw e;
    }
    return count;
  }

  clear(tableId) {
    this.#inTx(true);
    const table = this.table(tableId);
    return BigInt(this.#deleteRows(table, [...table.rows.values()]));
  }

  deleteByPoint(indexId, point) {
    this.#inTx(true);
    const index = this.index(indexId);
    return this.#deleteRows(index.table, this.scanPoint(indexId, point));
  }
  deleteByRange(indexId, prefix, prefixElems, rstart, rend) {
    this.#inTx(true);
    const index = this.index(indexId);
    return this.#deleteRows(index.table, this.scanRange(indexId, prefix, prefixElems, rstart, rend));
  }

  // ---- reads: each returns rows; the sys layer chunks them into an iterator ----

  scanTable(tableId) {
    this.#inTx();
    return [...this.table(tableId).rows.values()];
  }

  #sorted(index, rows) {
    const { table, cols } = index;
    return rows.sort((a, b) => {
      for (const c of cols) {
        const d = compareValues(a.values[c], b.values[c], table.columns[c].type, table.types);
        if (d) return d;
      }
      return a.seq - b.seq;
    });
  }

  #decodeKeyParts(index, bytes, from, count) {
    const { table, cols } = index;
    const r = new Reader(bytes);
    const out = [];
    for (let i = from; i < from + count; i++) {
      if (i >= cols.length) throw new DecodeError('more key elements than the index has columns');
      out.push(readValue(r, table.columns[cols[i]].type, table.types));
    }
    if (!r.done()) throw new DecodeError('trailing bytes after key');
    return out;
  }

  #decodeBound(index, col, bytes) {
    const r = new Reader(bytes);
    const tag = r.u8();
    if (tag === 2) { if (!r.done()) throw new DecodeError('trailing bytes after bound'); return { kind: 'unbounded' }; }
    if (tag > 2) throw new DecodeError(`bad Bound tag ${tag}`);
    if (col >= index.cols.length) throw new DecodeError('bound past the index columns');
    const c = index.cols[col];
    const value = readValue(r, index.table.columns[c].type, index.table.types);
    if (!r.done()) throw new DecodeError('trailing bytes after bound');
    return { kind: tag === 0 ? 'included' : 'excluded', value, bytes };
  }

  scanPoint(indexId, point) {
    this.#inTx();
    const index = this.index(indexId);
    const { table, cols } = index;
    let key;
    try {
      key = this.#decodeKeyParts(index, point, 0, cols.length);
    } catch (e) {
      if (e instanceof DecodeError) throw new Errno(ERRNO.BSATN_DECODE_ERROR, e.message);
      throw e;
    }
    const hit = [...table.rows.values()].filter((row) => cols.every((c, i) =>
      compareValues(row.values[c], key[i], table.columns[c].type, table.types) === 0));
    return this.#sorted(index, hit);
  }

  scanRange(indexId, prefix, prefixElems, rstart, rend) {
    this.#inTx();
    const index = this.index(indexId);
    const { table, cols } = index;
    let pre, lo, hi;
    try {
      pre = this.#decodeKeyParts(index, prefixElems ? prefix : new Uint8Array(0), 0, prefixElems);
      lo = this.#decodeBound(index, prefixElems, rstart);
      hi = this.#decodeBound(index, prefixElems, rend);
    } catch (e) {
      if (e instanceof DecodeError) throw new Errno(ERRNO.BSATN_DECODE_ERROR, e.message);
      throw e;
    }
    // A hash index answers points only (upstream: "The Index does not support range scans").
    const isPoint = lo.kind === 'included' && hi.kind === 'included' && Buffer.compare(lo.bytes, hi.bytes) === 0;
    if (index.kind === 'Hash' && !(isPoint && prefixElems + 1 === cols.length)) throw new Errno(ERRNO.WRONG_INDEX_ALGO);
    const cmp = (row, i, v) => compareValues(row.values[cols[i]], v, table.columns[cols[i]].type, table.types);
    const hit = [...table.rows.values()].filter((row) => {
      for (let i = 0; i < prefixElems; i++) if (cmp(row, i, pre[i]) !== 0) return false;
      if (lo.kind !== 'unbounded') {
        const d = cmp(row, prefixElems, lo.value);
        if (d < 0 || (d === 0 && lo.kind === 'excluded')) return false;
      }
      if (hi.kind !== 'unbounded') {
        const d = cmp(row, prefixElems, hi.value);
        if (d > 0 || (d === 0 && hi.kind === 'excluded')) return false;
      }
      return true;
    });
    return this.#sorted(index, hit);
  }

  /** Every table's rows as BSATN, sorted by bytes (a stable order independent of insertion). */
  dump() {
    const out = {};
    for (const t of this.tables) {
      out[t.name] = [...t.rows.values()].map((r) => Buffer.from(r.bytes).toString('hex')).sort();
    }
    return out;
  }
}
