"""Our server in a child process on a free 127.0.0.1 port, with modules published: for tests whose
clients run in other processes (examples, the client wheel in a clean virtualenv)."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

_SERVE = (
    "import sys; from spacetimedb.server.app import run_server; "
    "args = sys.argv[3:]; run_server(sys.argv[1], sys.argv[2], publish=list(zip(args[::2], args[1::2])))"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def live_server(data_dir: Path, modules: dict[str, Path], *, timeout: float = 60) -> Iterator[str]:
    """Run the server with `modules` (database name -> module file) published; yields its http URL."""
    port = free_port()
    publish = [str(x) for name, path in modules.items() for x in (name, path)]
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{data_dir.name}.server.log"
    # A file, not a pipe: a pipe nobody reads would block a server that logs a lot.
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", _SERVE, f"127.0.0.1:{port}", str(data_dir), *publish],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while "listening on" not in log_path.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not start: {log_path.read_text()}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
