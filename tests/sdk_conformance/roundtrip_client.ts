// Round-trips every column type of sdk_test_module.py through the official SDK and the generated
// bindings: for each table, call its reducers and check the row callbacks carry the exact values.
// Usage: node out/roundtrip_client.js <ws-uri> <database>. Prints one JSON summary line; exits 1
// with a line per mismatch ("MISMATCH <table> <op> ...") if any check failed.
import { ConnectionId, Identity, TimeDuration, Timestamp, Uuid } from 'spacetimedb';
import { DbConnection } from './bindings';

declare const process: { argv: string[]; exit(code: number): never };

type Ev = { kind: 'insert' | 'delete' | 'update'; row?: unknown; old?: unknown; new?: unknown };
type Case = { table: string; col: string; values: unknown[] };

const [uri, dbName, only] = process.argv.slice(2);  // only: comma-separated table names, for debugging

// ---- values ------------------------------------------------------------------------------------
const U = (bits: number): bigint => (1n << BigInt(bits)) - 1n;
const I = (bits: number): [bigint, bigint] => [-(1n << BigInt(bits - 1)), (1n << BigInt(bits - 1)) - 1n];
const ints: Record<string, unknown[]> = {
  u8: [0, 255, 7], u16: [0, 65535], u32: [0, 4294967295], u64: [0n, U(64)], u128: [0n, U(128), 1n << 64n],
  u256: [0n, U(256), 1n << 200n],
  i8: [-128, 127, 0], i16: [-32768, 32767], i32: [-2147483648, 2147483647], i64: [...I(64), -1n],
  i128: [...I(128), -1n], i256: [...I(256), -1n, 0n],
};
const F32_MAX = Math.fround(3.4028234663852886e38);
const F32_MIN_SUB = Math.fround(1.401298464324817e-45);
const enumVals = [{ tag: 'Zero' }, { tag: 'One' }, { tag: 'Two' }];
const keyVals: Record<string, unknown[]> = {
  ...ints,
  bool: [false, true],
  string: ['', 'héllo wörld ✓ 日本 🚀', 'a"b\\c\n'],
  identity: [new Identity(0n), new Identity(U(256)), new Identity('0x' + '01'.repeat(32))],
  connection_id: [new ConnectionId(1n), new ConnectionId(U(128)), new ConnectionId(0xabcdefn)],
  uuid: [Uuid.NIL, Uuid.MAX, Uuid.parse('0190c3f4-7a1b-7c2d-8e3f-0123456789ab')],
};
const everyPrimitive = (m: boolean, k: number) => ({
  a: k ? 255 : 0, b: k ? 65535 : 0, c: k ? 4294967295 : 0, d: k ? U(64) : 0n, e: k ? U(128) : 0n, f: k ? U(256) : 0n,
  g: k ? -128 : 127, h: k ? -32768 : 32767, i: k ? -2147483648 : 2147483647, j: I(64)[k], k: I(128)[k], l: I(256)[k],
  m, n: k ? F32_MAX : -0, o: k ? 1e308 : 5e-324, p: k ? 'ünïcödé 🚀' : '',
  q: new Identity(k ? U(256) : 0n), r: new ConnectionId(k ? U(128) : 1n), s: new Timestamp(I(64)[k]),
  t: new TimeDuration(k ? -1n : 1_000_000n), u: k ? Uuid.MAX : Uuid.NIL,
});
const oneVals: Record<string, unknown[]> = {
  ...keyVals,
  // -0 and 0 are both valid, but inserting both is the engine bug xfailed in test_sdk_roundtrips.py.
  f32: [-0, F32_MAX, -F32_MAX, F32_MIN_SUB, Math.fround(0.1), Infinity, -Infinity],
  f64: [-0, 1e308, -1e308, 5e-324, Number.MAX_VALUE, 0.1, Infinity],
  timestamp: [new Timestamp(0n), new Timestamp(I(64)[0]), new Timestamp(I(64)[1]), new Timestamp(1_700_000_000_123_456n)],
  simple_enum: enumVals,
  unit_struct: [{}],
  every_primitive_struct: [everyPrimitive(false, 0), everyPrimitive(true, 1)],
};
const cols: Record<string, string> = {
  bool: 'b', string: 's', identity: 'i', connection_id: 'a', uuid: 'u', f32: 'f', f64: 'f', timestamp: 't',
  simple_enum: 'e', unit_struct: 's', every_primitive_struct: 's',
};
const colOf = (t: string): string => cols[t] ?? 'n';

const oneCases: Case[] = Object.entries(oneVals).map(([t, values]) => ({ table: `one_${t}`, col: colOf(t), values }));
const vecCases: Case[] = [
  'u8', 'u32', 'u256', 'i64', 'i256', 'bool', 'f32', 'f64', 'string', 'identity', 'connection_id', 'uuid', 'timestamp',
  'simple_enum', 'every_primitive_struct',
].map(t => ({
  table: `vec_${t}`, col: colOf(t), values: [[], oneVals[t], [oneVals[t][0]]],
}));
const optionCases: Case[] = [
  'u8', 'i32', 'i64', 'f64', 'string', 'identity', 'uuid', 'timestamp', 'simple_enum', 'every_primitive_struct',
].map(t => ({
  table: `option_${t}`, col: colOf(t), values: [undefined, ...oneVals[t].slice(0, 2)],
}));
const keyCases = (prefix: string, types: Record<string, unknown[]>): Case[] =>
  Object.entries(types).map(([t, values]) => ({ table: `${prefix}_${t}`, col: colOf(t), values }));
const uniqueCases = keyCases('unique', keyVals);
const pkCases = keyCases('pk', { ...keyVals, simple_enum: enumVals });

// ---- canonical form: exact, and printable -------------------------------------------------------
// bigints (so Identity/ConnectionId/Uuid/Timestamp, whose one field is a bigint) print exactly;
// numbers print as their shortest round-trip text with -0 kept apart from 0; byte arrays as lists.
function canon(v: unknown): unknown {
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (v === undefined || v === null) return 'none';
  if (v instanceof Uint8Array) return Array.from(v, x => String(x));
  if (Array.isArray(v)) return v.map(canon);
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) {
      const x = (v as Record<string, unknown>)[k];
      // A unit variant is {tag} when built by hand and {tag, value: {}} when decoded by the SDK.
      const unitPayload = k === 'value' && 'tag' in (v as object) && (x === undefined || (typeof x === 'object' && x !== null && !Array.isArray(x) && Object.keys(x).length === 0));
      if (!unitPayload) out[k] = canon(x);
    }
    return out;
  }
  return v;
}
const show = (v: unknown): string => JSON.stringify(canon(v));

// ---- event plumbing -------------------------------------------------------------------------------
const queues = new Map<string, Ev[]>();
const wakers = new Map<string, () => void>();
function push(table: string, ev: Ev): void {
  queues.get(table)!.push(ev);
  wakers.get(table)?.();
}
async function nextEvents(table: string, n: number): Promise<Ev[]> {
  const q = queues.get(table)!;
  const deadline = Date.now() + 5000;
  while (q.length < n) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} event(s) on ${table}, have ${JSON.stringify(q.map(e => e.kind))}`);
    await new Promise<void>(res => {
      const t = setTimeout(res, 200);
      wakers.set(table, () => { clearTimeout(t); res(); });
    });
  }
  return q.splice(0, n);
}

const camel = (s: string): string => s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
const mismatches: string[] = [];
const passed: Record<string, number> = {};
function expect(table: string, op: string, actual: unknown, expected: unknown): void {
  const a = show(actual);
  const e = show(expected);
  if (a !== e) mismatches.push(`MISMATCH ${table} ${op}: expected ${e}, got ${a}`);
  else passed[table] = (passed[table] ?? 0) + 1;
}

async function runSingle(conn: DbConnection, c: Case): Promise<void> {
  const call = (conn.reducers as any)[camel(`insert_${c.table}`)];
  for (const v of c.values) {
    await call({ [c.col]: v });
    const [ev] = await nextEvents(c.table, 1);
    expect(c.table, `insert ${show(v)}`, ev.kind === 'insert' ? ev.row : ev, { [c.col]: v });
  }
  // The client cache holds exactly what was inserted.
  const cached = Array.from((conn.db as any)[camel(c.table)].iter()).map(show).sort();
  expect(c.table, 'cache', cached, c.values.map(v => show({ [c.col]: v })).sort());
}

async function runKeyed(conn: DbConnection, c: Case, pk: boolean): Promise<void> {
  const r = conn.reducers as any;
  const [ins, upd, del] = ['insert', 'update', 'delete'].map(op => r[camel(`${op}_${c.table}`)]);
  for (const k of c.values) {
    const first = { [c.col]: k, data: -2147483648 };
    const second = { [c.col]: k, data: 2147483647 };
    await ins(first);
    const [e1] = await nextEvents(c.table, 1);
    expect(c.table, `insert ${show(k)}`, e1.kind === 'insert' ? e1.row : e1, first);
    // The SDK's find compares keys structurally with decoded rows, whose unit variants carry value: {}.
    const findKey = typeof k === 'object' && k !== null && 'tag' in k ? { ...k, value: {} } : k;
    const found = (conn.db as any)[camel(c.table)][c.col].find(findKey);
    expect(c.table, `find ${show(k)}`, found, first);
    // A second row with the same key violates the constraint: the call fails and nothing changes.
    const dup = await ins({ [c.col]: k, data: 0 }).then(() => 'accepted', (e: unknown) => String(e));
    expect(c.table, `duplicate ${show(k)} refused`, dup === 'accepted' ? dup : 'refused', 'refused');
    await upd(second);
    if (pk) {
      const [e2] = await nextEvents(c.table, 1);
      expect(c.table, `update ${show(k)}`, e2.kind === 'update' ? [e2.old, e2.new] : e2, [first, second]);
    } else {
      // Without a primary key the SDK reports an update as a delete and an insert.
      const evs = await nextEvents(c.table, 2);
      const got = Object.fromEntries(evs.map(e => [e.kind, e.row ?? e]));
      expect(c.table, `update ${show(k)}`, got, { delete: first, insert: second });
    }
    await del({ [c.col]: k });
    const [e3] = await nextEvents(c.table, 1);
    expect(c.table, `delete ${show(k)}`, e3.kind === 'delete' ? e3.row : e3, second);
  }
  expect(c.table, 'cache empty', (conn.db as any)[camel(c.table)].count(), 0n);
}

async function main(): Promise<void> {
  const conn = await new Promise<DbConnection>((resolve, reject) => {
    DbConnection.builder()
      .withUri(uri)
      .withDatabaseName(dbName)
      .onConnect(c => resolve(c))
      .onConnectError((_ctx, e) => reject(e))
      .build();
  });
  const cases = [...oneCases, ...vecCases, ...optionCases, ...uniqueCases, ...pkCases].filter(
    c => !only || only.split(',').includes(c.table),
  );
  for (const c of cases) {
    queues.set(c.table, []);
    const handle = (conn.db as any)[camel(c.table)];
    if (!handle) throw new Error(`the bindings have no table accessor ${camel(c.table)} for ${c.table}`);
    handle.onInsert((_ctx: unknown, row: unknown) => push(c.table, { kind: 'insert', row }));
    handle.onDelete((_ctx: unknown, row: unknown) => push(c.table, { kind: 'delete', row }));
    handle.onUpdate?.((_ctx: unknown, old: unknown, nw: unknown) => push(c.table, { kind: 'update', old, new: nw }));
  }
  await new Promise<void>((resolve, reject) => {
    conn.subscriptionBuilder()
      .onApplied(() => resolve())
      .onError(ctx => reject((ctx as any).event ?? new Error('subscription error')))
      .subscribe(cases.map(c => `SELECT * FROM ${c.table}`));
  });
  const failed: string[] = [];
  for (const c of cases) {
    try {
      if (c.table.startsWith('pk_')) await runKeyed(conn, c, true);
      else if (c.table.startsWith('unique_')) await runKeyed(conn, c, false);
      else await runSingle(conn, c);
    } catch (e) {
      mismatches.push(`ERROR ${c.table}: ${(e as Error)?.message ?? String(e)}`);
    }
    if (mismatches.some(m => m.split(' ')[1] === c.table || m.startsWith(`ERROR ${c.table}:`))) failed.push(c.table);
  }
  const summary = {
    tables: cases.length,
    passed: cases.map(c => c.table).filter(t => !failed.includes(t)),
    failed,
    checks: Object.values(passed).reduce((a, b) => a + b, 0),
  };
  for (const m of mismatches) console.log(m);
  console.log(JSON.stringify(summary));
  conn.disconnect();
  process.exit(failed.length ? 1 : 0);
}

const timer = setTimeout(() => { console.log('TIMEOUT: the round-trip run took over 50 s'); process.exit(3); }, 50000);
main().then(() => clearTimeout(timer), e => { console.log(`FATAL ${(e as Error)?.stack ?? e}`); process.exit(2); });
