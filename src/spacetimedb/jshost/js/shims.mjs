// Globals Pyodide's Emscripten glue needs and SpacetimeDB's V8 host does not have. Evaluated
// before the glue (entry.mjs imports this module first). Nothing here touches a timer, fetch or
// the file system: the host has none, and module evaluation must settle through microtasks.
import { PAYLOAD } from './payload.mjs';

const g = globalThis;

// A deterministic PRNG (sfc32, fixed seed): the host's `Math.random` throws, and a module's
// randomness must come from the reducer context (Python's `ctx.rng`), never from here. Python
// seeds its hash secret and `random` module from these bytes, so every isolate starts the same.
let a = 0x9e3779b9, b = 0x243f6a88, c = 0xb7e15162, d = 1;
function next32() {
  a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
  const t = (a + b | 0) + d | 0;
  d = d + 1 | 0;
  a = b ^ b >>> 9;
  b = c + (c << 3) | 0;
  c = c << 21 | c >>> 11;
  c = c + t | 0;
  return t >>> 0;
}
function fill(view) {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  for (let i = 0; i < bytes.length; i++) bytes[i] = next32() & 0xff;
  return view;
}
// 1. The host replaces Math.random by a configurable getter that throws; the glue reads it
//    eagerly (defineProperty, not assignment: there is no setter).
Object.defineProperty(Math, 'random', { value: () => next32() / 4294967296, configurable: true, writable: true });
// 2. Entropy for Emscripten's /dev/urandom: crypto.getRandomValues, and the d8 path's os.system.
if (!g.crypto) g.crypto = { getRandomValues: fill };
if (!g.os) {
  g.os = {
    system(_cmd, args) {
      const n = Number(/head -c(\d+)/.exec(args.join(' '))[1]);
      return btoa(fill(new Uint8Array(n)));
    },
  };
}
// 3. performance.now from Date.now (Emscripten's clocks).
if (!g.performance) g.performance = { now: () => Date.now() };

// 5. TextDecoder: the host's knows only 'utf-8', without `ignoreBOM` (builtins/text_encoding.js);
//    the glue also asks for 'utf8' with ignoreBOM, 'latin1' and 'utf-16le'.
const HostTextDecoder = g.TextDecoder;
function bytesOf(input) {
  if (input === undefined) return new Uint8Array(0);
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
}
function charCodes(codes) {
  let s = '';
  for (let i = 0; i < codes.length; i += 8192) s += String.fromCharCode.apply(null, codes.subarray(i, i + 8192));
  return s;
}
class ByteDecoder {
  constructor(encoding) { this.encoding = encoding; this.fatal = false; this.ignoreBOM = true; }
  decode(input) {
    const bytes = bytesOf(input);
    if (this.encoding === 'latin1') return charCodes(bytes);
    const codes = new Uint16Array(bytes.length >> 1);
    for (let i = 0; i < codes.length; i++) codes[i] = bytes[2 * i] | (bytes[2 * i + 1] << 8);
    return charCodes(codes);
  }
}
class KeepBomDecoder {
  constructor(fatal) { this.inner = new HostTextDecoder('utf-8', { fatal }); this.encoding = 'utf-8'; this.fatal = fatal; this.ignoreBOM = true; }
  decode(input) {
    const bytes = bytesOf(input);
    const bom = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
    return (bom ? '\uFEFF' : '') + this.inner.decode(bom ? bytes.subarray(3) : bytes);
  }
}
g.TextDecoder = function TextDecoder(label = 'utf-8', options = {}) {
  const l = String(label).trim().toLowerCase();
  if (l === 'utf-8' || l === 'utf8' || l === 'unicode-1-1-utf-8') {
    return options.ignoreBOM ? new KeepBomDecoder(!!options.fatal) : new HostTextDecoder('utf-8', { fatal: !!options.fatal });
  }
  if (l === 'latin1' || l === 'iso-8859-1' || l === 'ascii' || l === 'us-ascii') return new ByteDecoder('latin1');
  if (l === 'utf-16le' || l === 'utf-16') return new ByteDecoder('utf-16le');
  return new HostTextDecoder(l, options);
};

function b64decode(text) {
  // The host has no atob; decode by hand, two characters per table lookup (12 bits at a time),
  // from the text's ASCII bytes (TextEncoder copies them out natively; a typed array reads faster
  // than charCodeAt on the slice of the source text that the payload is).
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const table = new Uint8Array(128);
  for (let i = 0; i < 64; i++) table[alphabet.charCodeAt(i)] = i;
  const pair = new Uint16Array(128 * 128);
  for (let a = 0; a < 64; a++) {
    for (let b = 0; b < 64; b++) pair[(alphabet.charCodeAt(a) << 7) | alphabet.charCodeAt(b)] = (a << 6) | b;
  }
  const src = new TextEncoder().encode(text);
  let len = src.length;
  while (len > 0 && src[len - 1] === 61) len--;
  const out = new Uint8Array((len * 3) >> 2);
  const full = len & ~3;
  let o = 0, i = 0;
  for (; i < full; i += 4) {
    const n = (pair[(src[i] << 7) | src[i + 1]] << 12) | pair[(src[i + 2] << 7) | src[i + 3]];
    out[o] = n >> 16; out[o + 1] = (n >> 8) & 0xff; out[o + 2] = n & 0xff;
    o += 3;
  }
  if (len - i === 2) {
    out[o++] = (table[src[i]] << 2) | (table[src[i + 1]] >> 4);
  } else if (len - i === 3) {
    const n = (table[src[i]] << 10) | (table[src[i + 1]] << 4) | (table[src[i + 2]] >> 2);
    out[o++] = n >> 8; out[o++] = n & 0xff;
  }
  return out;
}
function btoa(bytes) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let s = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    s += alphabet[n >> 18] + alphabet[(n >> 12) & 63] +
      (i + 1 < bytes.length ? alphabet[(n >> 6) & 63] : '=') + (i + 2 < bytes.length ? alphabet[n & 63] : '=');
  }
  return s;
}

// Expands an LZ4 block (the format of python-lz4's `lz4.block.compress(store_size=False)`) of
// `size` bytes into `dst` at `start`: the wasm and the memory snapshot are embedded so, as LZ4
// decodes several times faster in JS than DEFLATE (there is no synchronous native inflater in the
// host). Matches refer back within the block, so a block decodes in place wherever it lands.
export function unlz4(src, size, dst = new Uint8Array(size), start = 0) {
  const end = src.length;
  let s = 0, d = start;
  while (s < end) {
    const token = src[s++];
    let lit = token >>> 4;
    if (lit === 15) { let b; do { b = src[s++]; lit += b; } while (b === 255); }
    if (lit > 0) {
      if (lit < 32) { for (let i = 0; i < lit; i++) dst[d + i] = src[s + i]; } else dst.set(src.subarray(s, s + lit), d);
      s += lit; d += lit;
    }
    if (s >= end) break;
    const offset = src[s] | (src[s + 1] << 8);
    s += 2;
    let len = token & 15;
    if (len === 15) { let b; do { b = src[s++]; len += b; } while (b === 255); }
    len += 4;
    let m = d - offset;
    if (offset >= len) {
      if (len < 32) { for (let i = 0; i < len; i++) dst[d + i] = dst[m + i]; } else dst.copyWithin(d, m, m + len);
      d += len;
    } else {
      for (let i = 0; i < len; i++) dst[d++] = dst[m++];  // an overlapping match repeats a pattern
    }
  }
  if (d - start !== size) throw new Error(`corrupt embedded file: ${d - start} bytes, expected ${size}`);
  return dst;
}

const files = new Map();
/** The embedded file `name` as bytes (decoded once and cached; `take` also drops it from the cache). */
export function file(name) {
  let bytes = files.get(name);
  if (bytes === undefined) {
    const entry = PAYLOAD[name];
    if (entry === undefined) throw new Error(`the bundle embeds no file ${name}`);
    // V8 14 (the server's) has Uint8Array.fromBase64; older engines decode in JS.
    bytes = typeof Uint8Array.fromBase64 === 'function' ? Uint8Array.fromBase64(entry.data) : b64decode(entry.data);
    if (entry.segments !== undefined) {
      // One LZ4 block per non-zero segment [offset, size, block length], each decoded straight to
      // its offset in a zeroed buffer of `entry.size` bytes: the long zero runs cost nothing.
      const out = new Uint8Array(entry.size);
      let o = 0;
      for (const [at, size, len] of entry.segments) { unlz4(bytes.subarray(o, o + len), size, out, at); o += len; }
      bytes = out;
    } else if (entry.size !== undefined) {
      bytes = unlz4(bytes, entry.size);
    }
    files.set(name, bytes);
  }
  return bytes;
}
/** Decodes the embedded file `name` (sparse LZ4 segments) straight into `dst` from offset 0,
 *  zeroing the gaps between its segments: no buffer of its own, no copy. */
export function decodeInto(name, dst) {
  const entry = PAYLOAD[name];
  const bytes = typeof Uint8Array.fromBase64 === 'function' ? Uint8Array.fromBase64(entry.data) : b64decode(entry.data);
  let o = 0, end = 0;
  for (const [at, size, len] of entry.segments) {
    if (at > end) dst.fill(0, end, at);
    unlz4(bytes.subarray(o, o + len), size, dst, at);
    o += len;
    end = at + size;
  }
  if (entry.size > end) dst.fill(0, end, entry.size);
}
/** The size of the embedded file `name` once expanded. */
export function sizeOf(name) {
  const entry = PAYLOAD[name];
  return entry.size ?? entry.data.length;
}
export function take(name) {
  const bytes = file(name);
  files.delete(name);
  return bytes;
}

// 4. The d8-shell functions: with `read` and `load` defined, Pyodide takes its shell code path and
//    asks `readbuffer` for the wasm and the stdlib, `read` for the lock file.
g.readbuffer = (path) => file(String(path).replace(/^.*\//, '')).buffer;
g.read = (path) => new TextDecoder().decode(file(String(path).replace(/^.*\//, '')));
g.load = (path) => { throw new Error(`cannot load ${path}: the bundle has no file system`); };
