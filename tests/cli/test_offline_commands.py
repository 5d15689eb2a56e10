"""CLI commands that need no server: help text, server management, argument checking."""

from __future__ import annotations

import socket
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
    assert "cannot reach server http://127.0.0.1:9, chosen by -s 127.0.0.1:9" in result.output
    assert "spacetimedb start" in result.output and "Traceback" not in result.output


def test_an_unreachable_default_server_names_its_nickname_and_the_config_file(
    runner: CliRunner, tmp_path: Path
) -> None:
    assert runner.invoke(cli, ["server", "add", "gone", "--url", "127.0.0.1:9", "--default"]).exit_code == 0
    result = runner.invoke(cli, ["call", "chat", "set_name", '"Ada"'])
    assert result.exit_code == 1
    line = f"cannot reach server gone (http://127.0.0.1:9), chosen by the default server in {tmp_path / 'cli.json'}"
    assert line in result.output, result.output


def test_start_on_a_busy_port_is_one_line_saying_what_to_do(runner: CliRunner, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        addr = f"127.0.0.1:{busy.getsockname()[1]}"
        result = runner.invoke(cli, ["start", "--listen-addr", addr, "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: cannot listen on {addr}: the address is already in use (another `spacetimedb start` or `dev`?). "
        "Stop that process, or pass --listen-addr with a free port, e.g. --listen-addr 127.0.0.1:3001"
    ]
    assert not (tmp_path / "data").exists(), "nothing is loaded or created before the port is known to be free"


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


def test_call_takes_negative_numbers_as_arguments(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    from spacetimedb.cli import api_client

    sent: list[object] = []

    def fake_call(self: object, name: str, reducer: str, args: list[object]) -> api_client.ApiResponse:
        sent.append((name, reducer, args))
        return api_client.ApiResponse(200, {}, b"")

    monkeypatch.setattr(api_client.ApiClient, "call", fake_call)
    result = runner.invoke(cli, ["call", "db", "claim", "-1", "0", "-2.5", "-s", "127.0.0.1:9"])
    assert result.exit_code == 0, result.output
    assert sent == [("db", "claim", [-1, 0, -2.5])]
    result = runner.invoke(cli, ["call", "db", "claim", "--", "-1"])
    assert result.exit_code == 0, result.output
    assert sent[-1] == ("db", "claim", [-1])
    typo = runner.invoke(cli, ["call", "db", "claim", "--sever", "x"])
    assert typo.exit_code == 2 and "no such option: --sever" in typo.output


UNIQUE_PAIR = """
from spacetimedb import ReducerContext, reducer, table, u32


@table(public=True, primary_key="id", unique=[("x", "y")], indexes=["kind"])
class Cell:
    id: u32
    x: u32
    y: u32
    kind: str


@reducer
def put(ctx: ReducerContext, id: u32, x: u32, y: u32) -> None:
    ctx.db.cell.insert(Cell(id=id, x=x, y=y, kind="k"))
    assert ctx.db.cell.x_y.find((x, y)).id == id  # the accessor docs/modules.md names
"""


def test_describe_marks_unique_indexes_and_names_the_multi_column_accessor(runner: CliRunner, tmp_path: Path) -> None:
    from spacetimedb.testing import TestDatabase

    path = tmp_path / "cells.py"
    path.write_text(UNIQUE_PAIR)
    TestDatabase.load(path).call("put", 1, 2, 3)
    out = runner.invoke(cli, ["describe", "-p", str(path)]).output
    assert "index x_y (btree: x, y; unique)" in out, out
    assert "index id (btree: id; unique)" in out and "index kind (btree: kind)" in out, out


def test_publish_takes_the_module_path_positionally_or_with_p(runner: CliRunner, tmp_path: Path) -> None:
    one, two = tmp_path / "one.py", tmp_path / "two.py"
    one.write_text("")
    two.write_text("")
    both = runner.invoke(cli, ["publish", "db", str(one), "-p", str(two), "-s", "127.0.0.1:9"])
    assert both.exit_code == 2 and "two module paths given" in both.output
    # One path either way gets as far as the (absent) server: the arguments were accepted.
    for args in (["publish", "db", str(one)], ["publish", "db", "-p", str(one)], ["publish", "db", str(one), "-p", str(one)]):
        result = runner.invoke(cli, [*args, "-s", "127.0.0.1:9"])
        assert result.exit_code == 1 and "cannot reach server" in result.output, result.output


def test_describe_lists_procedures_with_their_return_types(runner: CliRunner) -> None:
    root = Path(__file__).resolve().parents[2]
    result = runner.invoke(cli, ["describe", "-p", str(root / "examples" / "price_feed.py")])
    assert result.exit_code == 0, result.output
    assert "procedure fetch_price(symbol: String, source: String) -> U64" in result.output
    assert "procedure stored_price(symbol: String) -> Option<U64>" in result.output
