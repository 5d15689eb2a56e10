// JSON-lines driver for the sealed host (protocol in README.md):
//   node --experimental-vm-modules --single-threaded tests/sealed_host/driver.mjs BUNDLE [--identity=U256]
// (`--identity`: the database identity `identity()` returns, a decimal or 0x-hex u256.)
// First line out: {"ready": true, "timings": {...}} or {"ready": false, "error": "..."}; then one
// response line per request line, in order.
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { SealedHost } from './host.mjs';

const out = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const big = (v, dflt = 0n) => (v === undefined || v === null ? dflt : BigInt(v));
const hex = (h) => Uint8Array.from(Buffer.from(h ?? '', 'hex'));

// Module code must not reach the process; report anything that escapes (e.g. a FinalizationRegistry
// callback the host never runs upstream) instead of dying.
// A reader that went away (`| head -1`) ends the driver quietly.
process.stdout.on('error', (e) => process.exit(e.code === 'EPIPE' ? 0 : 1));
process.on('uncaughtException', (e) => process.stderr.write(`sealed host: uncaught ${e?.stack ?? e}\n`));

function callArgs(req) {
  return {
    sender: big(req.sender),
    connectionId: big(req.connection_id),
    timestamp: big(req.timestamp),
    args: hex(req.args),
    jwt: req.jwt,
  };
}

async function handle(host, req) {
  switch (req.cmd) {
    case 'describe':
      return { ok: true, module_def: Buffer.from(host.describeBytes).toString('hex') };
    case 'timings':
      return { ok: true, timings: host.timings };
    case 'call_reducer': {
      const id = req.reducer !== undefined ? host.reducerId(req.reducer) : req.id;
      return { ok: true, ...(await host.callReducer({ id, ...callArgs(req) })) };
    }
    case 'lifecycle': {
      const spec = { init: 'Init', connect: 'OnConnect', disconnect: 'OnDisconnect' }[req.event];
      if (!spec) throw new Error(`unknown lifecycle event ${JSON.stringify(req.event)}`);
      const id = host.lifecycleReducer(spec);
      if (id === null) return { ok: true, outcome: 'ok', logs: [], absent: true };
      return { ok: true, ...(await host.callReducer({ id, ...callArgs(req) })) };
    }
    case 'call_procedure': {
      const procs = host.ds.def.procedures;
      const id = req.procedure !== undefined ? procs.findIndex((p) => p.source_name === req.procedure) : req.id;
      if (id < 0) throw new Error(`no procedure named ${JSON.stringify(req.procedure)}`);
      return { ok: true, ...(await host.callProcedure({ id, ...callArgs(req) })) };
    }
    case 'call_view': {
      const view = host.ds.def.views.find((v) => v.source_name === req.view);
      if (!view) throw new Error(`no view named ${JSON.stringify(req.view)}`);
      const sender = view.is_anonymous ? null : big(req.sender);
      return { ok: true, ...(await host.callView({ id: view.index, sender, args: hex(req.args), timestamp: big(req.timestamp) })) };
    }
    case 'dump':
      return { ok: true, tables: host.ds.dump() };
    default:
      throw new Error(`unknown command ${JSON.stringify(req.cmd)}`);
  }
}

async function main() {
  const [path, ...opts] = process.argv.slice(2);
  if (!path) {
    out({ ready: false, error: 'usage: driver.mjs BUNDLE [--identity=U256]' });
    process.exit(2);
  }
  const options = {};
  for (const opt of opts) if (opt.startsWith('--identity=')) options.identity = BigInt(opt.slice('--identity='.length));
  let host;
  try {
    host = await SealedHost.load(await readFile(path), options);
  } catch (e) {
    out({ ready: false, error: String(e?.stack ?? e) });
    process.exit(1);
  }
  out({ ready: true, timings: host.timings });
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    if (!line.trim()) continue;
    let req;
    try {
      req = JSON.parse(line);
    } catch (e) {
      out({ ok: false, error: `bad JSON: ${e.message}` });
      continue;
    }
    if (req.cmd === 'quit') break;
    try {
      out(await handle(host, req));
    } catch (e) {
      out({ ok: false, error: String(e?.stack ?? e) });
    }
  }
}

await main();
