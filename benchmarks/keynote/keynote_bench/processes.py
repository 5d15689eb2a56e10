"""Child processes of one benchmark run: started in their own process group, stopped by id, always.

Every server the run starts is registered with a `ProcessGroup`; leaving its `with` block (normally,
on an error, or on Ctrl-C/SIGTERM, which the orchestrator turns into KeyboardInterrupt) stops them all.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any


class ServerDidNotStart(Exception):
    """A server process exited or did not open its port in time; the message carries its log's tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class ProcessGroup:
    """Starts children with their output in log files, and stops every one of them on exit."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._children: list[subprocess.Popen[Any]] = []
        self._cleanups: list[Callable[[], None]] = []

    def start(
        self, name: str, argv: Sequence[str], env: dict[str, str] | None = None, cwd: str | None = None
    ) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.log_dir / f"{name}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                list(argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                start_new_session=True,  # its own group: Ctrl-C reaches us, and we stop it in order
            )
        self._children.append(proc)
        return proc, log

    def start_piped(self, argv: Sequence[str], cwd: str | None = None) -> subprocess.Popen[str]:
        """A short-lived child whose stdout we read line by line (stderr passes through)."""
        proc = subprocess.Popen(
            list(argv), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, cwd=cwd, start_new_session=True
        )
        self._children.append(proc)
        return proc

    def on_exit(self, cleanup: Callable[[], None]) -> None:
        """Runs `cleanup` when the group closes (last registered, first run)."""
        self._cleanups.append(cleanup)

    def stop(self, proc: subprocess.Popen[Any], grace_s: float = 5.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=grace_s)
        if proc in self._children:
            self._children.remove(proc)

    def close(self) -> None:
        # Ctrl-C during teardown must not leave servers behind.
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            for proc in reversed(list(self._children)):
                self.stop(proc)
            while self._cleanups:
                cleanup = self._cleanups.pop()
                with contextlib.suppress(Exception):
                    cleanup()
        finally:
            signal.signal(signal.SIGINT, old)

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 30.0) -> None:
    """Returns once 127.0.0.1:port accepts connections; raises if `proc` exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerDidNotStart(f"exited with status {proc.returncode}; log tail:\n{log_tail(log)}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise ServerDidNotStart(f"did not listen on 127.0.0.1:{port} within {timeout_s:.0f} s; log tail:\n{log_tail(log)}")


def wait_for_http_ok(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 60.0) -> None:
    """Returns once GET `url` answers 200 (e.g. a database that is published); raises like wait_for_port."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerDidNotStart(f"exited with status {proc.returncode}; log tail:\n{log_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as err:
            last = f"HTTP {err.code}"
        except OSError as err:
            last = str(err)
        time.sleep(0.1)
    raise ServerDidNotStart(f"GET {url} did not answer 200 within {timeout_s:.0f} s ({last}); log tail:\n{log_tail(log)}")
