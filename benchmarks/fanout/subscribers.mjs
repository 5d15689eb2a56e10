// Fan-out benchmark subscribers: `--clients` connections in this process, each receiving every chat
// message (ours: the npm SDK subscribed to `SELECT * FROM message`, latency at its onInsert; raw: a
// plain `ws` client subscribed to ours with v2 BSATN; ws: a plain `ws` client of the broadcaster
// peer, latency at its 'message' event).
// Output: JSON lines: `ready` once every client is connected and subscribed, `done` once each has
// seen `--expect` timed messages, then on the line `report` on stdin the `result` with every latency.
import { createInterface } from 'node:readline';
import { emit, fail, parseOptions } from '../keynote/loadgen/options.mjs';
import { importPackage } from '../keynote/loadgen/node_deps.mjs';
import { chooseSubprotocol } from '../keynote/loadgen/subprotocol.mjs';
import { nowMs, parseText } from './clock.mjs';

const opts = parseOptions(process.argv.slice(2), {
  mode: 'stdb',
  url: 'ws://127.0.0.1:3000',
  db: 'chat',
  clients: 100,
  expect: 200,
  protocol: 'v3',
  compression: 'none',
  confirmed: 'default',
  parallel: 25, // connections opened at once
  connectTimeout: 60,
});

const latencies = new Float64Array(opts.clients * opts.expect);
const counts = new Int32Array(opts.clients);
let filled = 0;
let complete = 0;
let stray = 0;

function record(client, text) {
  const now = nowMs();
  const [seq, sent] = parseText(text);
  if (!(seq >= 0)) return; // warmup
  if (seq >= opts.expect || counts[client] >= opts.expect) {
    stray++;
    return;
  }
  latencies[filled++] = now - sent;
  if (++counts[client] === opts.expect && ++complete === opts.clients) emit('done', { received: filled });
}

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${opts.connectTimeout} s`)), opts.connectTimeout * 1000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

let DbConnection;
async function connectStdb(client) {
  const conn = await withTimeout(
    new Promise((resolve, reject) => {
      let b = DbConnection.builder().withUri(opts.url).withDatabaseName(opts.db).withCompression(opts.compression);
      if (opts.confirmed !== 'default') b = b.withConfirmedReads(opts.confirmed === 'true');
      b.onConnect((c) => resolve(c))
        .onConnectError((_ctx, err) => reject(new Error(`connect failed: ${err?.message ?? err}`)))
        .build();
    }),
    'connect',
  );
  conn.db.message.onInsert((_ctx, row) => record(client, row.text));
  await withTimeout(
    new Promise((resolve, reject) => {
      conn
        .subscriptionBuilder()
        .onApplied(() => resolve())
        .onError((_ctx, err) => reject(err ?? new Error('subscription error')))
        .subscribe(['SELECT * FROM message']);
    }),
    'subscribe',
  );
  return conn;
}

let WebSocketClass;
function connectWs(client) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const ws = new WebSocketClass(opts.url);
      ws.on('open', () => resolve(ws));
      ws.on('error', reject);
      ws.on('message', (data) => record(client, data.toString()));
    }),
    'connect',
  );
}

// Raw: a plain `ws` client speaking v2 BSATN to our server (no SDK): it sends one Subscribe and
// finds the text in each TransactionUpdate's bytes, so the client's own cost is about a ws peer
// client's and what is left of the latency gap is the server's.
const SUBSCRIBE_APPLIED = 1;
const TRANSACTION_UPDATE = 4;
function subscribeMessage(query) {
  const q = Buffer.from(query, 'utf8');
  const out = Buffer.alloc(1 + 4 + 4 + 4 + 4 + q.length);
  let at = out.writeUInt8(0, 0); // ClientMessage::Subscribe
  at = out.writeUInt32LE(1, at); // request id
  at = out.writeUInt32LE(0, at); // query set id
  at = out.writeUInt32LE(1, at); // one query
  at = out.writeUInt32LE(q.length, at);
  q.copy(out, at);
  return out;
}
const SENT_TIME = /\d{13}\.\d{3}/g;
/** Every message text in a TransactionUpdate: `seq sent`, a BSATN string (u32 length first). */
function textsOf(buf) {
  const texts = [];
  const s = buf.toString('latin1');
  for (const m of s.matchAll(SENT_TIME)) {
    const end = m.index + m[0].length;
    for (let start = m.index - 2; start >= 4 && start >= m.index - 24; start--) {
      if (buf.readUInt32LE(start - 4) === end - start) {
        texts.push(s.slice(start, end));
        break;
      }
    }
  }
  return texts;
}
function connectRaw(client) {
  const query = opts.confirmed === 'default' ? '' : `&confirmed=${opts.confirmed}`;
  const url = `${opts.url}/v1/database/${opts.db}/subscribe?compression=None${query}`;
  return withTimeout(
    new Promise((resolve, reject) => {
      const ws = new WebSocketClass(url, 'v2.bsatn.spacetimedb');
      let applied = false;
      ws.on('open', () => ws.send(subscribeMessage('SELECT * FROM message')));
      ws.on('error', reject);
      ws.on('message', (data) => {
        const tag = data[1]; // after the compression byte
        if (!applied) {
          if (tag === SUBSCRIBE_APPLIED) {
            applied = true;
            resolve(ws);
          }
          return;
        }
        if (tag === TRANSACTION_UPDATE) for (const text of textsOf(data)) record(client, text);
      });
    }),
    'connect',
  );
}

async function main() {
  let connect;
  if (opts.mode === 'stdb') {
    await chooseSubprotocol(opts.protocol);
    ({ DbConnection } = await import('./chat_bindings.mjs'));
    connect = connectStdb;
  } else if (opts.mode === 'ws' || opts.mode === 'raw') {
    WebSocketClass = (await importPackage('ws')).WebSocket;
    connect = opts.mode === 'ws' ? connectWs : connectRaw;
  } else {
    throw new Error(`unknown mode '${opts.mode}': use stdb, raw or ws`);
  }
  const conns = [];
  for (let i = 0; i < opts.clients; i += opts.parallel) {
    const batch = [];
    for (let j = i; j < Math.min(opts.clients, i + opts.parallel); j++) batch.push(connect(j));
    conns.push(...(await Promise.all(batch)));
  }
  emit('ready', { clients: conns.length });
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim() !== 'report') return;
    const lat = Array.from(latencies.subarray(0, filled), (x) => Math.round(x * 100) / 100);
    // A pipe write is asynchronous in Node: exit once the (large) line is out.
    process.stdout.write(JSON.stringify({ event: 'result', received: filled, stray, latencies: lat }) + '\n', () =>
      process.exit(0),
    );
  });
}

main().catch(fail);
