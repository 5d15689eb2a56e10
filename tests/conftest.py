"""Session-wide fixtures shared across test directories."""

from collections.abc import Iterator

import pytest

from node_oracle import BsatnOracle, oracle_available


@pytest.fixture(scope="session")
def bsatn_oracle() -> Iterator[BsatnOracle]:
    """The npm SDK's BSATN serializer in one long-lived node process (tests/node/oracle.mjs)."""
    if not oracle_available():
        pytest.skip("node or tests/node/node_modules is missing (run scripts/test to install)")
    oracle = BsatnOracle()
    yield oracle
    oracle.close()
