"""`spacetimedb start` hands its hardening flags to the server (run_server captured, no server runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from spacetimedb.cli.main import cli
from spacetimedb.server import app
from spacetimedb.server.http_limits import HttpLimits


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    monkeypatch.setenv("SPACETIMEDB_CLI_CONFIG", str(tmp_path / "cli.json"))
    seen: dict[str, Any] = {}

    def fake_run_server(listen_addr: str, data_dir: Path, **kw: Any) -> None:
        seen.update(kw, listen_addr=listen_addr, data_dir=data_dir)

    monkeypatch.setattr(app, "run_server", fake_run_server)
    return seen


def _start(tmp_path: Path, *args: str) -> None:
    result = CliRunner().invoke(cli, ["start", "--data-dir", str(tmp_path / "d"), *args])
    assert result.exit_code == 0, result.output


def test_http_timeouts_default_and_flags(tmp_path: Path, captured: dict[str, Any]) -> None:
    _start(tmp_path)
    assert captured["http_limits"] == HttpLimits()
    _start(tmp_path, "--http-header-timeout", "2.5", "--http-body-timeout", "7")
    assert captured["http_limits"] == HttpLimits(header_timeout_s=2.5, body_timeout_s=7.0)


def test_http_timeout_must_be_positive(tmp_path: Path, captured: dict[str, Any]) -> None:
    result = CliRunner().invoke(cli, ["start", "--http-body-timeout", "0"])
    assert result.exit_code != 0 and "--http-body-timeout" in result.output
