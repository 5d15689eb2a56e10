"""`SealedHost`: a bundle running in the sealed imitation of SpacetimeDB's V8 host, from pytest.

One `node --experimental-vm-modules --single-threaded tests/sealed_host/driver.mjs BUNDLE` process
per host, spoken to in JSON lines (README.md in this directory). Identities, connection ids and
timestamps are Python ints (the u256/u128/i64 the host passes to the module); rows are BSATN bytes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
NODE_DIR = HERE.parent / "node"
DRIVER = HERE / "driver.mjs"

#: How long one request may take (a Pyodide bundle's cold start is seconds; calls are milliseconds).
START_TIMEOUT_S = 120.0
CALL_TIMEOUT_S = 60.0


def node_available() -> bool:
    return shutil.which("node") is not None and (NODE_DIR / "node_modules" / "spacetimedb").is_dir()


class SealedHostError(RuntimeError):
    """The driver failed (start-up, a protocol error, or a dead process)."""


@dataclass(frozen=True)
class SealedCall:
    """The outcome of one call: `ok`, `sender_error` (the module threw its SenderError class) or
    `error` (anything else it threw), with what the module logged through `console_log`."""

    outcome: str
    message: str | None = None
    logs: list[tuple[int, str]] = field(default_factory=list)
    result: bytes | None = None
    scheduled: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


class SealedHost:
    def __init__(self, node: str = "node") -> None:
        self._node = node
        self._proc: subprocess.Popen[str] | None = None
        self.timings: dict[str, float] = {}

    def start(self, bundle_path: str | Path, *, identity: int | None = None) -> dict[str, float]:
        """Loads the bundle (evaluate, hooks, describe); returns the cold-start timings in ms.
        `identity`: the database identity the module's `identity()` returns."""
        extra = [] if identity is None else [f"--identity={identity}"]
        self._proc = subprocess.Popen(
            [self._node, "--experimental-vm-modules", "--single-threaded", "--no-warnings", str(DRIVER), str(bundle_path), *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        # Drain stderr all along (an unread pipe that fills up would block the driver), keeping its tail.
        self._stderr: list[str] = []
        self._stderr_reader = threading.Thread(target=self._drain_stderr, args=(self._proc,), daemon=True)
        self._stderr_reader.start()
        ready = self._read(START_TIMEOUT_S)
        if not ready.get("ready"):
            self.close()
            raise SealedHostError(f"bundle did not load: {ready.get('error')}")
        self.timings = dict(ready["timings"])
        return self.timings

    def _drain_stderr(self, proc: subprocess.Popen[str]) -> None:
        if proc.stderr is None:
            return
        for line in proc.stderr:
            self._stderr.append(line)
            if len(self._stderr) > 200:
                del self._stderr[:100]

    @property
    def stderr(self) -> str:
        """The last lines the driver wrote to stderr (what escaped the module, node's own errors)."""
        return "".join(getattr(self, "_stderr", []))

    def __enter__(self) -> SealedHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.write('{"cmd":"quit"}\n')
                proc.stdin.close()
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    # ---- protocol ----

    def _read(self, timeout: float) -> dict[str, Any]:
        proc = self._proc
        if proc is None or proc.stdout is None:
            raise SealedHostError("the sealed host is not running")
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline() if proc.stdout else ""), daemon=True)
        reader.start()
        reader.join(timeout)
        if reader.is_alive():
            proc.kill()
            raise SealedHostError(f"no answer from the sealed host within {timeout:.0f} s")
        if not line or not line[0]:
            proc.wait(timeout=10)
            self._stderr_reader.join(timeout=5)
            raise SealedHostError(f"the sealed host exited: {self.stderr[-2000:]}")
        msg: dict[str, Any] = json.loads(line[0])
        return msg

    def request(self, cmd: str, **fields: Any) -> dict[str, Any]:
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise SealedHostError("the sealed host is not running")
        proc.stdin.write(json.dumps({"cmd": cmd, **fields}) + "\n")
        proc.stdin.flush()
        reply = self._read(CALL_TIMEOUT_S)
        if not reply.get("ok"):
            raise SealedHostError(str(reply.get("error")))
        return reply

    @staticmethod
    def _call(reply: dict[str, Any]) -> SealedCall:
        result = reply.get("result")
        return SealedCall(
            outcome=reply["outcome"],
            message=reply.get("message"),
            logs=[(int(x["level"]), str(x["message"])) for x in reply.get("logs", [])],
            result=bytes.fromhex(result) if isinstance(result, str) else None,
            scheduled=list(reply.get("scheduled", [])),
        )

    @staticmethod
    def _who(sender: int, connection_id: int, timestamp: int) -> dict[str, str]:
        return {"sender": str(sender), "connection_id": str(connection_id), "timestamp": str(timestamp)}

    # ---- calls ----

    def describe(self) -> bytes:
        """The module's `__describe_module__` bytes (a BSATN `RawModuleDef`)."""
        return bytes.fromhex(self.request("describe")["module_def"])

    def call_reducer(
        self, reducer: str | int, args: bytes = b"", *, sender: int = 0, connection_id: int = 0, timestamp: int = 0
    ) -> SealedCall:
        """Calls a reducer by name or id in its own transaction (committed on `ok`, else rolled back)."""
        key: dict[str, Any] = {"reducer": reducer} if isinstance(reducer, str) else {"id": reducer}
        return self._call(self.request("call_reducer", **key, args=args.hex(), **self._who(sender, connection_id, timestamp)))

    def lifecycle(self, event: str, *, sender: int = 0, connection_id: int = 0, timestamp: int = 0) -> SealedCall:
        """Runs the `init`, `connect` or `disconnect` lifecycle reducer, if the module has one."""
        return self._call(self.request("lifecycle", event=event, **self._who(sender, connection_id, timestamp)))

    def call_procedure(
        self, procedure: str, args: bytes = b"", *, sender: int = 0, connection_id: int = 0, timestamp: int = 0
    ) -> SealedCall:
        return self._call(
            self.request("call_procedure", procedure=procedure, args=args.hex(), **self._who(sender, connection_id, timestamp))
        )

    def call_view(self, view: str, args: bytes = b"", *, sender: int = 0, timestamp: int = 0) -> SealedCall:
        return self._call(self.request("call_view", view=view, args=args.hex(), sender=str(sender), timestamp=str(timestamp)))

    def tables(self) -> dict[str, list[bytes]]:
        """Every table's rows as BSATN, sorted by their bytes."""
        dump: dict[str, list[str]] = self.request("dump")["tables"]
        return {name: [bytes.fromhex(h) for h in rows] for name, rows in dump.items()}
