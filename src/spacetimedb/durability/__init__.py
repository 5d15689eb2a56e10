"""The durability layer: commit log, group commit, snapshots, recovery (see docs/durability.md).

    from spacetimedb.durability import DatabaseDurability, FsyncPolicy, row_codecs

    dur = DatabaseDurability.open(directory, policy=FsyncPolicy.every_batch())   # recovers
    dur.attach(db, row_codecs(module.table_schemas, module.typespace))          # loads the state
    host = ModuleHost(module, db, next_tx_offset=dur.next_tx_offset)
    host.set_commit_log(dur.on_reducer_result)             # first: an unloggable commit is undone
    dur.add_failure_listener(stop_accepting_writes)
    await dur.wait_durable(result.tx_offset)                                     # confirmed reads
"""

from spacetimedb.durability.audit import read_transactions
from spacetimedb.durability.commit_log import CommitLog
from spacetimedb.durability.database_durability import DatabaseDurability
from spacetimedb.durability.dir_lock import DatabaseLockedError
from spacetimedb.durability.errors import (
    CorruptLogError,
    CorruptSnapshotError,
    DurabilityError,
    LogClosedError,
    LogFailedError,
    LogGapError,
)
from spacetimedb.durability.faults import FaultyFileOps
from spacetimedb.durability.files import FileOps
from spacetimedb.durability.policy import FsyncPolicy
from spacetimedb.durability.recovered_state import LogReplayError, RecoveredState
from spacetimedb.durability.row_codecs import row_codecs
from spacetimedb.durability.tx_payload import ReducerCallInfo, TxPayload, decode_tx_payload

__all__ = [
    "CommitLog",
    "CorruptLogError",
    "CorruptSnapshotError",
    "DatabaseDurability",
    "DatabaseLockedError",
    "DurabilityError",
    "FaultyFileOps",
    "FileOps",
    "FsyncPolicy",
    "LogClosedError",
    "LogFailedError",
    "LogGapError",
    "LogReplayError",
    "RecoveredState",
    "ReducerCallInfo",
    "TxPayload",
    "decode_tx_payload",
    "read_transactions",
    "row_codecs",
]
