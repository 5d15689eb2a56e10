// An official TypeScript module (npm `spacetimedb` 2.10.1, `spacetimedb/server`) that the sealed host
// must run as SpacetimeDB would: the fidelity anchor of tests/sealed_host/test_anchor.py.
import { schema, table, t, SenderError, Range } from 'spacetimedb/server';

const item = table(
  {
    name: 'item',
    public: true,
    indexes: [{ accessor: 'by_owner', algorithm: 'btree', columns: ['owner'] }],
  },
  {
    id: t.u64().primaryKey().autoInc(),
    sku: t.string().unique(),
    owner: t.u32(),
    qty: t.i32(),
  }
);

const note = table({ name: 'note' }, { text: t.string() });

const pair = table(
  { name: 'pair', indexes: [{ accessor: 'by_ab', algorithm: 'btree', columns: ['a', 'b'] }] },
  { a: t.u32(), b: t.i32(), tag: t.string() }
);

const spacetimedb = schema({ item, note, pair });
export default spacetimedb;

export const init = spacetimedb.init((ctx) => {
  ctx.db.note.insert({ text: 'init' });
});

export const add_item = spacetimedb.reducer(
  { sku: t.string(), owner: t.u32(), qty: t.i32() },
  (ctx, { sku, owner, qty }) => {
    if (qty < 0) throw new SenderError(`negative qty for ${sku}`);
    const row = ctx.db.item.insert({ id: 0n, sku, owner, qty });
    console.info(`inserted ${row.sku} as ${row.id}`);
  }
);

export const set_qty = spacetimedb.reducer({ sku: t.string(), qty: t.i32() }, (ctx, { sku, qty }) => {
  const row = ctx.db.item.sku.find(sku);
  if (!row) throw new SenderError(`no item ${sku}`);
  ctx.db.item.id.update({ ...row, qty });
});

// Deletes every item of owners in [lo, hi) through the btree index; logs what it saw first.
export const drop_owners = spacetimedb.reducer({ lo: t.u32(), hi: t.u32() }, (ctx, { lo, hi }) => {
  const seen = [...ctx.db.item.by_owner.filter(new Range({ tag: 'included', value: lo }, { tag: 'excluded', value: hi }))];
  console.info(`dropping ${seen.map((r) => r.sku).join(',')}`);
  const n = ctx.db.item.by_owner.delete(new Range({ tag: 'included', value: lo }, { tag: 'excluded', value: hi }));
  console.info(`dropped ${n}`);
});

// Inserts, then fails: the transaction must roll back.
export const add_then_fail = spacetimedb.reducer({ sku: t.string() }, (ctx, { sku }) => {
  ctx.db.item.insert({ id: 0n, sku, owner: 9, qty: 1 });
  ctx.db.note.insert({ text: `before failing on ${sku}` });
  throw new Error('boom');
});

// Counts rows and scans the whole table (several iterator chunks when the table is big).
export const census = spacetimedb.reducer((ctx) => {
  let total = 0;
  for (const row of ctx.db.item.iter()) total += row.qty;
  console.info(`count=${ctx.db.item.count()} total=${total}`);
});

// Catches the unique violation the host throws and reports its class name.
export const dup_sku = spacetimedb.reducer({ sku: t.string() }, (ctx, { sku }) => {
  try {
    ctx.db.item.insert({ id: 0n, sku, owner: 1, qty: 1 });
  } catch (e) {
    console.info(`caught ${(e as Error).name}`);
    throw e;
  }
});

export const bulk = spacetimedb.reducer({ n: t.u32(), pad: t.u32() }, (ctx, { n, pad }) => {
  for (let i = 0; i < n; i++) ctx.db.item.insert({ id: 0n, sku: `bulk-${i}-${'x'.repeat(pad)}`, owner: 100, qty: 1 });
});

export const pairs = spacetimedb.reducer({ n: t.u32() }, (ctx, { n }) => {
  // Inserted out of index order, so scans must sort.
  for (let b = n - 1; b >= 0; b--) for (let a = 0; a < n; a++) ctx.db.pair.insert({ a, b: b - 1, tag: `${a}/${b - 1}` });
});

// A two-column btree: prefix + range bound, a full key (point), a prefix alone; then a delete by
// row value and a table clear.
export const scan_pairs = spacetimedb.reducer({ a: t.u32(), lo: t.i32() }, (ctx, { a, lo }) => {
  const after = [...ctx.db.pair.by_ab.filter([a, new Range({ tag: 'excluded', value: lo }, { tag: 'unbounded' })])];
  const exact = [...ctx.db.pair.by_ab.filter([a, lo])];
  const prefix = [...ctx.db.pair.by_ab.filter(a)];
  console.info(`after=${after.map((r) => r.tag).join(',')} exact=${exact.map((r) => r.tag).join(',')} prefix=${prefix.length}`);
  const gone = ctx.db.pair.delete(exact[0]);
  const again = ctx.db.pair.delete(exact[0]);
  console.info(`deleted=${gone} again=${again} cleared=${ctx.db.note.clear()} left=${ctx.db.pair.count()}`);
});

// A procedure's own transactions: committed, aborted by a throw, and read back.
export const tx_proc = spacetimedb.procedure({ text: t.string(), fail: t.bool() }, t.u32(), (ctx, { text, fail }) => {
  ctx.withTx((tx) => {
    tx.db.note.insert({ text });
  });
  if (fail) {
    try {
      ctx.withTx((tx) => {
        tx.db.note.insert({ text: `${text}!` });
        throw new Error('abort');
      });
    } catch {
      // the second transaction was rolled back
    }
  }
  return ctx.withTx((tx) => Number(tx.db.note.count()));
});

// Views: the caller's items (per sender) and every item (anonymous), over a read-only transaction.
export const my_items = spacetimedb.view({ name: 'my_items', public: true }, t.array(item.rowType), (ctx) =>
  [...ctx.db.item.iter()].filter((r) => BigInt(r.owner) === ctx.sender.__identity__ % 1000n)
);
export const all_items = spacetimedb.anonymousView({ name: 'all_items', public: true }, t.array(item.rowType), (ctx) => [
  ...ctx.db.item.iter(),
]);
