"""The in-process harness for testing modules: `TestDatabase` (see docs/testing.md)."""

from spacetimedb.module.runner import ViewError
from spacetimedb.testing.harness import (
    DEFAULT_START,
    FakeHttp,
    HttpHandlerError,
    ProcedureError,
    ProcedureInternalError,
    ProcedureUserError,
    ReducerError,
    ReducerInternalError,
    ReducerUserError,
    TestDatabase,
    connection_id,
    identity,
    sender_auth,
)

__all__ = [
    "DEFAULT_START",
    "FakeHttp",
    "HttpHandlerError",
    "ProcedureError",
    "ProcedureInternalError",
    "ProcedureUserError",
    "ReducerError",
    "ReducerInternalError",
    "ReducerUserError",
    "TestDatabase",
    "ViewError",
    "connection_id",
    "identity",
    "sender_auth",
]
