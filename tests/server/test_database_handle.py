"""One typed handle for a hosted database (control/database_handle.py): the in-process
`HostedDatabase` and the `DatabaseProcess` of `--database-processes` offer the same operations, the
front asks them without telling them apart, and a database process runs only its table of them
(that it refuses any other: test_process_records.py)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from types import SimpleNamespace
from typing import Any, get_args

import spacetimedb.control
from spacetimedb.control.database_handle import DatabaseHandle
from spacetimedb.control.hosted_database import DatabaseInfo, HostedDatabase
from spacetimedb.control.process_database import DatabaseProcess, ProcessOptions

from .fake_backend import FakeBackend

CONTROL = Path(spacetimedb.control.__file__).parent
_INFO = DatabaseInfo("x", b"\x01" * 32, b"\x02" * 32)


def _operations() -> list[str]:
    """The methods the protocol declares (its data members are checked by isinstance)."""
    return sorted(name for name, value in vars(DatabaseHandle).items() if inspect.isfunction(value) and not name.startswith("_"))


def _parameters(fn: Any) -> list[tuple[str, Any, bool]]:
    return [(p.name, p.kind, p.default is inspect.Parameter.empty) for p in inspect.signature(fn).parameters.values()]


def test_both_places_a_database_runs_are_database_handles_with_the_same_operations() -> None:
    """(mypy checks the same statically: `database_handle._both_are_handles`.)"""
    in_process = HostedDatabase(_INFO, FakeBackend())  # type: ignore[arg-type]
    own_process = DatabaseProcess(SimpleNamespace(info=_INFO), ProcessOptions())
    assert isinstance(in_process, DatabaseHandle) and isinstance(own_process, DatabaseHandle)
    assert in_process.remote is False and own_process.remote is True
    operations = _operations()
    assert {"admit", "call_reducer", "run_sql", "read_logs", "swap", "stop", "submit_frame"} <= set(operations)
    for name in operations:
        declared = getattr(DatabaseHandle, name)
        for impl in (HostedDatabase, DatabaseProcess):
            method = getattr(impl, name)
            assert _parameters(method) == _parameters(declared), f"{impl.__name__}.{name}"
            assert inspect.iscoroutinefunction(method) == inspect.iscoroutinefunction(declared), f"{impl.__name__}.{name}"


def test_the_front_asks_a_database_without_telling_the_two_apart() -> None:
    """No operation branches on which implementation it holds: database_ops and the registry call
    the handle (they used to test `isinstance(db, DatabaseProcess)` per operation)."""
    found = []
    for name in ("database_ops.py", "database_registry.py"):
        tree = ast.parse((CONTROL / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance":
                if any(isinstance(n, ast.Name) and n.id in ("HostedDatabase", "DatabaseProcess") for n in ast.walk(node)):
                    found.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
            if isinstance(node, ast.Name) and node.id == "DatabaseProcess" and name == "database_ops.py":
                found.append(f"{name}:{node.lineno}: names DatabaseProcess")
    assert found == []


def test_the_front_asks_a_database_process_only_for_operations_of_its_table() -> None:
    """`DatabaseProcess` sends an `Operation` (mypy checks each name), whose names are exactly
    `database_process._OPERATIONS`, the table the process runs (growing it widens what the front can
    run there: do it on purpose)."""
    from spacetimedb.control.database_process import _OPERATIONS, Operation

    assert set(get_args(Operation)) == set(_OPERATIONS) == {
        "admit", "leave", "has_http_route", "module_schema", "call_reducer", "call_procedure", "run_sql",
        "call_http_handler", "take_snapshot", "read_logs", "unfollow", "swap", "stop",
    }  # fmt: skip
