// Latency samples in a growable Float64Array (milliseconds), summarised once at the end.

const MAX_SAMPLES = 50_000_000;

export class Latencies {
  #buf = new Float64Array(1 << 16);
  #n = 0;
  dropped = 0;

  add(ms) {
    if (this.#n === this.#buf.length) {
      if (this.#buf.length >= MAX_SAMPLES) {
        this.dropped++;
        return;
      }
      const bigger = new Float64Array(this.#buf.length * 2);
      bigger.set(this.#buf);
      this.#buf = bigger;
    }
    this.#buf[this.#n++] = ms;
  }

  get count() {
    return this.#n;
  }

  /** Nearest-rank percentiles of the samples, in ms (null when there are none). */
  percentiles(ps) {
    const sorted = this.#buf.subarray(0, this.#n).slice().sort();
    const out = {};
    for (const p of ps) {
      out[p] = this.#n === 0 ? null : sorted[Math.min(this.#n - 1, Math.max(0, Math.ceil((p / 100) * this.#n) - 1))];
    }
    return out;
  }
}
