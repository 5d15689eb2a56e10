"""Subscription evaluation per commit: incremental (QueryRegistry) vs re-running the queries.

For each scenario, N clients subscribe; then a series of commits runs against the engine, and for
every commit we time (a) the incremental path: `QueryRegistry.evaluate` on the commit's delta, then
fan-out preparation (BSATN-encode each changed plan's rows once, hand the shared bytes to each
subscriber); against (b) the baseline: re-run every distinct query from scratch on the post-commit
state, diff it with its previous result (multiset), then the same fan-out. The baseline already
deduplicates identical queries, so the ratio isolates incremental evaluation. A second baseline,
re-running once per client, shows what deduplication alone saves for identical queries.

The view case: N clients each subscribed to a per-caller view (`my_account`: a unique-index lookup
by `ctx.sender`, benchmarks/modules/view_bench.py) through the server's SubscriptionManager; per
commit (20 accounts updated) it times the evaluation with read tracking (only views that read a
changed row run again) against re-running the view for every subscriber, both with the diff and
the encoded fan-out.

    .venv/bin/python benchmarks/subscriptions.py [--clients N] [--commits M] [--quick]

Prints ratios (baseline time / incremental time) measured in this process; higher is better.
"""

from __future__ import annotations

import argparse
import platform
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spacetimedb import bsatn
from spacetimedb.engine import Database
from spacetimedb.module.schema import ColumnSchema, IndexSchema, TableSchema
from spacetimedb.query import Catalog, QueryRegistry
from spacetimedb.sats.algebraic_type import I32, U8, U32
from spacetimedb.sats.special import Identity

PLAYER = TableSchema(
    1,
    "player",
    (ColumnSchema("id", U32), ColumnSchema("x", I32), ColumnSchema("y", I32), ColumnSchema("zone", U32)),
    primary_key=0,
    indexes=(
        IndexSchema(1, "player_id_idx_btree", "id", (0,), True),
        IndexSchema(2, "player_zone_idx_btree", "zone", (3,), False),
    ),
    public=True,
)
ITEM = TableSchema(
    2,
    "item",
    (ColumnSchema("id", U32), ColumnSchema("owner_id", U32), ColumnSchema("kind", U8)),
    primary_key=0,
    indexes=(
        IndexSchema(3, "item_id_idx_btree", "id", (0,), True),
        IndexSchema(4, "item_owner_id_idx_btree", "owner_id", (1,), False),
    ),
    public=True,
)
N_PLAYERS = 10_000
N_ZONES = 100
CHANGES_PER_COMMIT = 20


def seeded_db(rng: random.Random) -> Database:
    db = Database([PLAYER, ITEM])
    tx = db.begin()
    for i in range(N_PLAYERS):
        tx.insert(PLAYER.table_id, (i, rng.randrange(1000), rng.randrange(1000), i % N_ZONES))
        tx.insert(ITEM.table_id, (i, i, rng.randrange(5)))
        tx.insert(ITEM.table_id, (N_PLAYERS + i, i, rng.randrange(5)))
    tx.commit()
    return db


def commit_moves(db: Database, rng: random.Random) -> Any:
    """Move some players (a primary-key update) and hand over some items."""
    tx = db.begin()
    for _ in range(CHANGES_PER_COMMIT):
        pid = rng.randrange(N_PLAYERS)
        row = tx.index_find(1, pid)
        assert row is not None
        tx.update(1, (pid, row[1] + 1, row[2] - 1, row[3]))
        iid = rng.randrange(2 * N_PLAYERS)
        item = tx.index_find(3, iid)
        assert item is not None
        tx.update(3, (iid, rng.randrange(N_PLAYERS), item[2]))
    return tx.commit()


Codecs = dict[str, Callable[[Any], bytes]]


def fan_out(
    changes: dict[int, tuple[list[Any], list[Any]]],
    table_of: dict[int, str],
    subscribers: dict[int, list[int]],
    codecs: Codecs,
) -> int:
    """Encode each changed plan's rows once, then give every subscriber the shared bytes."""
    per_client: dict[int, list[bytes]] = {}
    for pid, (ins, dels) in changes.items():
        enc = codecs[table_of[pid]]
        payload = b"".join(map(enc, ins)) + b"".join(map(enc, dels))
        for client in subscribers[pid]:
            per_client.setdefault(client, []).append(payload)
    return len(per_client)


def run_scenario(name: str, queries: list[str], commits: int, seed: int) -> dict[str, float]:
    catalog = Catalog([PLAYER, ITEM])
    codecs: Codecs = {t.name: bsatn.compile(t.row_type).encode for t in (PLAYER, ITEM)}
    results = {}
    for mode in ("incremental", "rerun_distinct", "rerun_per_client"):
        rng = random.Random(seed)
        db = seeded_db(rng)
        reg = QueryRegistry(catalog)
        subscribers: dict[int, list[int]] = {}
        per_client_plan: list[int] = []
        for client, sql in enumerate(queries):
            pid, _ = reg.add(sql)
            subscribers.setdefault(pid, []).append(client)
            per_client_plan.append(pid)
        plans = {pid: reg.get(pid) for pid in subscribers}
        table_of = {pid: p.return_table_name for pid, p in plans.items()}
        previous = {pid: Counter(p.initial_rows(db)) for pid, p in plans.items()}
        elapsed = 0.0
        evaluating = 0.0
        for _ in range(commits):
            delta = commit_moves(db, rng)
            t0 = time.perf_counter()
            if mode == "incremental":
                changes = reg.evaluate(delta, db)
            else:
                changes = {}
                runs = (
                    plans.items()
                    if mode == "rerun_distinct"
                    else ((pid, plans[pid]) for pid in per_client_plan)
                )
                for pid, plan in runs:
                    now = Counter(plan.initial_rows(db))
                    before = previous[pid]
                    ins, dels = list((now - before).elements()), list((before - now).elements())
                    previous[pid] = now
                    if ins or dels:
                        changes[pid] = (ins, dels)
            t1 = time.perf_counter()
            fan_out(changes, table_of, subscribers, codecs)
            elapsed += time.perf_counter() - t0
            evaluating += t1 - t0
        results[mode] = elapsed / commits
        results[mode + "_eval"] = evaluating / commits
    return results


VIEW_MODULE = Path(__file__).resolve().parent / "modules" / "view_bench.py"
N_ACCOUNTS_EXTRA = 9_000  # accounts nobody watches, so the table is not only the subscribers'


def run_view_scenario(n: int, commits: int, seed: int) -> dict[str, float]:
    """Seconds per commit (and view evaluations per commit) with read tracking and without."""
    from spacetimedb.control.backend import ServedTable
    from spacetimedb.control.host_backend import NamedChanges
    from spacetimedb.control.subscriptions import SubscriptionManager
    from spacetimedb.control.views import ViewEvaluator, ViewPlan
    from spacetimedb.module.loader import load_module
    from spacetimedb.module.runner import ModuleRunner

    module = load_module(VIEW_MODULE)
    view = module.views[0]
    schemas = list(module.table_schemas)
    account = schemas[0]
    pk = account.indexes[0].index_id
    info = ServedTable(view.name, True, False, bsatn.compile(view.row_product, module.typespace).encode)
    results: dict[str, float] = {}
    for mode in ("tracked", "rerun"):
        rng = random.Random(seed)
        db = Database(schemas)
        owners = [Identity(rng.getrandbits(256)) for _ in range(n + N_ACCOUNTS_EXTRA)]
        tx = db.begin()
        for owner in owners:
            tx.insert(account.table_id, (owner, 1000))
        tx.commit()
        runner = ModuleRunner(module, identity=Identity(1), log=lambda *_: None)
        evaluator = ViewEvaluator(runner, db, schemas)
        manager = SubscriptionManager(lambda: {view.name: info})
        tables = frozenset({account.name})
        for client in range(n):
            plan = ViewPlan(evaluator, view, owners[client], None, None, tables, track_reads=mode == "tracked")
            manager.add(client, 0, [plan])
        before = evaluator.evaluations
        elapsed = 0.0
        for _ in range(commits):
            tx = db.begin()
            for _ in range(CHANGES_PER_COMMIT):
                owner = owners[rng.randrange(len(owners))]
                row = tx.index_find(pk, owner)
                assert row is not None
                tx.update(pk, (owner, row[1] + 1))
            delta = tx.commit()
            changes = NamedChanges({account.name: delta.tables[account.table_id]}, delta.tables)
            t0 = time.perf_counter()
            manager.evaluate(changes)
            elapsed += time.perf_counter() - t0
        results[mode] = elapsed / commits
        results[mode + "_evaluations"] = (evaluator.evaluations - before) / commits
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--commits", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="100 clients, 5 commits")
    args = parser.parse_args()
    n, commits = (100, 5) if args.quick else (args.clients, args.commits)
    scenarios = {
        "identical: SELECT * FROM player WHERE zone = 7": ["SELECT * FROM player WHERE zone = 7"] * n,
        "identical join: items of zone 7": [
            "SELECT item.* FROM player JOIN item ON player.id = item.owner_id WHERE player.zone = 7"
        ]
        * n,
        "distinct: SELECT * FROM player WHERE id = <i>": [
            f"SELECT * FROM player WHERE id = {i}" for i in range(n)
        ],
        "distinct join: items of player <i>": [
            f"SELECT item.* FROM player JOIN item ON player.id = item.owner_id WHERE player.id = {i}"
            for i in range(n)
        ],
    }
    print(
        f"python {platform.python_version()} on {platform.machine()}, {N_PLAYERS} players, "
        f"{2 * N_PLAYERS} items, {CHANGES_PER_COMMIT} player + {CHANGES_PER_COMMIT} item updates per commit, "
        f"{n} clients, {commits} commits; single process, no client load"
    )
    print(
        f"{'scenario':50} {'eval+fan-out vs rerun distinct':>31} {'vs rerun per client':>20} {'eval only vs rerun distinct':>28}"
    )
    for label, queries in scenarios.items():
        r = run_scenario(label, queries, commits, seed=42)
        inc = r["incremental"]
        print(
            f"{label:50} {r['rerun_distinct'] / inc:30.1f}x {r['rerun_per_client'] / inc:19.1f}x "
            f"{r['rerun_distinct_eval'] / r['incremental_eval']:27.1f}x"
        )
    v = run_view_scenario(n, commits, seed=42)
    print(
        f"view: {n} clients on per-caller `my_account`, {CHANGES_PER_COMMIT} of {n + N_ACCOUNTS_EXTRA} accounts "
        f"updated per commit: read tracking {v['tracked'] * 1e3:.2f} ms ({v['tracked_evaluations']:.1f} view runs) vs "
        f"re-running per subscriber {v['rerun'] * 1e3:.2f} ms ({v['rerun_evaluations']:.0f} runs): "
        f"{v['rerun'] / v['tracked']:.1f}x"
    )


if __name__ == "__main__":
    main()
