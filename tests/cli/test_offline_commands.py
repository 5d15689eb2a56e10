"""CLI commands that need no server: help text, server management, argument checking."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from spacetimedb.cli.main import cli


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SPACETIMEDB_CLI_CONFIG", str(tmp_path / "cli.json"))
    return CliRunner()


@pytest.mark.parametrize(
    "command",
    ["start", "publish", "delete", "call", "sql", "logs", "describe", "generate", "dev", "list", "login"],
)
def test_every_command_has_help_with_examples(runner: CliRunner, command: str) -> None:
    result = runner.invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    if command not in ("list",):
        assert "Example" in result.output


def test_server_add_list_set_default(runner: CliRunner) -> None:
    assert runner.invoke(cli, ["server", "add", "prod", "--url", "http://10.1.2.3:3000"]).exit_code == 0
    assert runner.invoke(cli, ["server", "set-default", "prod"]).exit_code == 0
    out = runner.invoke(cli, ["server", "list"]).output
    assert "* prod" in out and "local" in out


def test_call_rejects_non_json_arguments_with_a_hint(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["call", "chat", "set_name", "Ada", "-s", "127.0.0.1:9"])
    assert result.exit_code != 0
    assert "is not JSON" in result.output and "'\"Ada\"'" in result.output


def test_an_unreachable_server_gets_one_clear_line(runner: CliRunner) -> None:
    # Port 9 (discard) on loopback: nothing listens there in the test environment.
    result = runner.invoke(cli, ["sql", "chat", "SELECT * FROM user", "-s", "127.0.0.1:9"])
    assert result.exit_code == 1
    assert "cannot reach the server" in result.output and "spacetimedb start" in result.output
    assert "Traceback" not in result.output


def test_publish_refuses_a_directory_that_is_not_a_package(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "mod").mkdir()
    result = runner.invoke(cli, ["publish", "x", "-p", str(tmp_path / "mod"), "-s", "127.0.0.1:9"])
    assert result.exit_code != 0 and "without __init__.py" in result.output


def test_start_checks_publish_arguments(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["start", "--publish", "no-equals-sign"])
    assert result.exit_code != 0 and "NAME=PATH" in result.output


def test_start_refuses_an_unknown_fsync_policy(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["start", "--fsync", "sometimes"])
    assert result.exit_code == 2 and "every_batch, off or e.g. 5ms" in result.output
