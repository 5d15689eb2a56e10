"""examples/py_client: the terminal chat (chat_client.py) and the game bots (game_bot.py) on the Python
client SDK, run against a live server; their committed bindings are what `generate` writes, and
they type-check with mypy --strict."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from tests.live_server import live_server

from spacetimedb.codegen.module_view import load_module_view
from spacetimedb.codegen.python import generate_python
from spacetimedb.module.loader import load_module

from .conftest import EXAMPLES

CLIENTS = EXAMPLES / "py_client"


@pytest.mark.parametrize(("module", "package"), [("quickstart_chat.py", "chat_bindings"), ("simple_game.py", "game_bindings")])
def test_committed_bindings_are_what_generate_writes(module: str, package: str) -> None:
    view = load_module_view(load_module(EXAMPLES / module).raw_module_def_json())
    committed = {p.name: p.read_text("utf-8") for p in (CLIENTS / package).glob("*.py")}
    assert committed == generate_python(view)


@pytest.mark.slow
def test_the_clients_type_check(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path), "chat_client.py", "game_bot.py"],
        cwd=CLIENTS, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


class Lines:
    """A child's stdout read on a thread, so the test can wait for a line with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        assert proc.stdout is not None
        out = proc.stdout

        def pump() -> None:
            for line in out:
                self._q.put(line.rstrip("\n"))
            self._q.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def wait_for(self, predicate: object, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(predicate(line) for line in self.seen):  # type: ignore[operator]
            try:
                line = self._q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"not seen in time; output so far: {self.seen}") from None
            if line is None:
                raise AssertionError(f"the client ended; output: {self.seen}")
            self.seen.append(line)


def test_the_chat_client_chats_with_a_live_server(tmp_path: Path) -> None:
    with live_server(tmp_path / "data", {"quickstart-chat": EXAMPLES / "quickstart_chat.py"}) as url:
        client = subprocess.Popen(
            [sys.executable, "chat_client.py", "--uri", url.replace("http", "ws", 1), "--db", "quickstart-chat",
             "--token-file", str(tmp_path / "token"), "--exit-after", "0.5"],
            cwd=CLIENTS, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            lines = Lines(client)
            assert client.stdin is not None
            client.stdin.write("/name Ada\nHello from Python\n/name\n")
            client.stdin.flush()
            lines.wait_for(lambda line: line == "Ada: Hello from Python")
            lines.wait_for(lambda line: line == "Error: Names must not be empty")
            # Someone else (an anonymous HTTP caller) says something; the client prints it as it arrives.
            req = urllib.request.Request(
                f"{url}/v1/database/quickstart-chat/call/send_message", data=b'["Hi Ada"]',
                headers={"Content-Type": "application/json"}, method="POST",
            )  # fmt: skip
            with urllib.request.urlopen(req, timeout=10) as r:
                assert r.status == 200
            lines.wait_for(lambda line: line.endswith(": Hi Ada") and not line.startswith("Ada"))
            client.stdin.close()  # the end of the input: the client quits after --exit-after
            assert client.wait(timeout=30) == 0, client.stderr.read() if client.stderr else ""
        finally:
            if client.poll() is None:
                client.kill()
                client.wait()
        assert any(line.startswith("User ") and line.endswith("renamed to Ada.") for line in lines.seen), lines.seen
        # The saved token makes the next run the same user: it prints the history under that name.
        again = subprocess.run(
            [sys.executable, "chat_client.py", "--uri", url.replace("http", "ws", 1), "--db", "quickstart-chat",
             "--token-file", str(tmp_path / "token")],
            cwd=CLIENTS, input="", capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "Ada: Hello from Python" in again.stdout.splitlines() and "Connected as Ada" in again.stdout


def test_the_game_bots_play_a_live_game(tmp_path: Path) -> None:
    with live_server(tmp_path / "data", {"simple-game": EXAMPLES / "simple_game.py"}) as url:
        done = subprocess.run(
            [sys.executable, "game_bot.py", "--uri", url.replace("http", "ws", 1), "--db", "simple-game",
             "--bots", "3", "--turns", "25", "--seed", "7"],
            cwd=CLIENTS, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert sum(line.startswith("[join] ") for line in lines) == 3, lines
    board = lines[lines.index("scoreboard:") + 1 :][:3]
    assert len(board) == 3 and all("score" in line and line.strip().startswith("bot-") for line in board), lines
    # The bots walk towards each other and fight: someone hit someone within 25 turns.
    assert any(line.startswith(("[attack] ", "[kill] ")) for line in lines), lines
