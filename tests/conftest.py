"""Session-wide fixtures shared across test directories."""

import os
from collections.abc import Iterator

import pytest

from node_oracle import BsatnOracle, oracle_available


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With SPACETIMEDB_DATABASE_PROCESSES=1 the servers tests start run each database in a process of
    its own: tests that read or patch a database's internals in this process cannot see them there."""
    if os.environ.get("SPACETIMEDB_DATABASE_PROCESSES", "").strip().lower() not in ("1", "true", "on", "yes"):
        return
    skip = pytest.mark.skip(reason="reads a database's internals in process (SPACETIMEDB_DATABASE_PROCESSES=1)")
    for item in items:
        if "in_process" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def bsatn_oracle() -> Iterator[BsatnOracle]:
    """The npm SDK's BSATN serializer in one long-lived node process (tests/node/oracle.mjs)."""
    if not oracle_available():
        pytest.skip("node or tests/node/node_modules is missing (run scripts/test to install)")
    oracle = BsatnOracle()
    yield oracle
    oracle.close()


@pytest.fixture(scope="session", autouse=True)
def _private_cli_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """`spacetimedb start` saves the owner's token in the CLI config: never in the user's own one.
    Set in os.environ so the servers and CLIs tests run as subprocesses inherit it."""
    saved = os.environ.get("SPACETIMEDB_CLI_CONFIG")
    os.environ["SPACETIMEDB_CLI_CONFIG"] = str(tmp_path_factory.mktemp("cli-config") / "cli.json")
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("SPACETIMEDB_CLI_CONFIG", None)
        else:
            os.environ["SPACETIMEDB_CLI_CONFIG"] = saved
