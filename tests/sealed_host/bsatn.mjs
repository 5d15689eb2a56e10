// BSATN for the sealed host: a reader, AlgebraicType values as upstream's `AlgebraicType` enum encodes
// them, typed value decoding (each column keeps its byte slice, so keys and rows are re-assembled from
// bytes, never re-encoded), upstream's value ordering (`Ord for AlgebraicValue`) and the
// RawModuleDef V10 sections a datastore needs. Runs in the host realm, never inside the module's context.

export class DecodeError extends Error {}

export class Reader {
  constructor(bytes, offset = 0) {
    this.b = bytes;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.o = offset;
  }
  need(n) {
    if (this.o + n > this.b.length) throw new DecodeError(`BSATN: ${n} bytes needed at ${this.o}, ${this.b.length - this.o} left`);
    const at = this.o;
    this.o += n;
    return at;
  }
  done() { return this.o === this.b.length; }
  u8() { return this.b[this.need(1)]; }
  bool() {
    const v = this.u8();
    if (v > 1) throw new DecodeError(`BSATN: bad bool ${v}`);
    return v === 1;
  }
  u16() { return this.dv.getUint16(this.need(2), true); }
  u32() { return this.dv.getUint32(this.need(4), true); }
  i128() { return BigInt.asIntN(128, this.uBig(16)); }
  uBig(n) {
    const at = this.need(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.b[at + i]);
    return v;
  }
  bytes() { const n = this.u32(); const at = this.need(n); return this.b.subarray(at, at + n); }
  string() {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.bytes());
    } catch (e) {
      if (e instanceof DecodeError) throw e;
      throw new DecodeError('BSATN: invalid UTF-8');
    }
  }
  option(f) {
    const tag = this.u8();
    if (tag === 0) return f();
    if (tag === 1) return null;
    throw new DecodeError(`BSATN: bad option tag ${tag}`);
  }
  vec(f) { const n = this.u32(); const out = []; for (let i = 0; i < n; i++) out.push(f()); return out; }
  unitSum(names) {
    const tag = this.u8();
    if (tag >= names.length) throw new DecodeError(`BSATN: bad tag ${tag} for ${names.join('|')}`);
    return names[tag];
  }
}

// ---- AlgebraicType (tags as upstream's enum: Ref, Sum, Product, Array, String, Bool, I8 .. F64) ----

const PRIMS = ['String', 'Bool', 'I8', 'U8', 'I16', 'U16', 'I32', 'U32', 'I64', 'U64',
  'I128', 'U128', 'I256', 'U256', 'F32', 'F64'];
// Integer kinds: byte width and signedness.
export const INTS = {
  I8: [1, true], U8: [1, false], I16: [2, true], U16: [2, false], I32: [4, true], U32: [4, false],
  I64: [8, true], U64: [8, false], I128: [16, true], U128: [16, false], I256: [32, true], U256: [32, false],
};

export function readType(r) {
  const tag = r.u8();
  switch (tag) {
    case 0: return { tag: 'Ref', ref: r.u32() };
    case 1: return { tag: 'Sum', variants: r.vec(() => ({ name: r.option(() => r.string()), type: readType(r) })) };
    case 2: return { tag: 'Product', elements: readProduct(r) };
    case 3: return { tag: 'Array', elem: readType(r) };
    default:
      if (tag - 4 < PRIMS.length) return { tag: PRIMS[tag - 4] };
      throw new DecodeError(`BSATN: bad AlgebraicType tag ${tag}`);
  }
}
function readProduct(r) {
  return r.vec(() => ({ name: r.option(() => r.string()), type: readType(r) }));
}

// ---- values ------------------------------------------------------------------------------------

/** Resolves `Ref`s against the typespace. */
export function resolve(ty, types) {
  let guard = 0;
  while (ty.tag === 'Ref') {
    if (ty.ref >= types.length || guard++ > 1000) throw new DecodeError(`bad type ref ${ty.ref}`);
    ty = types[ty.ref];
  }
  return ty;
}

/** Decodes one value of `ty`: ints < 64 bits as numbers, wider as BigInt; products/arrays as arrays;
 * sums as {tag, value}; strings as JS strings. */
export function readValue(r, ty, types) {
  ty = resolve(ty, types);
  const int = INTS[ty.tag];
  if (int) {
    const [w, signed] = int;
    if (w <= 4) {
      const at = r.need(w);
      const dv = r.dv;
      if (w === 1) return signed ? dv.getInt8(at) : dv.getUint8(at);
      if (w === 2) return signed ? dv.getInt16(at, true) : dv.getUint16(at, true);
      return signed ? dv.getInt32(at, true) : dv.getUint32(at, true);
    }
    const v = r.uBig(w);
    return signed ? BigInt.asIntN(w * 8, v) : v;
  }
  switch (ty.tag) {
    case 'Bool': return r.bool();
    case 'String': return r.string();
    case 'F32': return r.dv.getFloat32(r.need(4), true);
    case 'F64': return r.dv.getFloat64(r.need(8), true);
    case 'Product': return ty.elements.map((e) => readValue(r, e.type, types));
    case 'Array': return r.vec(() => readValue(r, ty.elem, types));
    case 'Sum': {
      const tag = r.u8();
      if (tag >= ty.variants.length) throw new DecodeError(`BSATN: sum tag ${tag} out of range`);
      return { tag, value: readValue(r, ty.variants[tag].type, types) };
    }
    default: throw new DecodeError(`cannot decode type ${ty.tag}`);
  }
}

const utf8 = new TextEncoder();
function cmpBytes(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}
function cmpFloat(a, b) {
  // Total order as upstream's float wrappers: NaN above everything, equal to NaN.
  const an = Number.isNaN(a); const bn = Number.isNaN(b);
  if (an || bn) return an === bn ? 0 : (an ? 1 : -1);
  return a < b ? -1 : (a > b ? 1 : 0);
}

/** Upstream's `Ord for AlgebraicValue` on values of one type. */
export function compareValues(a, b, ty, types) {
  ty = resolve(ty, types);
  if (INTS[ty.tag] || ty.tag === 'Bool') return a < b ? -1 : (a > b ? 1 : 0);
  switch (ty.tag) {
    case 'String': return a === b ? 0 : cmpBytes(utf8.encode(a), utf8.encode(b));
    case 'F32': case 'F64': return cmpFloat(a, b);
    case 'Product':
      for (let i = 0; i < ty.elements.length; i++) {
        const c = compareValues(a[i], b[i], ty.elements[i].type, types);
        if (c) return c;
      }
      return 0;
    case 'Array': {
      const n = Math.min(a.length, b.length);
      for (let i = 0; i < n; i++) {
        const c = compareValues(a[i], b[i], ty.elem, types);
        if (c) return c;
      }
      return a.length - b.length;
    }
    case 'Sum':
      if (a.tag !== b.tag) return a.tag - b.tag;
      return compareValues(a.value, b.value, ty.variants[a.tag].type, types);
    default: throw new Error(`cannot compare ${ty.tag}`);
  }
}

/** Little-endian BSATN of an integer of kind `tag` (sequence values written back into rows). */
export function encodeInt(tag, value) {
  const [w] = INTS[tag];
  const out = new Uint8Array(w);
  let v = BigInt.asUintN(w * 8, BigInt(value));
  for (let i = 0; i < w; i++) { out[i] = Number(v & 0xffn); v >>= 8n; }
  return out;
}
export function intRange(tag) {
  const [w, signed] = INTS[tag];
  const bits = BigInt(w * 8);
  return signed ? [-(1n << (bits - 1n)), (1n << (bits - 1n)) - 1n] : [0n, (1n << bits) - 1n];
}

export function concatBytes(parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

// ---- RawModuleDef V10 --------------------------------------------------------------------------

function readTable(r) {
  const t = {
    source_name: r.string(),
    product_type_ref: r.u32(),
    primary_key: r.vec(() => r.u16()),
    indexes: r.vec(() => {
      const source_name = r.option(() => r.string());
      const accessor_name = r.option(() => r.string());
      const tag = r.u8();
      let algorithm;
      if (tag === 0) algorithm = { kind: 'BTree', columns: r.vec(() => r.u16()) };
      else if (tag === 1) algorithm = { kind: 'Hash', columns: r.vec(() => r.u16()) };
      else if (tag === 2) algorithm = { kind: 'Direct', columns: [r.u16()] };
      else throw new DecodeError(`bad index algorithm ${tag}`);
      return { source_name, accessor_name, algorithm };
    }),
    constraints: r.vec(() => {
      const source_name = r.option(() => r.string());
      if (r.u8() !== 0) throw new DecodeError('unknown constraint kind');
      return { source_name, unique: r.vec(() => r.u16()) };
    }),
    sequences: r.vec(() => ({
      source_name: r.option(() => r.string()),
      column: r.u16(),
      start: r.option(() => r.i128()),
      min_value: r.option(() => r.i128()),
      max_value: r.option(() => r.i128()),
      increment: r.i128(),
    })),
    table_type: r.unitSum(['System', 'User']),
    table_access: r.unitSum(['Public', 'Private']),
    default_values: r.vec(() => ({ col_id: r.u16(), value: r.bytes() })),
    is_event: r.bool(),
  };
  return t;
}

const SECTIONS = [
  ['typespace', (r) => r.vec(() => readType(r))],
  ['types', (r) => r.vec(() => ({ scope: r.vec(() => r.string()), name: r.string(), ty: r.u32(), custom_ordering: r.bool() }))],
  ['tables', (r) => r.vec(() => readTable(r))],
  ['reducers', (r) => r.vec(() => ({
    source_name: r.string(), params: readProduct(r), visibility: r.unitSum(['Private', 'ClientCallable']),
    ok_return_type: readType(r), err_return_type: readType(r),
  }))],
  ['procedures', (r) => r.vec(() => ({
    source_name: r.string(), params: readProduct(r), return_type: readType(r),
    visibility: r.unitSum(['Private', 'ClientCallable']),
  }))],
  ['views', (r) => r.vec(() => ({
    source_name: r.string(), index: r.u32(), is_public: r.bool(), is_anonymous: r.bool(),
    params: readProduct(r), return_type: readType(r),
  }))],
  ['schedules', (r) => r.vec(() => ({
    source_name: r.option(() => r.string()), table_name: r.string(), schedule_at_col: r.u16(), function_name: r.string(),
  }))],
  ['lifecycle', (r) => r.vec(() => ({
    spec: r.unitSum(['Init', 'OnConnect', 'OnDisconnect']), function_name: r.string(),
  }))],
  ['rls', (r) => r.vec(() => r.string())],
  ['case_conversion', (r) => r.unitSum(['None', 'SnakeCase'])],
  ['explicit_names', (r) => r.vec(() => ({
    kind: r.unitSum(['Table', 'Function', 'Index']), source_name: r.string(), canonical_name: r.string(),
  }))],
  ['http_handlers', (r) => r.vec(() => r.string())],
  ['http_routes', (r) => r.vec(() => ({ handler_function: r.string(), method: readMethod(r), path: r.string() }))],
  ['view_primary_keys', (r) => r.vec(() => ({ view: r.string(), columns: r.vec(() => r.string()) }))],
  ['submodules', (r) => r.vec(() => ({ namespace: r.string(), module: readSections(r) }))],
];

function readMethod(r) {
  if (r.u8() === 0) return 'Any';
  const tag = r.u8();
  const names = ['Get', 'Head', 'Post', 'Put', 'Delete', 'Connect', 'Options', 'Trace', 'Patch'];
  if (tag < names.length) return names[tag];
  if (tag === names.length) return r.string();
  throw new DecodeError(`bad HttpMethod tag ${tag}`);
}

/** Decodes `RawModuleDef::V10` into its sections (an unknown section ends the walk, noted in `unread_sections`). */
export function readModuleDef(bytes) {
  const r = new Reader(bytes);
  const version = r.u8();
  if (version !== 2) throw new DecodeError(`RawModuleDef tag ${version}: the sealed host reads V10 (tag 2) only`);
  return readSections(r);
}

function readSections(r) {
  const def = { typespace: [], types: [], tables: [], reducers: [], procedures: [], views: [], schedules: [], lifecycle: [],
    rls: [], case_conversion: null, explicit_names: [], http_handlers: [], http_routes: [], view_primary_keys: [],
    submodules: [], unread_sections: [] };
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    const tag = r.u8();
    if (tag >= SECTIONS.length) { def.unread_sections.push(tag); break; }
    const [name, read] = SECTIONS[tag];
    def[name] = read(r);
  }
  return def;
}
