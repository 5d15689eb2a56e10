// Keynote load generator for the JSON-RPC peers: `POST /rpc` {"name":"transfer","args":{...}} answered
// {"ok":true}, over keep-alive HTTP/1.1 connections from undici (the library under Node's fetch).
// Same slots as the SpacetimeDB generator: clients x inflight closed loops, one request in flight per slot.
// --client request (default) uses undici.request, the cheaper path, so the generator takes less of the
// shared cores from the peer; --client fetch uses undici.fetch as upstream's generator (Node fetch) does.
import { performance } from 'node:perf_hooks';
import { runClosedLoop } from './closed_loop.mjs';
import { importPackage } from './node_deps.mjs';
import { emit, fail, parseOptions } from './options.mjs';
import { precomputePairs } from './zipf.mjs';

const opts = parseOptions(process.argv.slice(3), {
  url: 'http://127.0.0.1:4101',
  clients: 16,
  inflight: 40,
  accounts: 100_000,
  balance: '1000000000',
  alpha: 0,
  warmup: 2,
  seconds: 10,
  pairs: 1_000_000,
  client: 'request',
  drain: 10,
  timeout: 30,
});
const mode = process.argv[2];
const undici = await importPackage('undici');
const { Agent } = undici;
const rpcUrl = new URL('/rpc', opts.url).href;
const dispatcher = new Agent({
  connections: opts.clients * opts.inflight,
  pipelining: 1,
  keepAliveTimeout: 60_000,
  headersTimeout: opts.timeout * 1000,
  bodyTimeout: opts.timeout * 1000,
});
const HEADERS = { 'content-type': 'application/json' };

async function rpcRequest(name, args) {
  const res = await undici.request(rpcUrl, { method: 'POST', headers: HEADERS, body: JSON.stringify({ name, args }), dispatcher });
  const text = await res.body.text();
  return check(name, res.statusCode, text);
}

async function rpcFetch(name, args) {
  const res = await undici.fetch(rpcUrl, { method: 'POST', headers: HEADERS, body: JSON.stringify({ name, args }), dispatcher });
  return check(name, res.status, await res.text());
}

function check(name, status, text) {
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`rpc ${name}: HTTP ${status}, not JSON: ${text.slice(0, 120)}`);
  }
  if (status !== 200 || json.ok !== true) throw new Error(`rpc ${name}: HTTP ${status}: ${json.error ?? text.slice(0, 120)}`);
  return json.result;
}

const rpc = opts.client === 'fetch' ? rpcFetch : rpcRequest;
if (opts.client !== 'fetch' && opts.client !== 'request') fail(new Error(`--client must be request or fetch`));

async function run() {
  await rpc('health', {});
  const t = performance.now();
  const pairs = precomputePairs(opts.accounts, opts.alpha, opts.pairs);
  emit('pairs', { count: pairs.count, seconds: (performance.now() - t) / 1000 });
  const result = await runClosedLoop({
    clients: opts.clients,
    inflight: opts.inflight,
    pairs,
    warmupMs: opts.warmup * 1000,
    windowMs: opts.seconds * 1000,
    drainMs: opts.drain * 1000,
    call: (_client, from, to) => rpc('transfer', { from_id: from, to_id: to, amount: 1 }),
  });
  emit('result', { ...result, protocol: `http/1.1 ${opts.client}` });
}

async function seed() {
  const t = performance.now();
  await rpc('seed', { accounts: opts.accounts, initialBalance: opts.balance });
  emit('result', { seeded: opts.accounts, seconds: (performance.now() - t) / 1000 });
}

async function verify() {
  const r = await rpc('verify', {});
  emit('result', { count: r.count, total: String(r.total) });
}

const modes = { run, seed, verify };
if (!(mode in modes)) fail(new Error(`usage: node http_loadgen.mjs run|seed|verify [--option value ...]`));
try {
  await modes[mode]();
  process.exit(0);
} catch (err) {
  fail(err);
}
