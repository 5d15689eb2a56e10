"""benchmarks/client_load.py end to end in a tiny configuration (so it cannot rot; no timing asserted),
and its Python generator draws the same account pairs as the npm one (loadgen/zipf.mjs)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NODE_SDK = REPO / "tests" / "node" / "node_modules" / "spacetimedb"
ZIPF = REPO / "benchmarks" / "keynote" / "loadgen" / "zipf.mjs"

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(shutil.which("node") is None or not NODE_SDK.exists(), reason="needs node and tests/node"),
]


def _py_loadgen():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("py_loadgen", REPO / "benchmarks" / "keynote" / "py_loadgen.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("alpha", [0.0, 1.5])
def test_python_pairs_are_the_npm_generators(alpha: float) -> None:
    code = (
        f"import {{ precomputePairs }} from {json.dumps(ZIPF.as_uri())};"
        f"const p = precomputePairs(1000, {alpha}, 2000);"
        "console.log(JSON.stringify([Array.from(p.from), Array.from(p.to)]));"
    )
    proc = subprocess.run(["node", "--input-type=module", "-e", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    froms, tos = json.loads(proc.stdout)
    assert _py_loadgen().precompute_pairs(1000, alpha, 2000) == list(zip(froms, tos, strict=True))


def test_tiny_client_load_run_compares_both_generators(tmp_path: Path) -> None:
    out = tmp_path / "client_load.json"
    argv = [sys.executable, str(REPO / "benchmarks" / "client_load.py"), "--seconds", "0.8", "--warmup", "0.2",
            "--clients", "2", "--inflight", "2", "--accounts", "500", "--alphas", "0,1.5", "--json", str(out)]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert report["sum_ok"] and sorted(r["generator"] for r in report["rows"]) == ["npm", "npm", "python", "python"]
    assert all(r["ok"] > 0 and r["failed"] == 0 for r in report["rows"]), report
    assert set(report["ratios"]) == {"0.0", "1.5"} and "Python client" in proc.stdout
