"""Fixtures for the headless browser tests: the chat server, the built page, a static file server."""

from __future__ import annotations

import functools
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from .harness import CHAT_MODULE, DATABASE, NODE_MODULES, load_build_script, require_node_tools


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def chat_server(tmp_path: Path) -> Iterator[int]:
    """Our server in its own process on a free loopback port, with the chat module published as DATABASE."""
    port = _free_port()
    code = (
        "import sys; from spacetimedb.server.app import run_server; "
        "run_server(sys.argv[1], sys.argv[2], publish=[(sys.argv[3], sys.argv[4])])"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, f"127.0.0.1:{port}", str(tmp_path / "data"), DATABASE, str(CHAT_MODULE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_listening(proc)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _wait_listening(proc: subprocess.Popen[str], seconds: float = 30) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + seconds
    # readline blocks, but the server prints its "listening" line (or exits) well within the deadline.
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "listening on" in line:
            return
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"chat server exited with {proc.returncode}: {err}")
    raise AssertionError(f"chat server did not start within {seconds} s")


@pytest.fixture
def built_page(tmp_path: Path) -> Path:
    """The page built by examples/browser_chat/build.py (bindings from our codegen, type-checked, bundled)."""
    require_node_tools()
    build: Any = load_build_script()
    index: Path = build.build(tmp_path / "site", CHAT_MODULE, NODE_MODULES, check_types=True)
    return index.parent


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def static_server(built_page: Path) -> Iterator[str]:
    """A loopback HTTP server for the built page (our server does not serve static files); yields its base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(built_page)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
