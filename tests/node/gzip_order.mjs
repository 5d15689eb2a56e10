// The client cache under pipelined updates (issue 10, upstream #5730): one client, subscribed to
// kv, sends 20 upserts of one key without waiting, then checks that its cache holds the last value.
// Values alternate between small and large, so some frames would be compressed and some not.
// Usage: STDB_URI=... STDB_DB=kv node gzip_order.mjs <rounds> <compression>
// Prints {"step": "round", "stale": [...]} per stale round and {"step": "summary", ...}.
import { schema, table, t, reducers, reducerSchema, procedures } from 'spacetimedb';
import { connect, makeDbConnection, run, step, subscribe } from './sdk_helpers.mjs';

const KvRow = t.row({ id: t.u32().primaryKey(), value: t.string() });
const REMOTE_MODULE = {
  versionInfo: { cliVersion: '2.8.3' },
  tables: schema({ kv: table({ name: 'kv' }, KvRow) }).schemaType.tables,
  reducers: reducers(reducerSchema('put', { id: t.u32(), value: t.string() })).reducersType.reducers,
  ...procedures(),
};
const DbConnection = makeDbConnection(REMOTE_MODULE);

const rounds = Number(process.argv[2] ?? 20);
const compression = process.argv[3] ?? 'gzip';

// Deterministic sizes: a mix of frames under and over the 1 KiB compression threshold.
const sizes = [8, 300000, 16, 3000, 8, 12000, 600, 30, 25000, 8, 2000, 90, 5000, 8, 400000, 12, 1500, 8, 700, 8];

run(async () => {
  const { conn } = await connect(DbConnection, { compression });
  await subscribe(conn, 'SELECT * FROM kv');
  let stale = 0;
  let last = null;
  for (let r = 0; r < rounds; r++) {
    const calls = [];
    for (let i = 0; i < sizes.length; i++) {
      last = `${r}:${i}:` + 'x'.repeat(sizes[(i + r) % sizes.length]);
      calls.push(conn.reducers.put({ id: 1, value: last }));
    }
    await Promise.all(calls);
    const got = conn.db.kv.id.find(1)?.value;
    if (got !== last) {
      stale += 1;
      step('round', { round: r, stale: got === undefined ? null : got.split(':').slice(0, 2).join(':') });
    }
  }
  step('summary', { rounds, stale, last: last.split(':').slice(0, 2).join(':'), length: last.length });
  conn.disconnect();
});
