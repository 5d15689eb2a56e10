"""`run_server` as the CLI runs it: a real process, startup publishing, graceful SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp

from spacetimedb.protocol.wire import pack_str

from .harness import RawClient, call

CHAT = Path(__file__).parent / "modules" / "chat.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(data: Path, port: int) -> subprocess.Popen[str]:
    code = (
        "import sys; from spacetimedb.server.app import run_server; "
        "run_server(sys.argv[1], sys.argv[2], publish=[('chat', sys.argv[3])])"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, f"127.0.0.1:{port}", str(data), str(CHAT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_listening(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "listening on" in line:
            return
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
    raise AssertionError("server did not start")


def _post(url: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read()


async def _send_message(port: int, text: str) -> None:
    async with aiohttp.ClientSession() as s:
        c = await RawClient.connect(s, f"http://127.0.0.1:{port}", db="chat")
        await c.next()
        await c.send(call(1, "send_message", pack_str(text)))
        assert "ok" in await c.next()
        await c.ws.close()


def test_run_server_publishes_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = _free_port()
    proc = _start(data, port)
    try:
        _wait_listening(proc)
        base = f"http://127.0.0.1:{port}/v1"
        with urllib.request.urlopen(f"{base}/ping", timeout=10) as r:
            assert r.status == 200
        asyncio.run(_send_message(port, "kept"))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (data / "keys" / "id_ecdsa").exists()
    assert (data / "databases" / "chat" / "meta.json").exists()
    # Restarted, the message committed before SIGTERM is still there.
    proc = _start(data, port)
    try:
        _wait_listening(proc)
        _, body = _post(f"http://127.0.0.1:{port}/v1/database/chat/sql", b"SELECT text FROM message", "text/plain")
        assert json.loads(body)[0]["rows"] == [["kept"]]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
