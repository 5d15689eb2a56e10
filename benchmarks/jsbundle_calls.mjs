// Reducer calls per second of a `spacetimedb build` bundle of examples/quickstart_chat.py inside the
// sealed host (tests/sealed_host/host.mjs), called in process: no JSON-line driver in between.
// node --experimental-vm-modules --single-threaded benchmarks/jsbundle_calls.mjs BUNDLE CALLS
// Prints one JSON line: {"calls", "seconds", "cpu_seconds"} (CPU time: steadier on a shared machine).
import { readFileSync } from 'node:fs';
import { SealedHost } from '../tests/sealed_host/host.mjs';

const [bundle, callsArg] = process.argv.slice(2);
const calls = Number(callsArg ?? 2000);
const host = await SealedHost.load(readFileSync(bundle, 'utf8'));
const text = (s) => {
  const b = Buffer.from(s, 'utf8');
  const out = new Uint8Array(4 + b.length);
  new DataView(out.buffer).setUint32(0, b.length, true);
  out.set(b, 4);
  return out;
};
const who = { sender: 0xa11cen, connectionId: 7n };
await host.callReducer({ id: host.reducerId('identity_connected'), ...who, timestamp: 1n });
const send = host.reducerId('send_message');
for (let i = 0; i < 50; i++) await host.callReducer({ id: send, ...who, timestamp: BigInt(10 + i), args: text(`w${i}`) });
const t0 = performance.now();
const cpu0 = process.cpuUsage();
for (let i = 0; i < calls; i++) {
  const r = await host.callReducer({ id: send, ...who, timestamp: BigInt(1000 + i), args: text(`m${i}`) });
  if (r.outcome !== 'ok') throw new Error(JSON.stringify(r));
}
const cpu = process.cpuUsage(cpu0);
console.log(JSON.stringify({ calls, seconds: (performance.now() - t0) / 1000, cpu_seconds: (cpu.user + cpu.system) / 1e6 }));
