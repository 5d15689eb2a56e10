"""Reading a database's commit log as an audit trail: which call committed what, and when."""

from __future__ import annotations

import os
from collections.abc import Iterator

from spacetimedb.durability.database_durability import LOG_DIR
from spacetimedb.durability.log_reader import replay_log
from spacetimedb.durability.tx_payload import TxPayload, decode_tx_payload


def read_transactions(database_dir: str, after_offset: int | None = None) -> Iterator[tuple[int, TxPayload]]:
    """(tx offset, decoded payload) of every verified logged transaction, oldest first.

    Read-only: safe while the database is open (a torn tail is where reading stops). Loads the
    records of the log into memory first; pass `after_offset` to read only the newer ones.
    """
    records: list[tuple[int, bytes]] = []
    replay_log(
        os.path.join(database_dir, LOG_DIR),
        lambda off, payload: records.append((off, payload)),
        after_offset=after_offset,
        read_only=True,
    )
    for off, payload in records:
        yield off, decode_tx_payload(payload)
