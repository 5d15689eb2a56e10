"""Crash test with real processes: SIGKILL a durable transfer loop at random moments, recover, check.

Every transfer the driver reported durable must be present; no transfer may be half-applied
(each account's balance equals the initial balance plus its logged transfers); the total is
conserved; transfer ids (a sequence) are never reused across crashes.
"""

import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from spacetimedb.durability.database_durability import DatabaseDurability

from .bank import ACCOUNT, CODECS, TRANSFER, new_db, state_of

DRIVER = os.path.join(os.path.dirname(__file__), "crash_driver.py")
ACCOUNTS = 6
INITIAL = 1000
#: Kill/recover rounds; CI runs 30 (about 15 s). Raise it for a soak: SPACETIMEDB_CRASH_ROUNDS=500.
ROUNDS = int(os.environ.get("SPACETIMEDB_CRASH_ROUNDS", "30"))


def run_round(directory: str, seed: int, kill_after: float) -> tuple[int, list[tuple[int, ...]]]:
    """Start the driver, SIGKILL it after `kill_after` s of transfers; returns (recovered, confirmed)."""
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    env = dict(os.environ, PYTHONPATH=os.path.abspath(src))
    proc = subprocess.Popen(
        [sys.executable, DRIVER, directory, str(ACCOUNTS), str(seed)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )
    lines: list[str] = []
    started = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("RECOVERED"):
                started.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    assert started.wait(30), f"driver did not start: {proc.stderr.read() if proc.poll() is not None else ''}"
    time.sleep(kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    t.join(10)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    recovered = int(lines[0].split()[1])
    confirmed = [tuple(int(x) for x in ln.split()[1:]) for ln in lines[1:] if ln.startswith("T ") and ln.endswith("\n")]
    return recovered, confirmed


@pytest.mark.slow
def test_sigkill_never_loses_a_confirmed_transfer_nor_half_applies_one(tmp_path) -> None:
    d = str(tmp_path / "db")
    rng = random.Random(1234)
    all_confirmed: dict[int, tuple[int, ...]] = {}
    last_recovered = -1
    for round_no in range(ROUNDS):
        recovered, confirmed = run_round(d, rng.randrange(1 << 30), rng.uniform(0.05, 0.6))
        assert recovered >= last_recovered, "recovery went backwards"
        for c in confirmed:
            all_confirmed[c[0]] = c
        with DatabaseDurability.open(d) as dur:
            db = new_db()
            dur.attach(db, CODECS)
            state = state_of(db)
            last_recovered = dur.recovered.tx_offset
        assert last_recovered >= max(all_confirmed, default=-1), f"round {round_no}: lost confirmed commits"
        transfers = {row[0]: row for row in state[TRANSFER]}
        for off, tid, s, t, amount in all_confirmed.values():
            assert transfers.get(tid) == (tid, s, t, amount), f"confirmed transfer {tid} (tx {off}) missing"
        balances = {row[0]: row[1] for row in state[ACCOUNT]}
        assert len(balances) == ACCOUNTS
        assert sum(balances.values()) == ACCOUNTS * INITIAL
        expected = dict.fromkeys(range(ACCOUNTS), INITIAL)
        for _, s, t, amount in transfers.values():
            expected[s] -= amount
            expected[t] += amount
        assert balances == expected, "a transfer is half-applied"
    assert len(all_confirmed) > 0
