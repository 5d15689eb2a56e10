"""Reducer wall-time limits: a watchdog thread interrupts module code that runs too long.

    guard = ReducerGuard(limit_s=10.0)     # one per ModuleHost, given to its ModuleRunner
    guard.enter()                          # on the reducer's thread, just before module code runs
    ...                                    # module code; past the limit it gets ReducerTimeLimit
    fired = guard.leave()                  # just after; True when the watchdog fired

The watchdog raises `ReducerTimeLimit` in the reducer's thread with
`PyThreadState_SetAsyncExc`. CPython delivers it at the next bytecode boundary, so a busy Python
loop is interrupted within the watchdog's polling period. A long call into C (a huge `sum`, a
regex that backtracks, `time.sleep`) is interrupted only once it returns to Python code. If the
module swallows the exception (`except BaseException`), it is raised again every second.

`leave` costs two attribute operations unless the watchdog fired; then it takes the guard's lock
and clears an exception that is still pending, so the exception never lands in the host's own code
after the module's code ended (the module runner calls `leave` inside the same `try` that turns the
exception into a failed call).
"""

from __future__ import annotations

import ctypes
import threading
import time
import weakref

#: Default wall-time limit of one reducer call, in seconds (`spacetimedb start --reducer-time-limit`).
DEFAULT_REDUCER_TIME_LIMIT = 10.0
#: After firing, fire again this often while the module code keeps running (it swallowed the first).
REFIRE_SECONDS = 1.0
_INF = float("inf")
_get_ident = threading.get_ident
_monotonic = time.monotonic

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = [ctypes.c_ulong, ctypes.py_object]
_set_async_exc.restype = ctypes.c_int
# The same function with a NULL exception: clears the thread's pending asynchronous exception.
_clear_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)


class ReducerTimeLimit(BaseException):
    """Raised inside module code that ran past its wall-time limit. A BaseException, so a module's
    `except Exception` does not swallow it."""


class ReducerGuard:
    """The deadline of the module code running on one host (reducers run one at a time).

    A `spacetimedb.module.runner.CallGuard`: the module runner brackets every call with it.
    """

    __slots__ = ("__weakref__", "_lock", "_thread_id", "deadline", "fired_at", "limit_now", "limit_s", "overrun")

    #: What the watchdog raises in module code (the runner turns it into a failed call).
    interrupt: type[BaseException] = ReducerTimeLimit

    def __init__(self, limit_s: float) -> None:
        if not limit_s > 0:
            raise ValueError(f"a reducer time limit must be positive, got {limit_s}")
        self.limit_s = limit_s
        #: The limit applied to the next calls: `limit_s`, or a shorter budget set by its caller (the
        #: server's worker, for module code run where a long call would stall others: the event loop,
        #: which then rolls an interrupted call back and runs it again under the full limit). Plain
        #: attributes, not methods: the worker sets and reads them around every turn on the loop.
        self.limit_now = limit_s
        #: Set when the watchdog interrupted a call under such a shorter budget (rather than under
        #: the full limit); whoever reads it clears it.
        self.overrun = False
        self.deadline = _INF
        self.fired_at = 0.0  # monotonic time the watchdog last fired (0: not during this call)
        self._thread_id = 0
        self._lock = threading.Lock()
        _watchdog.watch(self)

    def enter(self) -> None:
        self._thread_id = _get_ident()
        self.deadline = _monotonic() + self.limit_now

    def leave(self) -> bool:
        """Module code ended (or raised). Returns True if the watchdog fired during this call."""
        # Lock-free on the common path. `_fire` sets `fired_at` before it re-checks `deadline`,
        # and this clears `deadline` before it reads `fired_at` (each step atomic under the GIL),
        # so either the watchdog sees the cleared deadline and does not fire, or this sees
        # `fired_at` and takes the lock, which waits out the firing, then drops what is pending.
        self.deadline = _INF
        if not self.fired_at:
            return False
        with self._lock:
            _clear_async_exc(self._thread_id, None)
            self.fired_at = 0.0
        if self.limit_now < self.limit_s:
            self.overrun = True
        return True

    def interrupted_message(self, name: str) -> str:
        if self.limit_now < self.limit_s:
            return (
                f"reducer {name!r} ran past {self.limit_now:g} s on the server's event loop and was "
                f"interrupted; its changes were rolled back and it runs again on its database's thread"
            )
        return (
            f"reducer {name!r} ran longer than the reducer time limit of {self.limit_s:g} s and was "
            f"interrupted; its changes were rolled back (server flag --reducer-time-limit)"
        )

    def _fire(self, now: float) -> None:
        """On the watchdog thread."""
        with self._lock:
            if self.deadline > now or now - self.fired_at < REFIRE_SECONDS:
                return
            self.fired_at = now
            if self.deadline > now:  # the module code ended meanwhile (see `leave`): no firing
                self.fired_at = 0.0
                return
            _set_async_exc(self._thread_id, ReducerTimeLimit)


class _Watchdog:
    """One daemon thread for the process, polling every guard's deadline."""

    POLL_SECONDS = 0.05

    def __init__(self) -> None:
        self._guards: weakref.WeakSet[ReducerGuard] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, guard: ReducerGuard) -> None:
        with self._lock:
            self._guards.add(guard)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="reducer-watchdog", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self.POLL_SECONDS)
            now = time.monotonic()
            with self._lock:
                guards = list(self._guards)
            for guard in guards:
                if guard.deadline <= now:
                    guard._fire(now)


_watchdog = _Watchdog()

__all__ = ["DEFAULT_REDUCER_TIME_LIMIT", "ReducerGuard", "ReducerTimeLimit"]
