"""Engine benchmark: transfers, inserts and memory per row, each as a ratio to plain dicts.

Every figure is a ratio against a baseline doing the same work on plain Python dicts in the same
process and run: a transfer on `dict[id] -> (id, balance)`, inserts into a pk dict plus a
dict-of-lists secondary index, memory of a `dict[id] -> (id, value)`. Absolute times are printed
for orientation only (they move with the machine's load; the ratios much less).

  python benchmarks/engine.py            # full sizes (about a minute)
  python benchmarks/engine.py --quick    # small sizes, for a smoke run

(a) transfers directly on the engine: 100,000 accounts (u32 pk, i64 balance); pairs uniform and
    Zipf(1.5)-skewed; each transfer = begin, find both, two updates, commit (delta built).
(b) inserts into a table with a primary key and one non-unique btree index, 1,000 per transaction;
    once before any ordered scan (the btree's sorted keys are built lazily), once after.
(c) memory per row for 1,000,000 rows of (u32 pk, i32), measured with tracemalloc (bytes Python
    allocated and still holds after commit: rows, ints, dicts; not allocator slack) and as resident
    memory (RSS growth while building the table in a fresh process, allocator slack included).
(d) transfers through the host's reducer call path (examples/bank.py `transfer`, Python args),
    when `spacetimedb.host` can load the module.
(e) replaying transfer deltas with `apply_delta` (crash recovery), vs applying them to a dict.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import platform
import random
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spacetimedb.engine import Database, TableDelta, TxDelta
from spacetimedb.module.schema import ColumnSchema, IndexSchema, TableSchema
from spacetimedb.sats.algebraic_type import I32, I64, U32

ACCOUNTS = TableSchema(
    1,
    "accounts",
    (ColumnSchema("id", U32), ColumnSchema("balance", I64)),
    primary_key=0,
    indexes=(IndexSchema(1, "accounts_id_idx_btree", "id", (0,), True),),
)
SCORES = TableSchema(
    2,
    "scores",
    (ColumnSchema("id", U32), ColumnSchema("score", I32)),
    primary_key=0,
    indexes=(
        IndexSchema(2, "scores_id_idx_btree", "id", (0,), True),
        IndexSchema(3, "scores_score_idx_btree", "score", (1,), False),
    ),
)
PAIRS = TableSchema(
    3,
    "pairs",
    (ColumnSchema("id", U32), ColumnSchema("value", I32)),
    primary_key=0,
    indexes=(IndexSchema(4, "pairs_id_idx_btree", "id", (0,), True),),
)
BALANCE = 1_000_000_000


def zipf_pairs(n: int, count: int, alpha: float, rng: random.Random) -> list[tuple[int, int]]:
    """`count` (from, to) pairs over ids 0..n-1, from != to; alpha 0 is uniform."""
    weights = [1.0 / (i + 1) ** alpha for i in range(n)]
    cum = list(itertools.accumulate(weights))
    ids = list(range(n))
    rng.shuffle(ids)  # hot ids spread over the key space, not all at the low end
    out: list[tuple[int, int]] = []
    while len(out) < count:
        a, b = rng.choices(ids, cum_weights=cum, k=2)
        if a != b:
            out.append((a, b))
    return out


def paired_best(repeats: int, *fns: Callable[[], Any]) -> list[float]:
    """Best time of each function over `repeats` rounds, the functions taking turns in each round,
    so that load from other processes falls on the workload and its baseline alike."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            gc.collect()
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


# ---- (a) transfers ------------------------------------------------------------------------------


def engine_transfers(n: int) -> tuple[Database, Callable[[list[tuple[int, int]]], None]]:
    db = Database([ACCOUNTS])
    tx = db.begin()
    for i in range(n):
        tx.insert(1, (i, BALANCE))
    tx.commit()

    def run(pairs: list[tuple[int, int]]) -> None:
        begin = db.begin
        for a, b in pairs:
            tx = begin()
            src = tx.index_find(1, a)
            dst = tx.index_find(1, b)
            if src is None or dst is None or src[1] < 1:
                tx.rollback()
                continue
            tx.update(1, (a, src[1] - 1))
            tx.update(1, (b, dst[1] + 1))
            tx.commit()

    return db, run


def dict_transfers(n: int) -> tuple[dict[int, tuple[int, int]], Callable[[list[tuple[int, int]]], None]]:
    accounts = {i: (i, BALANCE) for i in range(n)}

    def run(pairs: list[tuple[int, int]]) -> None:
        get = accounts.get
        for a, b in pairs:
            src = get(a)
            dst = get(b)
            if src is None or dst is None or src[1] < 1:
                continue
            accounts[a] = (a, src[1] - 1)
            accounts[b] = (b, dst[1] + 1)

    return accounts, run


def bench_transfers(n: int, count: int, repeats: int) -> list[tuple[str, float, float]]:
    rng = random.Random(7)
    db, engine_run = engine_transfers(n)
    _, dict_run = dict_transfers(n)
    rows = []
    for label, alpha in (("uniform", 0.0), ("zipf 1.5", 1.5)):
        pairs = zipf_pairs(n, count, alpha, rng)
        engine_s, dict_s = paired_best(
            repeats,
            lambda p=pairs: engine_run(p),  # type: ignore[misc]
            lambda p=pairs: dict_run(p),  # type: ignore[misc]
        )
        rows.append((label, engine_s / count, dict_s / count))
    total = sum(r[1] for r in db.scan(1))
    assert total == n * BALANCE, "transfers must conserve the sum of balances"
    db.check_invariants() if n <= 10_000 else None
    return rows


# ---- (b) inserts --------------------------------------------------------------------------------


def bench_inserts(count: int, repeats: int, batch: int = 1000) -> list[tuple[str, float, float]]:
    rng = random.Random(11)
    # Scores spread over i32, so (nearly) every insert adds a new key to the btree.
    rows = [(i, rng.randrange(-(2**31), 2**31)) for i in range(count)]
    batches = [rows[i : i + batch] for i in range(0, count, batch)]

    def engine_insert(ordered: bool) -> Callable[[], None]:
        def run() -> None:
            db = Database([SCORES])
            if ordered:
                list(db.index_range(3, (), None, None))  # materialise the btree's sorted keys
            for chunk in batches:
                tx = db.begin()
                for row in chunk:
                    tx.insert(2, row)
                tx.commit()

        return run

    def dict_insert() -> None:
        pk: dict[int, tuple[int, int]] = {}
        by_score: dict[int, list[tuple[int, int]]] = {}
        for chunk in batches:
            for row in chunk:
                if row[0] in pk:
                    raise KeyError(row[0])
                pk[row[0]] = row
                by_score.setdefault(row[1], []).append(row)

    out = []
    for label, ordered in (
        ("btree keys not yet sorted", False),
        ("btree keys sorted (after a range scan)", True),
    ):
        engine_s, dict_s = paired_best(repeats, engine_insert(ordered), dict_insert)
        out.append((label, engine_s / count, dict_s / count))
    return out


# ---- (c) memory -----------------------------------------------------------------------------------


def traced_bytes(build: Callable[[], Any]) -> tuple[int, Any]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, kept


def bench_memory(count: int) -> tuple[float, float]:
    rng = random.Random(5)
    values = [rng.randrange(-(2**31), 2**31) for _ in range(count)]

    def engine_build() -> Database:
        db = Database([PAIRS])
        tx = db.begin()
        insert = tx.insert
        for i in range(count):
            insert(3, (i + 1000, values[i] + 0))  # fresh int objects, as decoded rows would have
        tx.commit()
        return db

    def dict_build() -> dict[int, tuple[int, int]]:
        table: dict[int, tuple[int, int]] = {}
        for i in range(count):
            key = i + 1000
            table[key] = (key, values[i] + 0)
        return table

    engine_bytes, db = traced_bytes(engine_build)
    assert db.count(3) == count
    del db
    dict_bytes, d = traced_bytes(dict_build)
    del d
    return engine_bytes / count, dict_bytes / count


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def rss_child(kind: str, count: int) -> None:
    """Runs in a fresh interpreter: prints the resident-memory growth of building `kind`."""
    rng = random.Random(5)
    values = [rng.randrange(-(2**31), 2**31) for _ in range(count)]
    gc.collect()
    before = _rss_bytes()
    if kind == "engine":
        db = Database([PAIRS])
        for start in range(0, count, 1000):  # rows arrive in many transactions, as from reducers
            tx = db.begin()
            for i in range(start, min(start + 1000, count)):
                tx.insert(3, (i + 1000, values[i] + 0))
            tx.commit()
        kept: Any = db
    else:
        kept = {i + 1000: (i + 1000, values[i] + 0) for i in range(count)}
    gc.collect()
    print(_rss_bytes() - before, len(kept) if kind == "dict" else kept.count(3))


def bench_rss(count: int) -> tuple[float, float]:
    """Resident memory per row (RSS growth in a fresh process), engine and dict."""
    out = []
    for kind in ("engine", "dict"):
        proc = subprocess.run(
            [sys.executable, __file__, "--rss-child", kind, str(count)], capture_output=True, text=True, check=True
        )
        grown, rows = (int(x) for x in proc.stdout.split())
        assert rows == count
        out.append(grown / count)
    return out[0], out[1]


# ---- (e) replay ----------------------------------------------------------------------------------


def bench_replay(n: int, count: int, repeats: int) -> tuple[float, float]:
    """Replaying committed transfer deltas (crash recovery) vs applying them to a dict."""
    db, _ = engine_transfers(n)
    seed = TxDelta({1: TableDelta(list(db.scan(1)), [])})
    deltas = []
    for a, b in zipf_pairs(n, count, 0.0, random.Random(13)):
        tx = db.begin()
        src = tx.index_find(1, a)
        dst = tx.index_find(1, b)
        assert src is not None and dst is not None
        tx.update(1, (a, src[1] - 1))
        tx.update(1, (b, dst[1] + 1))
        deltas.append(tx.commit())

    def engine_replay() -> None:
        replica = Database([ACCOUNTS])
        replica.apply_delta(seed)
        for delta in deltas:
            replica.apply_delta(delta)

    def dict_replay() -> None:
        table = {row[0]: row for row in seed.tables[1].inserts}
        for delta in deltas:
            for change in delta.tables.values():
                for row in change.deletes:
                    del table[row[0]]
                for row in change.inserts:
                    table[row[0]] = row

    engine_s, dict_s = paired_best(repeats, engine_replay, dict_replay)
    return engine_s / count, dict_s / count


# ---- (d) through the host ----------------------------------------------------------------------


def bench_host(n: int, count: int, repeats: int) -> tuple[float, float] | str:
    try:
        from spacetimedb.testing import TestDatabase
    except ImportError as e:  # pragma: no cover - depends on the host layer being present
        return f"host layer not importable: {e}"
    bank = Path(__file__).resolve().parent.parent / "examples" / "bank.py"
    tdb = TestDatabase.load(bank)
    tdb.call("seed", n, BALANCE)
    host = tdb.host
    caller = tdb.default_sender
    pairs = zipf_pairs(n, count, 0.0, random.Random(3))

    def run() -> None:
        call = host.call_reducer
        for a, b in pairs:
            call("transfer", (a, b, 1), caller=caller, args_format="python")

    _, dict_run = dict_transfers(n)
    host_s, dict_s = paired_best(repeats, run, lambda: dict_run(pairs))
    return host_s / count, dict_s / count


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run, figures not meaningful")
    p.add_argument("--skip-memory", action="store_true", help="skip (c), the slowest part")
    p.add_argument("--rss-child", nargs=2, metavar=("KIND", "ROWS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.rss_child:
        rss_child(args.rss_child[0], int(args.rss_child[1]))
        return
    quick = args.quick
    accounts = 2_000 if quick else 100_000
    transfers = 2_000 if quick else 100_000
    repeats = 1 if quick else 5
    print(
        f"engine benchmark: Python {platform.python_version()} on {platform.machine()}, "
        f"{'quick' if quick else 'full'} sizes, best of {repeats}"
    )

    print(
        f"\n(a) transfers on the engine, {accounts:,} accounts, {transfers:,} transfers (ratio = engine / dict)"
    )
    for label, engine_t, dict_t in bench_transfers(accounts, transfers, repeats):
        print(
            f"  {label:10s} ratio {engine_t / dict_t:5.2f}x   "
            f"(engine {engine_t * 1e6:.2f} us = {1 / engine_t:,.0f}/s; dict {dict_t * 1e6:.2f} us)"
        )

    inserts = 5_000 if quick else 200_000
    print(
        f"\n(b) inserts, pk + one btree index, {inserts:,} rows, 1,000 per transaction (ratio = engine / dict)"
    )
    for label, engine_t, dict_t in bench_inserts(inserts, repeats):
        print(
            f"  {label:38s} ratio {engine_t / dict_t:5.2f}x   "
            f"(engine {engine_t * 1e6:.2f} us = {1 / engine_t:,.0f}/s; dict {dict_t * 1e6:.2f} us)"
        )

    if not args.skip_memory:
        rows = 20_000 if quick else 1_000_000
        engine_b, dict_b = bench_memory(rows)
        print(f"\n(c) memory per row, {rows:,} rows of (u32 pk, i32), tracemalloc (ratio = engine / dict)")
        print(
            f"  ratio {engine_b / dict_b:5.2f}x   (engine {engine_b:.0f} B/row; dict {dict_b:.0f} B/row; goal <= 250)"
        )
        if sys.platform.startswith("linux"):
            engine_r, dict_r = bench_rss(rows)
            print(f"    resident (RSS growth in a fresh process): ratio {engine_r / dict_r:5.2f}x   "
                  f"(engine {engine_r:.0f} B/row; dict {dict_r:.0f} B/row; goal <= 250)")

    host_n = 2_000 if quick else 100_000
    host_count = 1_000 if quick else 30_000
    print(f"\n(d) transfers through the host (examples/bank.py), {host_n:,} accounts (ratio = host / dict)")
    host = bench_host(host_n, host_count, repeats)
    if isinstance(host, str):
        print(f"  skipped: {host}")
    else:
        host_t, dict_t = host
        print(
            f"  uniform    ratio {host_t / dict_t:5.2f}x   "
            f"(host {host_t * 1e6:.2f} us = {1 / host_t:,.0f}/s; dict {dict_t * 1e6:.2f} us)"
        )

    print(f"\n(e) replaying {transfers:,} transfer deltas onto {accounts:,} accounts (ratio = engine / dict)")
    engine_t, dict_t = bench_replay(accounts, transfers, repeats)
    print(
        f"  apply_delta ratio {engine_t / dict_t:5.2f}x   "
        f"(engine {engine_t * 1e6:.2f} us = {1 / engine_t:,.0f}/s; dict {dict_t * 1e6:.2f} us)"
    )


if __name__ == "__main__":
    main()
