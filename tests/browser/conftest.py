"""Fixtures for the headless browser tests: the chat server, the built page, a static file server."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.live_server import live_server

from .harness import CHAT_MODULE, DATABASE, NODE_MODULES, load_build_script, require_node_tools


@pytest.fixture
def chat_server(tmp_path: Path) -> Iterator[int]:
    """Our server in its own process on a free loopback port, with the chat module published as DATABASE."""
    with live_server(tmp_path / "data", {DATABASE: CHAT_MODULE}) as url:
        yield int(url.rsplit(":", 1)[1])


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
