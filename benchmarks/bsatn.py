"""BSATN codec benchmark: encode and decode rows/s as a ratio to pickle on the same rows, same run.

  python benchmarks/bsatn.py            # 20,000 rows per case, best of 9 (interleaved)
  python benchmarks/bsatn.py --quick    # small sizes, for a smoke run

Cases (rows are tuples in column order, as below the module layer):
  fixed   (u32, f32, f32, f32)
  player  (id str, name str, score i64, position (f64, f64), inventory list[str])
  player/class  the same as a dataclass with a nested Position dataclass (the module layer's view)

A ratio above 1.00 means the codec is faster than `pickle.dumps` / `pickle.loads` of the same
value. Goals: fixed >= 1.0 both ways; player >= 0.5 both ways.
"""

from __future__ import annotations

import argparse
import pickle
import platform
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spacetimedb import bsatn, f32, u32
from spacetimedb.sats import algebraic_type as at

FIXED = at.product(("id", at.U32), ("x", at.F32), ("y", at.F32), ("z", at.F32))
PLAYER = at.product(
    ("id", at.STRING),
    ("name", at.STRING),
    ("score", at.I64),
    ("position", at.product(("x", at.F64), ("y", at.F64))),
    ("inventory", at.array(at.STRING)),
)


@dataclass
class Position:
    x: float
    y: float


@dataclass
class Player:
    id: str
    name: str
    score: int
    position: Position
    inventory: list[str]


@dataclass
class Fixed:
    id: u32
    x: f32
    y: f32
    z: f32


def fixed_rows(n: int, rng: random.Random) -> list[tuple[int, float, float, float]]:
    # f32-exact values, so decoded rows equal the originals
    return [(i, float(rng.randint(-1000, 1000)) / 4, 0.5, float(i % 64)) for i in range(n)]


def player_rows(n: int, rng: random.Random) -> list[tuple[Any, ...]]:
    items = ["sword", "shield", "potion", "map", "key", "torch"]
    return [
        (
            f"p{i:08d}",
            f"player-{rng.randint(0, 10**6)}",
            rng.randint(-(10**9), 10**9),
            (rng.random() * 100, rng.random() * 100),
            rng.sample(items, rng.randint(0, 4)),
        )
        for i in range(n)
    ]


def _seconds(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(name: str, rows: list[Any], encode: Callable[[Any], bytes], decode: Callable[[bytes], Any], repeats: int) -> dict[str, float]:
    """Best-of-`repeats` rows/s of each of the four loops, run interleaved so load drift hits all alike."""
    encoded = [encode(r) for r in rows]
    assert [decode(b) for b in encoded[:50]] == rows[:50], f"{name}: round trip failed"
    pickled = [pickle.dumps(r) for r in rows]
    dumps, loads = pickle.dumps, pickle.loads
    loops: dict[str, Callable[[], object]] = {
        "enc": lambda: [encode(r) for r in rows],
        "p_enc": lambda: [dumps(r) for r in rows],
        "dec": lambda: [decode(b) for b in encoded],
        "p_dec": lambda: [loads(b) for b in pickled],
    }
    best = dict.fromkeys(loops, float("inf"))
    for _ in range(repeats):
        for key, fn in loops.items():
            best[key] = min(best[key], _seconds(fn))
    n = len(rows)
    enc, p_enc, dec, p_dec = (n / best[k] for k in ("enc", "p_enc", "dec", "p_dec"))
    size = sum(map(len, encoded)) / n
    psize = sum(map(len, pickled)) / n
    print(
        f"{name:14s} encode {enc / p_enc:5.2f}x pickle   decode {dec / p_dec:5.2f}x pickle   "
        f"(bsatn {enc / 1e6:.2f}M/{dec / 1e6:.2f}M rows/s, pickle {p_enc / 1e6:.2f}M/{p_dec / 1e6:.2f}M; "
        f"{size:.0f} vs {psize:.0f} bytes/row)"
    )
    return {"encode": enc / p_enc, "decode": dec / p_dec}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    args = parser.parse_args()
    n, repeats = (2_000, 3) if args.quick else (20_000, 9)
    rng = random.Random(42)
    print(f"BSATN vs pickle (default protocol {pickle.DEFAULT_PROTOCOL}), {n} rows, best of {repeats}")
    print(f"{platform.python_implementation()} {platform.python_version()} on {platform.machine()}")
    fixed = fixed_rows(n, rng)
    players = player_rows(n, rng)
    fixed_codec = bsatn.compile(FIXED)
    player_codec = bsatn.compile(PLAYER)
    measure("fixed", fixed, fixed_codec.encode, fixed_codec.decode, repeats)
    measure("player", players, player_codec.encode, player_codec.decode, repeats)
    fixed_cls = bsatn.compile(Fixed)
    measure("fixed/class", [Fixed(*r) for r in fixed], fixed_cls.encode, fixed_cls.decode, repeats)
    player_cls = bsatn.compile(Player)
    objs = [Player(r[0], r[1], r[2], Position(*r[3]), r[4]) for r in players]
    measure("player/class", objs, player_cls.encode, player_cls.decode, repeats)


if __name__ == "__main__":
    main()
