"""`spacetimedb start` durability flags: a log damaged mid-file refuses to load, `--allow-truncate` recovers the prefix."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BANK = ROOT / "examples" / "bank.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Started:
    def __init__(self, data: Path, *flags: str) -> None:
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "spacetimedb.cli.main", "start", "--listen-addr", f"127.0.0.1:{self.port}",
             "--data-dir", str(data), *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
        )
        self.output = ""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            self.output += line
            if "listening on" in line:
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.output}")
        raise AssertionError("server did not start")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/v1{path}"

    def post(self, path: str, body: bytes, content_type: str, token: str | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request(self.url(path), data=body, method="POST", headers={"Content-Type": content_type})
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def stop(self) -> str:
        self.proc.terminate()
        try:
            rest, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rest, _ = self.proc.communicate()
        return self.output + (rest or "")


def _balances(server: Started, token: str) -> dict[int, int] | tuple[int, str]:
    status, body = server.post("/database/bank/sql", b"SELECT * FROM accounts", "text/plain", token)
    if status != 200:
        return status, body.decode()
    return {row[0]: row[1] for row in json.loads(body)[0]["rows"]}


def test_a_log_damaged_mid_file_needs_allow_truncate(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = Started(data, "--publish", f"bank={BANK}", "--snapshot-every", "0")
    try:
        token = (data / "keys" / "owner.token").read_text().strip()
        assert first.post("/database/bank/call/seed", b"[4, 100]", "application/json", token)[0] == 200
        for i in range(40):
            assert first.post("/database/bank/call/transfer", f"[0, 1, {i % 3 + 1}]".encode(), "application/json", token)[0] == 200
    finally:
        first.stop()
    segments = sorted((data / "databases" / "bank" / "data" / "durability").rglob("*.stdb.log"))
    assert segments, "no commit log segment found"
    seg = segments[0]
    raw = bytearray(seg.read_bytes())
    raw[len(raw) // 3] ^= 0xFF  # one flipped byte in the middle: corruption, not a torn tail
    seg.write_bytes(bytes(raw))

    refused = Started(data, "--snapshot-every", "0")
    try:
        answer = _balances(refused, token)
        assert isinstance(answer, tuple) and answer[0] >= 400, answer
    finally:
        log = refused.stop()
    assert "corrupt" in log.lower() and "allow" in log.lower(), log[-3000:]

    recovered = Started(data, "--snapshot-every", "0", "--allow-truncate")
    try:
        balances = _balances(recovered, token)
        assert isinstance(balances, dict), balances
        assert sum(balances.values()) == 400, "a prefix of whole transfers: the total is conserved"
        assert balances[1] > 100, "the transfers before the damage are kept"
    finally:
        recovered.stop()


@pytest.mark.parametrize("flag", [["--fsync", "2ms"], ["--fsync", "off"], ["--segment-size", "8192"]])
def test_durability_flags_start_a_working_server(tmp_path: Path, flag: list[str]) -> None:
    server = Started(tmp_path / "data", "--publish", f"bank={BANK}", *flag)
    try:
        token = (tmp_path / "data" / "keys" / "owner.token").read_text().strip()
        assert server.post("/database/bank/call/seed", b"[2, 5]", "application/json", token)[0] == 200
        assert _balances(server, token) == {0: 5, 1: 5}
    finally:
        server.stop()


def test_a_torn_tail_is_cut_with_a_warning_the_user_sees(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = Started(data, "--publish", f"bank={BANK}")
    try:
        token = (data / "keys" / "owner.token").read_text().strip()
        assert first.post("/database/bank/call/seed", b"[2, 100]", "application/json", token)[0] == 200
        assert first.post("/database/bank/call/transfer", b"[0, 1, 5]", "application/json", token)[0] == 200
    finally:
        first.stop()
    seg = sorted((data / "databases" / "bank" / "data" / "durability").rglob("*.stdb.log"))[-1]
    seg.write_bytes(seg.read_bytes()[:-3])  # a crash in the middle of writing the last record

    again = Started(data)
    try:
        balances = _balances(again, token)
    finally:
        log = again.stop()
    assert "recovered" in log and seg.name in log and "torn" in log.lower(), log[-3000:]
    assert isinstance(balances, dict) and sum(balances.values()) == 200
