"""The engine layer: in-memory tables, indexes and sequences, with serial transactions that yield deltas.

    db = Database(schemas)          # one per database
    tx = db.begin()                 # a MutTx: implements module.datastore.Datastore
    tx.insert(table_id, row)
    delta = tx.commit()             # TxDelta: per table id, rows inserted and deleted

See docs/engine.md for the design and its invariants.
"""

from spacetimedb.engine.database import Database
from spacetimedb.engine.delta import DatabaseImage, TableDelta, TxDelta
from spacetimedb.engine.errors import (
    IndexScanUnsupported,
    ReplayMismatch,
    RowNotFound,
    SequenceExhausted,
    TransactionStateError,
    UnindexableValue,
    UniqueConstraintViolation,
    UnknownTableOrIndex,
)
from spacetimedb.engine.sequence import SequenceKey
from spacetimedb.engine.transaction import MutTx

__all__ = [
    "Database",
    "DatabaseImage",
    "IndexScanUnsupported",
    "MutTx",
    "ReplayMismatch",
    "RowNotFound",
    "SequenceExhausted",
    "SequenceKey",
    "TableDelta",
    "TransactionStateError",
    "TxDelta",
    "UnindexableValue",
    "UniqueConstraintViolation",
    "UnknownTableOrIndex",
]
