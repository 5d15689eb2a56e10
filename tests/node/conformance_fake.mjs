// Conformance scenarios of the pinned npm SDK against our server hosting the fake test module.
// Usage: STDB_URI=ws://127.0.0.1:PORT STDB_DB=test node conformance_fake.mjs <scenario>
import { DbConnection } from './bindings_fake.mjs';
import { check, checkEqual, connect, run, step, subscribe, waitFor } from './sdk_helpers.mjs';

const scenarios = {
  // Anonymous connect: InitialConnection gives identity, connection id and a token.
  async connect() {
    const { conn, identity, token } = await connect(DbConnection);
    check(token && token.length > 20, 'token issued');
    check(identity.toHexString().startsWith('c200'), 'identity derived from claims');
    step('connected', { identity: identity.toHexString(), connectionId: conn.connectionId.toHexString() });
    conn.disconnect();
  },

  // Reconnect with the saved token: same identity, a new connection id.
  async reauth() {
    const first = await connect(DbConnection);
    const id1 = first.identity.toHexString();
    const c1 = first.conn.connectionId.toHexString();
    first.conn.disconnect();
    const second = await connect(DbConnection, { token: first.token, compression: 'none' });
    checkEqual(second.identity.toHexString(), id1, 'identity after reconnect');
    check(second.conn.connectionId.toHexString() !== c1, 'new connection id');
    second.conn.disconnect();
  },

  // Subscribe, call a reducer, see the insert, then an update, then a SenderError and InternalError.
  async reducers() {
    const { conn } = await connect(DbConnection, { compression: process.env.STDB_COMPRESSION ?? 'gzip' });
    const inserted = [];
    const updated = [];
    conn.db.person.onInsert((_ctx, row) => inserted.push(row.name));
    conn.db.person.onUpdate((_ctx, oldRow, newRow) => updated.push([oldRow.name, newRow.name]));
    await subscribe(conn, 'SELECT * FROM person');
    await conn.reducers.add({ name: 'Alice' });
    checkEqual(inserted, ['Alice'], 'onInsert before the reducer promise resolves');
    const alice = [...conn.db.person.iter()][0];
    await conn.reducers.rename({ id: alice.id, name: 'Alicia' });
    checkEqual(updated, [['Alice', 'Alicia']], 'update arrives as one onUpdate');
    let err = null;
    try { await conn.reducers.fail({}); } catch (e) { err = e; }
    check(err && String(err.message ?? err).includes('always fails'), 'SenderError text: ' + err);
    step('sender error', { name: err?.constructor?.name, message: err?.message });
    err = null;
    try { await conn.reducers.crash({}); } catch (e) { err = e; }
    check(err && String(err.message ?? err).includes('crashed'), 'InternalError text: ' + err);
    err = null;
    try { await conn.reducers.nope({}); } catch (e) { err = e; }
    check(err && String(err.message ?? err).includes('no such reducer'), 'unknown reducer: ' + err);
    checkEqual(conn.db.person.count(), 1n, 'rows after failures');
    conn.disconnect();
  },

  // Two clients: each sees the other's changes; only the caller gets the reducer callback.
  async two_clients() {
    const a = await connect(DbConnection);
    const b = await connect(DbConnection);
    const seenByB = [];
    b.conn.db.person.onInsert((ctx, row) => seenByB.push([row.name, ctx.event.tag]));
    await subscribe(a.conn, 'SELECT * FROM person');
    await subscribe(b.conn, 'SELECT * FROM person');
    await a.conn.reducers.add({ name: 'from-a' });
    await waitFor(() => seenByB.some(([n]) => n === 'from-a'), 'b sees a insert');
    step('b saw', { seenByB });
    const [, tag] = seenByB.find(([n]) => n === 'from-a');
    check(tag !== 'Reducer', 'b is not told about a reducer it did not call, got ' + tag);
    await b.conn.reducers.add({ name: 'from-b' });
    await waitFor(() => [...a.conn.db.person.iter()].some(r => r.name === 'from-b'), 'a sees b insert');
    a.conn.disconnect();
    b.conn.disconnect();
  },

  // A filtered subscription only receives matching rows; unsubscribe drops them from the cache.
  async filter_unsubscribe() {
    const { conn } = await connect(DbConnection);
    const deleted = [];
    conn.db.person.onDelete((_ctx, row) => deleted.push(row.name));
    const handle = await subscribe(conn, "SELECT * FROM person WHERE name = 'bob'");
    await conn.reducers.add({ name: 'carl' });
    await conn.reducers.add({ name: 'bob' });
    checkEqual([...conn.db.person.iter()].map(r => r.name), ['bob'], 'only matching rows');
    await new Promise(resolve => handle.unsubscribeThen(() => resolve()));
    checkEqual(conn.db.person.count(), 0n, 'rows dropped after unsubscribe');
    checkEqual(deleted, ['bob'], 'onDelete for dropped rows');
    conn.disconnect();
  },

  // Overlapping subscriptions: the row is counted twice and survives one unsubscribe.
  async overlapping() {
    const { conn } = await connect(DbConnection);
    await conn.reducers.add({ name: 'dup' });
    const h1 = await subscribe(conn, 'SELECT * FROM person');
    await subscribe(conn, "SELECT * FROM person WHERE name = 'dup'");
    checkEqual(conn.db.person.count(), 1n, 'one row in the cache');
    await new Promise(resolve => h1.unsubscribeThen(() => resolve()));
    checkEqual(conn.db.person.count(), 1n, 'still there through the second subscription');
    conn.disconnect();
  },

  // Confirmed reads held while the test keeps the log from becoming durable: pipelined calls commit
  // in one worker turn, their updates leave together once durable, several TransactionUpdates in
  // one v3 frame (the same frame for both watchers), and the SDK applies them in commit order.
  async held_batch() {
    const watchers = [await connect(DbConnection, { compression: 'none' }), await connect(DbConnection, { compression: 'none' })];
    const seen = watchers.map(() => []);
    watchers.forEach((w, i) => w.conn.db.person.onInsert((_ctx, row) => seen[i].push(row.name)));
    for (const w of watchers) await subscribe(w.conn, 'SELECT * FROM person');
    const caller = await connect(DbConnection, { compression: 'none', confirmed: false });
    const names = ['first', 'second', 'third', 'fourth'];
    await Promise.all(names.map((name) => caller.conn.reducers.add({ name })));
    step('called');
    await waitFor(() => seen.every((s) => s.length === names.length), 'watchers see every commit', 20000);
    for (const s of seen) checkEqual(s, names, 'inserts in commit order');
    for (const w of [...watchers, caller]) w.conn.disconnect();
  },

  // A bad query reaches onError, and the connection stays up.
  async subscription_error() {
    const { conn } = await connect(DbConnection);
    let error = null;
    try { await subscribe(conn, 'SELECT * FROM nowhere'); } catch (e) { error = e; }
    check(error !== null, 'subscription error reported');
    step('subscription error', { message: String(error?.message ?? error) });
    await conn.reducers.add({ name: 'still-connected' });
    conn.disconnect();
  },
};

const name = process.argv[2];
check(scenarios[name], 'unknown scenario ' + name);
run(scenarios[name]);
