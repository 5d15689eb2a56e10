"""The in-process harness for testing modules: `TestDatabase` (see docs/testing.md)."""

from spacetimedb.testing.harness import (
    DEFAULT_START,
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
    "ReducerError",
    "ReducerInternalError",
    "ReducerUserError",
    "TestDatabase",
    "connection_id",
    "identity",
    "sender_auth",
]
