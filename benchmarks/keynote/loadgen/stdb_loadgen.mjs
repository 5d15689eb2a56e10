// Keynote load generator for our server, on the official npm SDK with the bank bindings.
// Modes: `run` (the timed workload), `seed` (reducer seed), `verify` (subscribe, count and sum balances).
// Output: JSON lines on stdout (events `connected`, `window_start`, `window_end`, then `result`).
import { performance } from 'node:perf_hooks';
import { DbConnection } from './bank_bindings.mjs';
import { runClosedLoop } from './closed_loop.mjs';
import { emit, fail, parseOptions } from './options.mjs';
import { chooseSubprotocol } from './subprotocol.mjs';
import { precomputePairs } from './zipf.mjs';

const opts = parseOptions(process.argv.slice(3), {
  url: 'ws://127.0.0.1:3000',
  db: 'bank',
  clients: 16,
  inflight: 40,
  accounts: 100_000,
  balance: '1000000000',
  alpha: 0,
  warmup: 2,
  seconds: 10,
  pairs: 1_000_000,
  protocol: 'v3',
  confirmed: 'true', // 'false' is a diagnostic: replies no longer wait for durability
  connectTimeout: 15,
  drain: 10,
});
const mode = process.argv[2];

function connect() {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no InitialConnection from ${opts.url} within ${opts.connectTimeout} s`)),
      opts.connectTimeout * 1000,
    );
    DbConnection.builder()
      .withUri(opts.url)
      .withDatabaseName(opts.db)
      .withCompression('none')
      .withConfirmedReads(opts.confirmed !== 'false')
      .onConnect((conn) => {
        clearTimeout(timer);
        resolve(conn);
      })
      .onConnectError((_ctx, err) => {
        clearTimeout(timer);
        reject(new Error(`connect to ${opts.url} failed: ${err?.message ?? err}`));
      })
      .build();
  });
}

async function run() {
  const conns = [];
  for (let i = 0; i < opts.clients; i++) conns.push(await connect());
  emit('connected', { clients: conns.length, protocol: conns[0].ws?.protocol ?? 'unknown' });
  const t = performance.now();
  const pairs = precomputePairs(opts.accounts, opts.alpha, opts.pairs);
  emit('pairs', { count: pairs.count, seconds: (performance.now() - t) / 1000 });
  const amount = 1n;
  const result = await runClosedLoop({
    clients: opts.clients,
    inflight: opts.inflight,
    pairs,
    warmupMs: opts.warmup * 1000,
    windowMs: opts.seconds * 1000,
    drainMs: opts.drain * 1000,
    call: (client, from, to) => conns[client].reducers.transfer({ from_id: from, to_id: to, amount }),
  });
  emit('result', { ...result, protocol: conns[0].ws?.protocol ?? 'unknown' });
  for (const c of conns) c.disconnect();
}

async function seed() {
  const conn = await connect();
  const t = performance.now();
  await conn.reducers.seed({ n: opts.accounts, balance: BigInt(opts.balance) });
  emit('result', { seeded: opts.accounts, seconds: (performance.now() - t) / 1000 });
  conn.disconnect();
}

async function verify() {
  const conn = await connect();
  await new Promise((resolve, reject) => {
    conn
      .subscriptionBuilder()
      .onApplied(() => resolve())
      .onError((_ctx, err) => reject(new Error(`subscription failed: ${err?.message ?? err}`)))
      .subscribe('SELECT * FROM accounts');
  });
  let count = 0;
  let total = 0n;
  for (const row of conn.db.accounts.iter()) {
    count++;
    total += BigInt(row.balance);
  }
  emit('result', { count, total: total.toString() });
  conn.disconnect();
}

const modes = { run, seed, verify };
if (!(mode in modes)) fail(new Error(`usage: node stdb_loadgen.mjs run|seed|verify [--option value ...]`));
try {
  await chooseSubprotocol(opts.protocol);
  await modes[mode]();
  process.exit(0);
} catch (err) {
  fail(err);
}
