// Conformance scenarios of the pinned npm SDK against the chat module on the real host.
// Usage: STDB_URI=ws://127.0.0.1:PORT STDB_DB=chat node conformance_chat.mjs <scenario>
import { DbConnection } from './bindings_chat.mjs';
import { check, checkEqual, connect, run, step, subscribe, waitFor } from './sdk_helpers.mjs';

const me = (conn, identity) => conn.db.user.identity.find(identity);

const scenarios = {
  // The chat end to end: connect (client_connected adds the user), set a name, talk, see the other.
  async chat() {
    const a = await connect(DbConnection);
    const b = await connect(DbConnection, { compression: 'none' });
    await subscribe(a.conn, ['SELECT * FROM user', 'SELECT * FROM message']);
    await subscribe(b.conn, 'SELECT * FROM *');
    check(me(a.conn, a.identity)?.online === true, 'a is online after connecting');
    const messagesSeenByB = [];
    b.conn.db.message.onInsert((_ctx, m) => messagesSeenByB.push(m.text));
    const renames = [];
    b.conn.db.user.onUpdate((_ctx, oldU, newU) => renames.push([oldU.name ?? null, newU.name ?? null]));
    await a.conn.reducers.setName({ name: 'alice' });
    checkEqual(me(a.conn, a.identity).name, 'alice', 'own name set');
    await a.conn.reducers.sendMessage({ text: 'hello bob' });
    await waitFor(() => messagesSeenByB.includes('hello bob'), 'b sees the message');
    await waitFor(() => renames.some(([, n]) => n === 'alice'), 'b sees the rename as an update');
    const msg = [...b.conn.db.message.iter()].find(m => m.text === 'hello bob');
    checkEqual(msg.sender.toHexString(), a.identity.toHexString(), 'message sender identity');
    check(msg.sent.microsSinceUnixEpoch > 0n, 'timestamp set');
    let err = null;
    try { await a.conn.reducers.setName({ name: '' }); } catch (e) { err = e; }
    checkEqual(err?.message, 'Names must not be empty', 'SenderError text');
    err = null;
    try { await a.conn.reducers.crash({}); } catch (e) { err = e; }
    check(String(err?.message).includes('deliberate crash'), 'InternalError: ' + err);
    // b sees a go offline when a disconnects.
    a.conn.disconnect();
    await waitFor(() => me(b.conn, a.identity)?.online === false, 'a offline for b');
    b.conn.disconnect();
  },

  // examples/quickstart_chat.py with the official template's flow: two users, names, messages.
  async quickstart() {
    const a = await connect(DbConnection);
    const b = await connect(DbConnection);
    await subscribe(a.conn, 'SELECT * FROM *');
    await subscribe(b.conn, ['SELECT * FROM user', 'SELECT * FROM message']);
    const seen = [];
    b.conn.db.message.onInsert((_ctx, m) => seen.push(m.text));
    await a.conn.reducers.setName({ name: 'alice' });
    await b.conn.reducers.setName({ name: 'bob' });
    await a.conn.reducers.sendMessage({ text: 'hi bob' });
    await waitFor(() => seen.includes('hi bob'), 'b receives the message');
    await waitFor(() => me(a.conn, b.identity)?.name === 'bob', 'a sees b named');
    let err = null;
    try { await b.conn.reducers.sendMessage({ text: '' }); } catch (e) { err = e; }
    checkEqual(err?.message, 'Messages must not be empty', 'SenderError');
    b.conn.disconnect();
    await waitFor(() => me(a.conn, b.identity)?.online === false, 'b offline');
    a.conn.disconnect();
  },

  // subscribeToAllTables() (one unquoted SELECT per table of the bindings) and the quoted SQL the
  // SDK's query builder writes.
  async all_tables() {
    const { conn } = await connect(DbConnection);
    await new Promise((resolve, reject) => {
      conn.subscriptionBuilder().onApplied(() => resolve()).onError((_c, e) => reject(e)).subscribeToAllTables();
    });
    check(conn.db.user.count() >= 1n, 'own user row through subscribeToAllTables');
    const quoted = [];
    const { conn: other } = await connect(DbConnection);
    other.db.message.onInsert((_ctx, m) => quoted.push(m.text));
    await subscribe(other, `SELECT * FROM "message" WHERE "message"."text" = 'quoted ''ok'''`);
    await conn.reducers.sendMessage({ text: "quoted 'ok'" });
    await conn.reducers.sendMessage({ text: 'not this one' });
    await waitFor(() => [...conn.db.message.iter()].length === 2, 'both messages reach the all-tables client');
    checkEqual(quoted, ["quoted 'ok'"], 'only the matching message');
    conn.disconnect();
    other.disconnect();
  },

  // Event table rows fire onInsert on every subscriber and are never stored in the cache.
  async event_table() {
    const a = await connect(DbConnection);
    const b = await connect(DbConnection);
    const heard = [];
    b.conn.db.ping.onInsert((_ctx, row) => heard.push(row.text));
    await subscribe(a.conn, 'SELECT * FROM ping');
    await subscribe(b.conn, 'SELECT * FROM ping');
    await a.conn.reducers.ping({ text: 'boo' });
    await waitFor(() => heard.includes('boo'), 'b hears the ping');
    checkEqual(b.conn.db.ping.count(), 0n, 'event rows are not cached');
    a.conn.disconnect();
    b.conn.disconnect();
  },

  // A semijoin subscription: pets of online users only.
  async join() {
    const a = await connect(DbConnection);
    const b = await connect(DbConnection);
    await subscribe(b.conn, 'SELECT pet.* FROM pet JOIN user ON pet.owner = user.identity WHERE user.online = true');
    await a.conn.reducers.adopt({ name: 'rex' });
    await waitFor(() => [...b.conn.db.pet.iter()].some(p => p.name === 'rex'), 'b sees rex');
    a.conn.disconnect();
    await waitFor(() => b.conn.db.pet.count() === 0n, 'rex leaves when its owner goes offline');
    b.conn.disconnect();
  },

  // Reconnecting with the saved token is the same user (the row is updated, not duplicated).
  async reauth() {
    const first = await connect(DbConnection);
    await first.conn.reducers.setName({ name: 'carol' });
    first.conn.disconnect();
    const second = await connect(DbConnection, { token: first.token });
    checkEqual(second.identity.toHexString(), first.identity.toHexString(), 'same identity');
    await subscribe(second.conn, 'SELECT * FROM user');
    checkEqual(me(second.conn, second.identity)?.name, 'carol', 'same user row');
    check(me(second.conn, second.identity)?.online === true, 'online again');
    second.conn.disconnect();
  },

  // A private table does not resolve for anyone but the owner.
  async private_table() {
    const { conn } = await connect(DbConnection);
    let error = null;
    try { await subscribe(conn, 'SELECT * FROM audit'); } catch (e) { error = e; }
    check(error !== null, 'private table refused');
    step('refused', { message: String(error?.message ?? error) });
    conn.disconnect();
  },
};

const name = process.argv[2];
check(scenarios[name], 'unknown scenario ' + name);
run(scenarios[name]);
