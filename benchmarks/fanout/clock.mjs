// Wall-clock milliseconds with sub-millisecond resolution, comparable across the benchmark's processes
// (each process's performance.timeOrigin is the wall clock at its start).
import { performance } from 'node:perf_hooks';

export const nowMs = () => performance.timeOrigin + performance.now();

/** A message text: sequence number (negative during warmup) and the send time. */
export const messageText = (seq, sentMs) => `${seq} ${sentMs.toFixed(3)}`;

export function parseText(text) {
  const space = text.indexOf(' ');
  return [Number(text.slice(0, space)), Number(text.slice(space + 1))];
}
