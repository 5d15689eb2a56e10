// Shared helpers for conformance scenarios: promise-based connect, waiting, assertions, output.
// Each scenario prints JSON lines ({"step": ...}) and exits 0 on success, 1 on a failed check.
import { DbConnectionBuilder, DbConnectionImpl, SubscriptionBuilderImpl } from 'spacetimedb';

export function makeDbConnection(REMOTE_MODULE) {
  class DbConnection extends DbConnectionImpl {
    static builder = () => new DbConnectionBuilder(REMOTE_MODULE, config => new DbConnection(config));
    subscriptionBuilder = () => new SubscriptionBuilderImpl(this);
  }
  return DbConnection;
}

export const URI = process.env.STDB_URI ?? 'ws://127.0.0.1:3000';
export const DB = process.env.STDB_DB ?? 'test';

export function step(name, data = {}) {
  console.log(JSON.stringify({ step: name, ...data }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
}

export function check(cond, what) {
  if (!cond) {
    console.log(JSON.stringify({ failed: what }));
    process.exit(1);
  }
}

export function checkEqual(actual, expected, what) {
  const a = JSON.stringify(actual, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  const e = JSON.stringify(expected, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  check(a === e, `${what}: expected ${e}, got ${a}`);
}

/** Connect and resolve {conn, identity, token} on onConnect; reject on connect error/disconnect. */
export function connect(DbConnection, { token, compression = 'gzip', confirmed, onBuilt } = {}) {
  return new Promise((resolve, reject) => {
    let b = DbConnection.builder().withUri(URI).withDatabaseName(DB).withCompression(compression);
    if (token) b = b.withToken(token);
    if (confirmed !== undefined) b = b.withConfirmedReads(confirmed);
    b = b
      .onConnect((conn, identity, tok) => resolve({ conn, identity, token: tok }))
      .onConnectError((_ctx, err) => reject(new Error('connect error: ' + (err?.message ?? err))))
      .onDisconnect((_ctx, err) => reject(new Error('disconnected: ' + (err?.message ?? ''))));
    const conn = b.build();
    if (onBuilt) onBuilt(conn);
  });
}

/** Subscribe and resolve with the handle once applied. */
export function subscribe(conn, queries) {
  return new Promise((resolve, reject) => {
    const handle = conn
      .subscriptionBuilder()
      .onApplied(() => resolve(handle))
      .onError((_ctx, err) => reject(err ?? new Error('subscription error')))
      .subscribe(queries);
  });
}

/** Resolve when `pred()` is true (polled), reject after `ms`. */
export function waitFor(pred, what, ms = 10000) {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = () => {
      if (pred()) return resolve();
      if (Date.now() - start > ms) return reject(new Error('timed out waiting for ' + what));
      setTimeout(tick, 5);
    };
    tick();
  });
}

export async function run(main) {
  const timer = setTimeout(() => {
    console.log(JSON.stringify({ failed: 'scenario timeout' }));
    process.exit(4);
  }, Number(process.env.STDB_TIMEOUT_MS ?? 20000));
  try {
    await main();
    clearTimeout(timer);
    step('done');
    process.exit(0);
  } catch (e) {
    console.log(JSON.stringify({ failed: String(e?.stack ?? e) }));
    process.exit(1);
  }
}
