// Fan-out benchmark sender: one client sending chat messages at a steady `--rate` per second, each
// text carrying its sequence number and send time (ours: the send_message reducer through the npm
// SDK, each call's latency recorded; ws: a text frame to the broadcaster peer). `--warmup` seconds
// of messages with negative sequence numbers first, then `--count` timed ones.
// Output: JSON lines `window_start`, `window_end`, then `result` (call latencies, failures).
import { emit, fail, parseOptions } from '../keynote/loadgen/options.mjs';
import { importPackage } from '../keynote/loadgen/node_deps.mjs';
import { chooseSubprotocol } from '../keynote/loadgen/subprotocol.mjs';
import { messageText, nowMs } from './clock.mjs';

const opts = parseOptions(process.argv.slice(2), {
  mode: 'stdb',
  url: 'ws://127.0.0.1:3000',
  db: 'chat',
  rate: 20,
  count: 200,
  warmup: 2,
  protocol: 'v3',
  confirmed: 'default',
  drain: 15,
});

const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

async function connect() {
  if (opts.mode === 'ws') {
    const { WebSocket } = await importPackage('ws');
    const ws = new WebSocket(opts.url);
    await new Promise((resolve, reject) => {
      ws.on('open', resolve);
      ws.on('error', reject);
    });
    return (text) => {
      ws.send(text);
      return null;
    };
  }
  await chooseSubprotocol(opts.protocol);
  const { DbConnection } = await import('./chat_bindings.mjs');
  const conn = await new Promise((resolve, reject) => {
    let b = DbConnection.builder().withUri(opts.url).withDatabaseName(opts.db).withCompression('none');
    if (opts.confirmed !== 'default') b = b.withConfirmedReads(opts.confirmed === 'true');
    b.onConnect((c) => resolve(c))
      .onConnectError((_ctx, err) => reject(new Error(`connect failed: ${err?.message ?? err}`)))
      .build();
  });
  return (text) => conn.reducers.sendMessage({ text });
}

async function main() {
  const send = await connect();
  const callLatencies = [];
  let failures = 0;
  const pending = [];
  const interval = 1000 / opts.rate;
  const warm = Math.round(opts.warmup * opts.rate);
  const start = nowMs();
  for (let i = 0; i < warm + opts.count; i++) {
    await sleep(start + i * interval - nowMs());
    const seq = i - warm;
    if (seq === 0) emit('window_start');
    const sent = nowMs();
    const reply = send(messageText(seq, sent));
    if (reply !== null && seq >= 0) {
      pending.push(
        reply.then(
          () => callLatencies.push(nowMs() - sent),
          () => failures++,
        ),
      );
    }
  }
  emit('window_end', { seconds: (nowMs() - start) / 1000 - opts.warmup });
  await Promise.race([Promise.all(pending), sleep(opts.drain * 1000)]);
  const line = JSON.stringify({ event: 'result', sent: opts.count, failures, answered: callLatencies.length, callLatencies });
  process.stdout.write(line + '\n', () => process.exit(0)); // a pipe write is asynchronous: exit once it is out
}

main().catch(fail);
