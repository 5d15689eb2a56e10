"""The SQLite peer: stdlib sqlite3, WAL mode, synchronous=NORMAL, 64 MB cache, one connection.

synchronous=NORMAL is upstream's harness setting: in WAL mode a commit is not synced (the WAL is synced
at checkpoints), so a power cut may lose the last commits. `synchronous="FULL"` (keynote.py's
`--sqlite-synchronous full`) syncs the WAL at every commit: the durability our server gives a confirmed call.

The calls run synchronously on the event loop, as better-sqlite3 does in upstream's Node peer: with one
connection that serializes the transactions without locks or threads.
"""

from __future__ import annotations

import sqlite3

from keynote_bench.peer_errors import TransferRefused, check_transfer_args

_SELECT = "SELECT id, balance FROM accounts WHERE id IN (?, ?)"
_UPDATE = "UPDATE accounts SET balance = ? WHERE id = ?"


class SqliteBank:
    def __init__(self, path: str, synchronous: str = "NORMAL") -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per transfer.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        # As upstream's SQLite peer: a 64 MB page cache (the whole table fits) and temp data in memory.
        self._db.execute("PRAGMA cache_size=-64000")
        self._db.execute("PRAGMA temp_store=MEMORY")
        self._db.execute("CREATE TABLE IF NOT EXISTS accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)")

    async def transfer(self, from_id: int, to_id: int, amount: int) -> None:
        check_transfer_args(from_id, to_id, amount)
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            balances = dict(db.execute(_SELECT, (from_id, to_id)).fetchall())
            if len(balances) != 2:
                missing = from_id if from_id not in balances else to_id
                raise TransferRefused(f"account {missing} does not exist")
            if balances[from_id] < amount:
                raise TransferRefused(f"account {from_id} has insufficient funds")
            db.execute(_UPDATE, (balances[from_id] - amount, from_id))
            db.execute(_UPDATE, (balances[to_id] + amount, to_id))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    async def seed(self, n: int, balance: int) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM accounts")
            db.executemany("INSERT INTO accounts (id, balance) VALUES (?, ?)", ((i, balance) for i in range(n)))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    async def verify(self) -> tuple[int, int]:
        count, total = self._db.execute("SELECT COUNT(*), COALESCE(SUM(balance), 0) FROM accounts").fetchone()
        return int(count), int(total)

    async def close(self) -> None:
        self._db.close()
