// Account-pair sampling for the keynote workload: Zipf over N ids (alpha 0 = uniform),
// from != to, precomputed before the timed window so sampling costs nothing inside it.

/** mulberry32: a small deterministic PRNG, so every run draws the same pairs. */
export function makeRng(seed = 0x12345678) {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r ^= r + Math.imul(r ^ (r >>> 7), 61 | r);
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

/** A sampler of ids 0..n-1; id k has weight 1/(k+1)^alpha (alpha <= 0: uniform). */
export function zipfSampler(n, alpha, rng) {
  if (!(n >= 2)) throw new Error(`zipf needs at least 2 ids, got ${n}`);
  if (alpha <= 0) return () => Math.floor(rng() * n);
  const cdf = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) total += 1 / Math.pow(i + 1, alpha);
  let acc = 0;
  for (let i = 0; i < n; i++) {
    acc += 1 / Math.pow(i + 1, alpha) / total;
    cdf[i] = acc;
  }
  cdf[n - 1] = 1.0;
  return () => {
    const u = rng();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** `count` (from, to) pairs with from != to, as two parallel arrays. */
export function precomputePairs(n, alpha, count, seed = 0x12345678) {
  const pick = zipfSampler(n, alpha, makeRng(seed));
  const from = new Uint32Array(count);
  const to = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const a = pick();
    let b = pick();
    // Redraw a few times as upstream does; then step to a neighbour so from != to always holds.
    for (let spins = 0; b === a && spins < 32; spins++) b = pick();
    if (b === a) b = (a + 1) % n;
    from[i] = a;
    to[i] = b;
  }
  return { from, to, count };
}
