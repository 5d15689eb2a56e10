"""`PendingCall[T]`: the type generated bindings give `conn.reducers.<name>(...)` and `conn.procedures.<name>(...)`.

The runtime returns an `asyncio.Future` on async connections (`await` it) and a
`concurrent.futures.Future` on `build_sync()` ones (`.done()`, `.result()`); this protocol lets mypy
accept both uses of one generated method. Only a type: nothing checks it at runtime.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Protocol, TypeVar

T_co = TypeVar("T_co", covariant=True)


class PendingCall(Protocol[T_co]):
    def __await__(self) -> Generator[Any, None, T_co]: ...

    def done(self) -> bool: ...

    def result(self, timeout: float | None = None) -> T_co:
        """The value (or the error raised); on a `build_sync()` connection it waits up to `timeout`
        (an `asyncio.Future` of an async connection takes no timeout: `await` it instead)."""
        ...
