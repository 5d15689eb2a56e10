"""Server-level crash test: transfers over WebSocket (confirmed reads), the server SIGKILLed at a
random moment, restarted on the same data directory, balances read back over HTTP /sql.

Every transfer whose ReducerResult arrived must be in the recovered state; the one in flight at
the kill may or may not be; nothing else; the total balance is conserved.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from tests.server.harness import RawClient, call

BANK = Path(__file__).resolve().parents[2] / "examples" / "bank.py"
ACCOUNTS, INITIAL = 6, 1000
#: Kill/restart rounds; CI runs 20 (about 30 s). Raise it for a soak: SPACETIMEDB_CRASH_ROUNDS=500.
ROUNDS = int(os.environ.get("SPACETIMEDB_CRASH_ROUNDS", "20"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(data: Path, port: int) -> subprocess.Popen[str]:
    code = (
        "import sys; from spacetimedb.server.app import run_server; "
        "run_server(sys.argv[1], sys.argv[2], publish=[('bank', sys.argv[3])])"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, f"127.0.0.1:{port}", str(data), str(BANK)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "listening on" in line:
            return proc
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
    proc.kill()
    raise AssertionError("server did not start")


def _balances(port: int) -> dict[int, int]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/database/bank/sql", data=b"SELECT * FROM accounts", method="POST",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        rows = json.loads(r.read())[0]["rows"]
    return {int(i): int(b) for i, b in rows}


async def _calls(port: int, calls: list[tuple[str, bytes]], confirmed: list[int], answered: list[int]) -> None:
    """Run calls one at a time; index i goes to `confirmed` when its ReducerResult says ok.

    `answered[0]` counts the calls that got a result (call `answered[0]` may be in flight).
    """
    async with aiohttp.ClientSession() as s:
        c = await RawClient.connect(
            s, f"http://127.0.0.1:{port}", db="bank", protocols=("v2.bsatn.spacetimedb",),
            query="compression=None&confirmed=true",
        )
        await c.next()  # InitialConnection
        for i, (name, args) in enumerate(calls):
            await c.send(call(i + 1, name, args))
            msg = await c.next(timeout=30)
            assert msg["type"] == "ReducerResult" and msg["request_id"] == i + 1, msg
            answered[0] = i + 1
            if "err" not in msg and "internal_error" not in msg:
                confirmed.append(i)


def _run_until_killed(proc: subprocess.Popen[str], port: int, calls: list[tuple[str, bytes]], kill_after: float
                      ) -> tuple[list[int], int]:
    confirmed: list[int] = []
    answered = [0]

    async def main() -> None:
        asyncio.get_running_loop().call_later(kill_after, proc.kill)
        try:
            await _calls(port, calls, confirmed, answered)
        except (TimeoutError, aiohttp.ClientError, AssertionError, ConnectionError):
            pass  # the server died under us

    asyncio.run(main())
    proc.kill()
    proc.wait(10)
    return confirmed, answered[0]


def _apply(balances: dict[int, int], transfers: list[tuple[int, int, int]]) -> dict[int, int]:
    out = dict(balances)
    for a, b, amount in transfers:
        if a != b and out[a] >= amount:
            out[a] -= amount
            out[b] += amount
    return out


@pytest.mark.slow
def test_server_sigkill_keeps_every_confirmed_transfer(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = _free_port()
    rng = random.Random(99)
    proc = _start(data, port)
    confirmed, _ = _run_until_killed(proc, port, [("seed", struct.pack("<Iq", ACCOUNTS, INITIAL))], 30)
    proc = _start(data, port)
    model = _balances(port)
    assert confirmed == [0] and model == dict.fromkeys(range(ACCOUNTS), INITIAL)
    for _ in range(ROUNDS):
        transfers = [(rng.randrange(ACCOUNTS), rng.randrange(ACCOUNTS), rng.randrange(1, 20)) for _ in range(5000)]
        calls = [("transfer", struct.pack("<IIq", *t)) for t in transfers]
        confirmed, answered = _run_until_killed(proc, port, calls, rng.uniform(0.3, 1.2))
        assert confirmed, "no transfer was confirmed before the kill; raise kill_after"
        proc = _start(data, port)
        got = _balances(port)
        # Calls that failed (same account) change nothing in the model either.
        without = _apply(model, transfers[:answered])
        with_inflight = _apply(model, transfers[: answered + 1])
        assert got in (without, with_inflight), "a confirmed transfer was lost or a transfer half-applied"
        assert sum(got.values()) == ACCOUNTS * INITIAL
        model = got
    proc.kill()
    proc.wait(10)
