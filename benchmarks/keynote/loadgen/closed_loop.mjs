// The closed-loop driver shared by both load generators: `clients` x `inflight` slots, each slot
// issuing one transfer, awaiting it, and issuing the next, through warmup and a timed window.
// Only completions inside the window count; latency is measured per call from send to reply.
import { performance } from 'node:perf_hooks';
import { Latencies } from './latencies.mjs';
import { emit } from './options.mjs';

const MAX_ERROR_KINDS = 5;

/**
 * @param {object} o
 * @param {number} o.clients   number of client connections
 * @param {number} o.inflight  calls in flight per client (one closed loop per slot)
 * @param {{from: Uint32Array, to: Uint32Array, count: number}} o.pairs
 * @param {number} o.warmupMs
 * @param {number} o.windowMs
 * @param {number} o.drainMs   how long to wait, after the window, for calls still in flight
 * @param {(client: number, from: number, to: number) => Promise<void>} o.call
 */
export async function runClosedLoop({ clients, inflight, pairs, warmupMs, windowMs, drainMs, call }) {
  const slots = clients * inflight;
  const stride = Math.max(1, Math.floor(pairs.count / slots));
  const latencies = new Latencies();
  const errorKinds = new Map();
  let ok = 0;
  let failed = 0;
  let failedOutsideWindow = 0;
  let okOutsideWindow = 0;

  const t0 = performance.now();
  const windowStart = t0 + warmupMs;
  const windowEnd = windowStart + windowMs;
  let cpuAtStart = null;
  let cpuAtEnd = null;
  let wallAtStart = 0;
  let wallAtEnd = 0;
  setTimeout(() => {
    cpuAtStart = process.cpuUsage();
    wallAtStart = performance.now();
    emit('window_start');
  }, warmupMs);
  let windowClosed;
  const closed = new Promise((resolve) => {
    windowClosed = resolve;
  });
  setTimeout(() => {
    cpuAtEnd = process.cpuUsage();
    wallAtEnd = performance.now();
    emit('window_end');
    windowClosed();
  }, warmupMs + windowMs);

  const noteError = (err) => {
    const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    const key = msg.slice(0, 160);
    if (errorKinds.has(key) || errorKinds.size < MAX_ERROR_KINDS) errorKinds.set(key, (errorKinds.get(key) ?? 0) + 1);
  };

  async function slot(index) {
    const client = index % clients;
    let p = (index * stride) % pairs.count;
    for (;;) {
      const start = performance.now();
      if (start >= windowEnd) return;
      const from = pairs.from[p];
      const to = pairs.to[p];
      p = p + 1 === pairs.count ? 0 : p + 1;
      let error = null;
      try {
        await call(client, from, to);
      } catch (err) {
        error = err;
      }
      const end = performance.now();
      const inWindow = end >= windowStart && end <= windowEnd;
      if (error === null) {
        if (inWindow) {
          ok++;
          latencies.add(end - start);
        } else okOutsideWindow++;
      } else {
        noteError(error);
        if (inWindow) failed++;
        else failedOutsideWindow++;
      }
    }
  }

  let finished = 0;
  const all = Promise.all(
    Array.from({ length: slots }, (_, i) =>
      slot(i).finally(() => {
        finished++;
      }),
    ),
  );
  // Slots can all stop a hair before the end timer fires; the window's samples come from that timer.
  await closed;
  // Bounded: past the window plus drainMs, slots still waiting on a reply are reported as stuck.
  let drainTimer;
  const drained = await Promise.race([
    all.then(() => true),
    new Promise((resolve) => {
      drainTimer = setTimeout(() => resolve(false), drainMs);
    }),
  ]);
  clearTimeout(drainTimer);
  if (cpuAtStart === null) throw new Error('the timed window never opened (warmup timer did not fire)');

  const windowS = windowMs / 1000; // completions are counted against these fixed boundaries
  const cpuWindowS = (wallAtEnd - wallAtStart) / 1000; // CPU is sampled by the timers
  const cpuWindow = {
    user: cpuAtEnd.user - cpuAtStart.user,
    system: cpuAtEnd.system - cpuAtStart.system,
  };
  const cpuS = (cpuWindow.user + cpuWindow.system) / 1e6;
  const pct = latencies.percentiles([50, 99]);
  return {
    slots,
    window_s: windowS,
    ok,
    failed,
    ok_outside_window: okOutsideWindow,
    failed_outside_window: failedOutsideWindow,
    stuck: slots - finished,
    drained,
    tps: ok / windowS,
    p50_ms: pct[50],
    p99_ms: pct[99],
    gen_cpu_s: cpuS,
    gen_cores: cpuS / cpuWindowS,
    gen_us_per_call: ok + failed > 0 ? (cpuS * 1e6) / (ok + failed) : null,
    errors: Object.fromEntries(errorKinds),
  };
}
