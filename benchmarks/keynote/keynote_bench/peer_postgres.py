"""The PostgreSQL peer: asyncpg pool, SERIALIZABLE, one transaction per transfer.

As upstream's peer: lock both rows in id order (SELECT ... FOR UPDATE), two updates, and retry
serialization failures, deadlocks and lock timeouts up to 10 attempts with jittered backoff.
"""

from __future__ import annotations

import asyncio
import random

import asyncpg

from keynote_bench.peer_errors import TransferRefused, check_transfer_args

MAX_ATTEMPTS = 10
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
_SELECT = "SELECT id, balance FROM accounts WHERE id = ANY($1::int[]) ORDER BY id FOR UPDATE"
_UPDATE = "UPDATE accounts SET balance = $1 WHERE id = $2"


class RetriesExhausted(Exception):
    """A transfer kept failing with serialization conflicts after MAX_ATTEMPTS tries."""


class PostgresBank:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.retries = 0

    @classmethod
    async def connect(cls, dsn: str, pool_size: int) -> PostgresBank:
        pool = await asyncpg.create_pool(dsn, min_size=pool_size, max_size=pool_size)
        async with pool.acquire() as con:
            await con.execute(
                "CREATE TABLE IF NOT EXISTS accounts (id integer PRIMARY KEY, balance bigint NOT NULL)"
            )
        return cls(pool)

    async def transfer(self, from_id: int, to_id: int, amount: int) -> None:
        check_transfer_args(from_id, to_id, amount)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                await self._transfer_once(from_id, to_id, amount)
                return
            except asyncpg.PostgresError as err:
                if err.sqlstate not in RETRYABLE_SQLSTATES:
                    raise
                if attempt == MAX_ATTEMPTS:
                    raise RetriesExhausted(f"gave up after {attempt} attempts: {err}") from err
                self.retries += 1
                # Upstream's backoff: uniform in [0, min(200 ms, 5 ms * 2^attempt)).
                await asyncio.sleep(random.random() * min(0.2, 0.005 * 2**attempt))

    async def _transfer_once(self, from_id: int, to_id: int, amount: int) -> None:
        async with self._pool.acquire() as con, con.transaction(isolation="serializable"):
            balances = {r[0]: r[1] for r in await con.fetch(_SELECT, [from_id, to_id])}
            if len(balances) != 2:
                missing = from_id if from_id not in balances else to_id
                raise TransferRefused(f"account {missing} does not exist")
            if balances[from_id] < amount:
                raise TransferRefused(f"account {from_id} has insufficient funds")
            await con.execute(_UPDATE, balances[from_id] - amount, from_id)
            await con.execute(_UPDATE, balances[to_id] + amount, to_id)

    async def seed(self, n: int, balance: int) -> None:
        async with self._pool.acquire() as con, con.transaction():
            await con.execute("TRUNCATE accounts")
            await con.copy_records_to_table("accounts", records=((i, balance) for i in range(n)))
        async with self._pool.acquire() as con:
            await con.execute("ANALYZE accounts")

    async def verify(self) -> tuple[int, int]:
        async with self._pool.acquire() as con:
            row = await con.fetchrow("SELECT COUNT(*), COALESCE(SUM(balance), 0) FROM accounts")
        assert row is not None
        return int(row[0]), int(row[1])

    async def close(self) -> None:
        await self._pool.close()
