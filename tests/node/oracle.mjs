#!/usr/bin/env node
// BSATN oracle: encodes and decodes values with the pinned npm SDK's own serializers
// (AlgebraicType.makeSerializer / makeDeserializer, BinaryWriter / BinaryReader), so the Python
// codec can be checked byte for byte. One JSON request per stdin line, one JSON reply per line.
//
// Requests ("id" is echoed back):
//   {"op": "encode", "type": T, "values": [V, ...], "typespace": [T, ...]?}  -> {"ok": true, "hex": ["..", ...]}
//   {"op": "decode", "type": T, "hex": ["..", ...], "typespace": [T, ...]?}  -> {"ok": true, "values": [V, ...]}
//   errors                                                                   -> {"ok": false, "error": ".."}
// Decoding fails when bytes are left over.
//
// Type language T (one-to-one with SATS AlgebraicType):
//   "Bool" "U8" ... "U256" "I8" ... "I256" "F32" "F64" "String"
//   {"Array": T}  {"Product": [[name|null, T], ...]}  {"Sum": [[name|null, T], ...]}  {"Ref": n}
// Value language V (positional, like Python's bare-type values):
//   ints up to 32 bits: numbers; wider ints: decimal strings.  floats: numbers or "NaN",
//   "Infinity", "-Infinity", "-0".  Array<U8>: lowercase hex.  Product: array in element order.
//   Option (sum some/none): null or the payload.  Other sums: [tag, payload].
//
// Names never reach the wire, so this script renames freely where the SDK needs it: unnamed
// fields/variants get `_<i>`, non-identifiers are replaced (the SDK compiles accessors with
// Function()), a sum named ok/err is renamed (the 2.10.1 result serializer writes Err payloads
// with the Ok type), and an option whose payload is an option becomes a plain sum (the SDK's
// option representation cannot express some(none)).
import { AlgebraicType, BinaryReader, BinaryWriter } from 'spacetimedb';
import { createInterface } from 'node:readline';

const PRIMS = new Set(['Bool', 'String', 'U8', 'U16', 'U32', 'U64', 'U128', 'U256',
  'I8', 'I16', 'I32', 'I64', 'I128', 'I256', 'F32', 'F64']);
const BIG = new Set(['U64', 'U128', 'U256', 'I64', 'I128', 'I256']);
const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function isOption(d) {
  return d && d.Sum && d.Sum.length === 2 && d.Sum[0][0] === 'some' && d.Sum[1][0] === 'none'
    && d.Sum[1][1].Product && d.Sum[1][1].Product.length === 0;
}

function resolve(d, ts) {
  let seen = 0;
  while (d && typeof d === 'object' && 'Ref' in d) {
    d = ts[d.Ref];
    if (++seen > 1000) throw new Error('ref cycle');
  }
  return d;
}

// A compiled type: {ty: SDK AlgebraicType, enc: V -> js value, dec: js value -> V}.
// Refs compile lazily so recursive types work.
function compiler(typespace) {
  const ts = typespace || [];
  const refs = new Map();
  function ref(n) {
    if (refs.has(n)) return refs.get(n);
    const c = { ty: null, enc: null, dec: null };
    refs.set(n, c);
    Object.assign(c, compile(ts[n]));
    return c;
  }
  function compile(d) {
    if (typeof d === 'string') {
      if (!PRIMS.has(d)) throw new Error(`unknown primitive ${d}`);
      const ty = AlgebraicType[d];
      if (d === 'F32' || d === 'F64') return { ty, enc: encFloat, dec: decFloat };
      if (BIG.has(d)) return { ty, enc: v => BigInt(v), dec: v => v.toString() };
      return { ty, enc: v => v, dec: v => v };
    }
    if ('Ref' in d) {
      // The SDK resolves the ref through the typespace; values convert through the target, lazily.
      const n = d.Ref;
      return { ty: AlgebraicType.Ref(n), enc: v => ref(n).enc(v), dec: v => ref(n).dec(v) };
    }
    if ('Array' in d) {
      if (d.Array === 'U8') return { ty: AlgebraicType.Array(AlgebraicType.U8), enc: hexToBytes, dec: bytesToHex };
      const c = compile(d.Array);
      return { ty: AlgebraicType.Array(c.ty), enc: v => v.map(c.enc), dec: v => Array.from(v, c.dec) };
    }
    if ('Product' in d) {
      const fields = d.Product.map(([name, t], i) => [safeName(name, i), compile(t)]);
      const ty = AlgebraicType.Product({ elements: fields.map(([name, c]) => ({ name, algebraicType: c.ty })) });
      return {
        ty,
        enc: v => Object.fromEntries(fields.map(([name, c], i) => [name, c.enc(v[i])])),
        dec: v => fields.map(([name, c]) => c.dec(v[name])),
      };
    }
    if ('Sum' in d) {
      if (isOption(d) && !isOption(resolve(d.Sum[0][1], ts))) {
        const c = compile(d.Sum[0][1]);
        const ty = AlgebraicType.Sum({ variants: [
          { name: 'some', algebraicType: c.ty },
          { name: 'none', algebraicType: AlgebraicType.Product({ elements: [] }) },
        ] });
        return { ty, enc: v => (v === null ? undefined : c.enc(v)), dec: v => (v === undefined ? null : c.dec(v)) };
      }
      const plainOption = isOption(d);
      const vars = d.Sum.map(([name, t], i) => [safeVariant(name, i, plainOption), compile(t)]);
      const ty = AlgebraicType.Sum({ variants: vars.map(([name, c]) => ({ name, algebraicType: c.ty })) });
      if (plainOption) {
        // option<option<T>> as a plain sum; V stays null / payload, with some(none) as {"some": null}
        return {
          ty,
          enc: v => (v === null ? { tag: vars[1][0], value: {} }
            : { tag: vars[0][0], value: vars[0][1].enc(isSomeWrapper(v) ? v.some : v) }),
          dec: v => (v.tag === vars[1][0] ? null : wrapSome(vars[0][1].dec(v.value))),
        };
      }
      return {
        ty,
        enc: v => {
          const [tag, payload] = v;
          if (!(tag >= 0 && tag < vars.length)) throw new RangeError(`sum tag ${tag} out of range`);
          return { tag: vars[tag][0], value: vars[tag][1].enc(payload) };
        },
        dec: v => {
          const i = vars.findIndex(([name]) => name === v.tag);
          if (i < 0) throw new RangeError('invalid sum tag');
          return [i, vars[i][1].dec(v.value)];
        },
      };
    }
    throw new Error(`bad type ${JSON.stringify(d)}`);
  }
  const sdkTypespace = { types: ts.map((_, n) => ref(n).ty) };
  return { compile, sdkTypespace };
}

// `{"some": x}` marks an explicit some(x) (needed for some(none)); `in` would also see Array.prototype.some.
function isSomeWrapper(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, 'some');
}
function wrapSome(v) {
  return v === null || isSomeWrapper(v) ? { some: v } : v;
}
function safeName(name, i) {
  return name !== null && IDENT.test(name) && name !== 'ok' && name !== 'err' ? name : `_${i}`;
}
function safeVariant(name, i, plainOption) {
  if (plainOption) return i === 0 ? 'some_' : 'none_';
  return name !== null && IDENT.test(name) && name !== 'ok' && name !== 'err' && name !== 'some' && name !== 'none'
    ? name : `_${i}`;
}
function encFloat(v) {
  const special = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 };
  return typeof v === 'string' ? special[v] : v;
}
function decFloat(v) {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  if (Object.is(v, -0)) return '-0';
  return v;
}
function hexToBytes(h) {
  return Uint8Array.from(Buffer.from(h, 'hex'));
}
function bytesToHex(b) {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

// The SDK caches serializers per type object, so keep one compiled type per request shape.
const cache = new Map();
function compiled(req) {
  const key = JSON.stringify([req.type, req.typespace || null]);
  let c = cache.get(key);
  if (!c) {
    const { compile, sdkTypespace } = compiler(req.typespace);
    c = compile(req.type);
    c.ser = AlgebraicType.makeSerializer(c.ty, sdkTypespace);
    c.de = AlgebraicType.makeDeserializer(c.ty, sdkTypespace);
    cache.set(key, c);
  }
  return c;
}

function handle(req) {
  const c = compiled(req);
  if (req.op === 'encode') {
    return {
      hex: req.values.map(v => {
        const w = new BinaryWriter(64);
        c.ser(w, c.enc(v));
        return bytesToHex(w.getBuffer());
      }),
    };
  }
  if (req.op === 'decode') {
    return {
      values: req.hex.map(h => {
        const r = new BinaryReader(hexToBytes(h));
        const v = c.de(r);
        if (r.remaining !== 0) throw new RangeError(`${r.remaining} trailing byte(s) after value`);
        return c.dec(v);
      }),
    };
  }
  throw new Error(`unknown op ${req.op}`);
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', line => {
  if (!line.trim()) return;
  let reply;
  let id = null;
  try {
    const req = JSON.parse(line);
    id = req.id ?? null;
    reply = { id, ok: true, ...handle(req) };
  } catch (e) {
    reply = { id, ok: false, error: String(e && e.message ? e.message : e) };
  }
  process.stdout.write(JSON.stringify(reply) + '\n');
});
