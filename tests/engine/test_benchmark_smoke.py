"""The engine benchmark's workloads run and stay correct at tiny sizes (no timing asserted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "engine.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("engine_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["engine_bench"] = module
    spec.loader.exec_module(module)
    return module


def test_transfers_conserve_balances(bench: ModuleType) -> None:
    rows = bench.bench_transfers(200, 300, 1)
    assert [r[0] for r in rows] == ["uniform", "zipf 1.5"]


def test_zipf_pairs_are_distinct_and_in_range(bench: ModuleType) -> None:
    import random

    pairs = bench.zipf_pairs(50, 200, 1.5, random.Random(1))
    assert len(pairs) == 200 and all(a != b and 0 <= a < 50 and 0 <= b < 50 for a, b in pairs)


def test_inserts_and_memory_run(bench: ModuleType) -> None:
    assert len(bench.bench_inserts(2000, 1)) == 2
    engine_b, dict_b = bench.bench_memory(2000)
    assert engine_b > 0 and dict_b > 0


def test_replay_runs(bench: ModuleType) -> None:
    engine_t, dict_t = bench.bench_replay(200, 300, 1)
    assert engine_t > 0 and dict_t > 0
