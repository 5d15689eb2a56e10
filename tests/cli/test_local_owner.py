"""The CLI on the machine that started a server acts as its owner: `start` saves the owner's token
(`<data-dir>/keys/owner.token`) in the CLI config for the server's URL, keeping a token the server
already accepts and replacing one it does not."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHAT = ROOT / "examples" / "quickstart_chat.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Machine:
    """One user's machine: a CLI config, and servers started on one port."""

    def __init__(self, tmp: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = tmp / "cli.json"
        self.env = {**os.environ, "SPACETIMEDB_CLI_CONFIG": str(self.config), "NO_COLOR": "1"}

    def start(self, data_dir: Path) -> tuple[subprocess.Popen[str], str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "spacetimedb.cli.main", "start", "--listen-addr", f"127.0.0.1:{self.port}",
             "--data-dir", str(data_dir)],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        assert proc.stdout is not None
        output = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            output += line
            if "listening on" in line:
                return proc, output
            if proc.poll() is not None:
                break
        proc.kill()
        raise AssertionError(f"server did not start: {output}")

    @staticmethod
    def stop(proc: subprocess.Popen[str]) -> None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "spacetimedb.cli.main", *args],
            env=self.env, capture_output=True, text=True, timeout=60,
        )
        assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"
        return result

    def saved_identity(self) -> str | None:
        identity: str | None = json.loads(self.config.read_text())["identities"][self.url].get("identity")
        return identity


def _owner_of(url: str, database: str) -> str:
    with urllib.request.urlopen(f"{url}/v1/database/{database}", timeout=30) as r:
        owner: str = json.loads(r.read())["owner_identity"]
    return owner


def _identity_of_token(path: Path) -> str:
    from spacetimedb.cli.commands_server import identity_of_token

    identity = identity_of_token(path.read_text().strip())
    assert identity is not None
    return identity


def test_a_fresh_cli_publishes_as_the_owner_of_the_server_it_started(tmp_path: Path) -> None:
    machine = Machine(tmp_path)
    data = tmp_path / "data"
    proc, output = machine.start(data)
    try:
        owner = _identity_of_token(data / "keys" / "owner.token")
        assert f"now acts as the owner on {machine.url}" in output, output
        assert machine.saved_identity() == owner
        machine.cli("publish", "mine", str(CHAT), "-s", f"127.0.0.1:{machine.port}")
        assert _owner_of(machine.url, "mine") == owner
        machine.cli("logs", "mine", "-n", "5", "-s", machine.url)  # owner-only
    finally:
        machine.stop(proc)


def test_start_keeps_a_token_the_server_accepts_and_replaces_a_foreign_one(tmp_path: Path) -> None:
    machine = Machine(tmp_path)
    proc, _ = machine.start(tmp_path / "data")
    try:
        # The user deliberately takes another identity on this server (it may own databases).
        machine.cli("login", "-s", machine.url)
        chosen = machine.saved_identity()
    finally:
        machine.stop(proc)
    proc, output = machine.start(tmp_path / "data")
    machine.stop(proc)
    assert machine.saved_identity() == chosen, "a token the server accepts is never replaced"
    assert f"note: the CLI's identity on {machine.url}" in output and "login -s" in output, output

    # Another data dir on the same port: another signing key, the saved token is useless there.
    proc, output = machine.start(tmp_path / "other")
    machine.stop(proc)
    assert machine.saved_identity() == _identity_of_token(tmp_path / "other" / "keys" / "owner.token")
    assert "now acts as the owner" in output
