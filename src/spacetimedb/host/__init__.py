"""The host layer: runs one module on one database (reducer calls, lifecycle, scheduler, logs).

    host = ModuleHost(load_module("examples/bank.py"))
    host.init()
    result = host.call_reducer("transfer", args_bytes, caller=identity, connection_id=conn)
"""

from spacetimedb.host.logs import DatabaseLog, LogRecord
from spacetimedb.host.module_host import ArgsFormat, CommitListener, ModuleHost
from spacetimedb.host.results import (
    LifecycleReducerCallError,
    ReducerArgumentsError,
    ReducerCallError,
    ReducerCallResult,
    ReducerStatus,
    UnknownReducerError,
)

__all__ = [
    "ArgsFormat",
    "CommitListener",
    "DatabaseLog",
    "LifecycleReducerCallError",
    "LogRecord",
    "ModuleHost",
    "ReducerArgumentsError",
    "ReducerCallError",
    "ReducerCallResult",
    "ReducerStatus",
    "UnknownReducerError",
]
