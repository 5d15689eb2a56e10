"""The JSON-RPC peer server over SQLite: the bank rules, seed/verify, and the wire shape the generator expects."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from keynote_bench.peer_errors import TransferRefused
from keynote_bench.peer_server import make_app
from keynote_bench.peer_sqlite import SqliteBank


async def _call(client: TestClient, name: str, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    resp = await client.post("/rpc", json={"name": name, "args": args})
    return resp.status, await resp.json()


def _with_client(tmp_path: Path, body: Any) -> None:
    async def go() -> None:
        client = TestClient(TestServer(make_app(SqliteBank(str(tmp_path / "a.sqlite")))))
        await client.start_server()
        try:
            await body(client)
        finally:
            await client.close()

    asyncio.run(go())


def test_transfer_moves_one_unit_and_keeps_the_sum(tmp_path: Path) -> None:
    async def body(client: TestClient) -> None:
        assert await _call(client, "seed", {"accounts": 10, "initialBalance": 100}) == (200, {"ok": True})
        assert await _call(client, "transfer", {"from_id": 1, "to_id": 2, "amount": 1}) == (200, {"ok": True})
        status, verify = await _call(client, "verify", {})
        assert status == 200 and verify["result"] == {"count": 10, "total": "1000"}

    _with_client(tmp_path, body)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ({"from_id": 3, "to_id": 3, "amount": 1}, "itself"),
        ({"from_id": 1, "to_id": 2, "amount": 0}, "positive"),
        ({"from_id": 1, "to_id": 99, "amount": 1}, "does not exist"),
        ({"from_id": 1, "to_id": 2, "amount": 101}, "insufficient"),
    ],
)
def test_refused_transfers_answer_ok_false_and_change_nothing(
    tmp_path: Path, args: dict[str, int], needle: str
) -> None:
    async def body(client: TestClient) -> None:
        await _call(client, "seed", {"accounts": 5, "initialBalance": 100})
        status, answer = await _call(client, "transfer", args)
        assert status == 500 and answer["ok"] is False and needle in answer["error"]
        _, verify = await _call(client, "verify", {})
        assert verify["result"] == {"count": 5, "total": "500"}

    _with_client(tmp_path, body)


def test_malformed_requests_are_400_with_a_reason(tmp_path: Path) -> None:
    async def body(client: TestClient) -> None:
        status, answer = await _call(client, "launch", {})
        assert status == 400 and "unknown method" in answer["error"]
        status, answer = await _call(client, "transfer", {"from_id": 1})
        assert status == 400 and "to_id" in answer["error"]

    _with_client(tmp_path, body)


def test_sqlite_bank_runs_in_wal_mode(tmp_path: Path) -> None:
    bank = SqliteBank(str(tmp_path / "w.sqlite"))
    mode = bank._db.execute("PRAGMA journal_mode").fetchone()[0]
    sync = bank._db.execute("PRAGMA synchronous").fetchone()[0]
    cache = bank._db.execute("PRAGMA cache_size").fetchone()[0]
    assert (mode, sync, cache) == ("wal", 1, -64000)  # 1 = NORMAL; negative = KiB
    asyncio.run(bank.close())


def test_sqlite_bank_can_sync_every_commit(tmp_path: Path) -> None:
    bank = SqliteBank(str(tmp_path / "f.sqlite"), "FULL")
    assert bank._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # 2 = FULL: the WAL synced per commit
    asyncio.run(bank.close())
    with pytest.raises(ValueError):
        SqliteBank(str(tmp_path / "x.sqlite"), "OFF")


def test_refusal_leaves_no_open_transaction(tmp_path: Path) -> None:
    bank = SqliteBank(str(tmp_path / "t.sqlite"))

    async def go() -> None:
        await bank.seed(3, 10)
        with pytest.raises(TransferRefused):
            await bank.transfer(0, 1, 11)
        await bank.transfer(0, 1, 10)  # would fail with "cannot start a transaction within a transaction"
        assert await bank.verify() == (3, 30)

    asyncio.run(go())
