"""The browser chat example (examples/browser_chat) in headless Chromium against our server.

Two users in isolated browser contexts name themselves, exchange messages, see a reducer's refusal,
and one reloads and comes back as the same user. The driver is tests/browser/drive_chat.mjs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from .harness import CHROMIUM, DATABASE, load_build_script

DRIVER = Path(__file__).with_name("drive_chat.mjs")
DRIVER_TIMEOUT_S = 120


def _drive(page_url: str, screenshot: Path) -> dict[str, Any]:
    # Playwright makes a fresh --user-data-dir under TMPDIR. A short path of our own, because Chromium's
    # singleton socket lives there and Unix socket paths are limited to 108 bytes (pytest's are longer).
    profiles = tempfile.mkdtemp(prefix="stdb-chromium-")
    try:
        done = subprocess.run(
            ["node", str(DRIVER), page_url, str(screenshot)],
            capture_output=True,
            text=True,
            timeout=DRIVER_TIMEOUT_S,
            env={**os.environ, "TMPDIR": profiles, "CHROMIUM": str(CHROMIUM)},
        )
    finally:
        shutil.rmtree(profiles, ignore_errors=True)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    failed = [line["failed"] for line in lines if "failed" in line]
    assert done.returncode == 0 and not failed, f"driver failed: {failed}\n{done.stdout}\n{done.stderr}"
    results = [line["result"] for line in lines if "result" in line]
    assert results, f"driver printed no result:\n{done.stdout}\n{done.stderr}"
    result: dict[str, Any] = results[-1]
    return result


@pytest.mark.node
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: run scripts/install-browser")
def test_two_users_chat_in_headless_chromium(
    chat_server: int, static_server: str, tmp_path: Path
) -> None:
    url = f"{static_server}/index.html?server=ws://127.0.0.1:{chat_server}&db={DATABASE}"
    screenshot = tmp_path / "chat.png"
    result = _drive(url, screenshot)

    conversation = [{"sender": "alice", "text": "hello from alice"}, {"sender": "bob", "text": "hi alice"}]
    assert result["bob_messages"] == conversation
    assert result["alice_messages"] == conversation
    assert result["identities"]["alice"] != result["identities"]["bob"]
    assert result["identity_kept_on_reload"] is True
    assert result["new_identity_after_bad_token"] is True
    assert sorted(result["bob_users"]) == ["alice", "bob (you)"]
    assert result["bob_status"] == f"bob on {DATABASE}"
    assert result["problems"] == []  # no page errors, no console errors (e.g. a failed request)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.node
def test_build_bundles_the_page_with_generated_bindings(built_page: Path) -> None:
    index = (built_page / "index.html").read_text("utf-8")
    assert 'src="./app.js"' in index
    bundle = (built_page / "app.js").read_text("utf-8")
    assert "send_message" in bundle and "set_name" in bundle  # the generated reducer schemas
    assert "require(" not in bundle.replace("__require(", "")  # no CommonJS left for the browser to resolve
    generated = built_page / ".src" / "module_bindings"
    assert sorted(p.name for p in generated.glob("*_table.ts")) == ["message_table.ts", "user_table.ts"]


def test_build_says_how_to_install_missing_node_packages(tmp_path: Path) -> None:
    build: Any = load_build_script()
    with pytest.raises(build.BuildError, match=r"run `npm ci` in tests/node"):
        build.build(tmp_path / "site", node_modules=tmp_path / "no_node_modules")
