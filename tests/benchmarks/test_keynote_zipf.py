"""The load generator's account pairs (loadgen/zipf.mjs): from != to, uniform at alpha 0, skewed at 1.5."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ZIPF = Path(__file__).resolve().parents[2] / "benchmarks" / "keynote" / "loadgen" / "zipf.mjs"

pytestmark = [pytest.mark.node, pytest.mark.skipif(shutil.which("node") is None, reason="needs node")]

SCRIPT = """
import { precomputePairs } from %s;
const out = {};
for (const alpha of [0, 1.5]) {
  const p = precomputePairs(1000, alpha, 20000);
  let same = 0, zero = 0, max = 0;
  const hits = new Uint32Array(1000);
  for (let i = 0; i < p.count; i++) {
    if (p.from[i] === p.to[i]) same++;
    hits[p.from[i]]++; hits[p.to[i]]++;
    max = Math.max(max, p.from[i], p.to[i]);
  }
  out[alpha] = { same, share0: hits[0] / (2 * p.count), max };
}
const again = precomputePairs(1000, 1.5, 10);
out.deterministic = JSON.stringify(Array.from(again.from)) === JSON.stringify(Array.from(precomputePairs(1000, 1.5, 10).from));
console.log(JSON.stringify(out));
"""


def test_pairs_are_distinct_and_follow_alpha() -> None:
    code = SCRIPT % json.dumps(ZIPF.as_uri())
    proc = subprocess.run(["node", "--input-type=module", "-e", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["0"]["same"] == 0 and out["1.5"]["same"] == 0
    assert out["0"]["max"] <= 999 and out["1.5"]["max"] <= 999
    assert out["0"]["share0"] < 0.01  # uniform: about 1/1000 of draws
    assert out["1.5"]["share0"] > 0.2  # zipf 1.5: id 0 carries a large share
    assert out["deterministic"] is True
