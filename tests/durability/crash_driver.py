"""Subprocess for the kill -9 crash test: transfers between accounts, made durable, then reported.

    python crash_driver.py <database dir> <accounts> <seed>

Recovers the database (printing `RECOVERED <tx_offset>`), then runs transfers forever in small
batches. A line `T <tx_offset> <transfer id> <src> <dst> <amount>` is printed (and flushed) only
after that transfer's commit is durable, so every printed transfer must survive a SIGKILL.
"""

from __future__ import annotations

import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bank

from spacetimedb.durability.database_durability import DatabaseDurability
from spacetimedb.durability.policy import FsyncPolicy

INITIAL_BALANCE = 1000


def main() -> None:
    directory, accounts, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    dur = DatabaseDurability.open(directory, policy=FsyncPolicy.every_batch(), snapshot_every=300, max_segment_bytes=64 * 1024)
    db = bank.new_db()
    dur.attach(db, bank.CODECS)
    out = sys.stdout
    out.write(f"RECOVERED {dur.recovered.tx_offset}\n")
    out.flush()
    off = dur.next_tx_offset
    if db.count(bank.ACCOUNT) == 0:
        dur.record_commit(off, bank.open_accounts(db, accounts, INITIAL_BALANCE))
        dur.wait_durable_blocking(off)
        off += 1
    rng = random.Random(seed)
    while True:
        batch = []
        for _ in range(rng.randrange(1, 20)):
            src, dst, amount = rng.randrange(accounts), rng.randrange(accounts), rng.randrange(1, 50)
            delta = bank.transfer(db, src, dst, amount)
            (row,) = delta.tables[bank.TRANSFER].inserts
            dur.record_commit(off, delta)
            batch.append(f"T {off} {row[0]} {src} {dst} {amount}\n")
            off += 1
        dur.wait_durable_blocking(off - 1)
        out.write("".join(batch))
        out.flush()


if __name__ == "__main__":
    main()
