"""`spacetimedb dev`: publishes as the owner of the server it starts, streams the module's logs into its
own output, and answers an incompatible change with `dev -c` (or, under -c, republishes from empty tables)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from spacetimedb.cli.commands_server import identity_of_token

MODULE = """
from spacetimedb import ReducerContext, reducer, table


@table(public=True)
class Note:
    text: str
{extra}

@reducer
def add(ctx: ReducerContext, text: str) -> None:
    ctx.db.note.insert(Note(text=text))
    ctx.log.info(f"added {{text}}")
"""
INCOMPATIBLE = "    owner: str\n"  # a new column without a default: not an automatic migration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Dev:
    def __init__(self, tmp: Path, *flags: str) -> None:
        self.port = _free_port()
        self.server = f"127.0.0.1:{self.port}"
        self.module = tmp / "devmod.py"
        self.module.write_text(MODULE.format(extra=""))
        self.data = tmp / "data"
        self.env = {**os.environ, "SPACETIMEDB_CLI_CONFIG": str(tmp / "cli.json"), "NO_COLOR": "1"}
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "spacetimedb.cli.main", "dev", "devdb", "-p", str(self.module),
             "--listen-addr", self.server, "--data-dir", str(self.data), *flags],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, seen: Callable[[str], bool], what: str, after: int = 0, seconds: float = 60) -> int:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for i, line in enumerate(self.lines[after:], after):
                if seen(line):
                    return i
            assert self.proc.poll() is None, "\n".join(self.lines)
            time.sleep(0.1)
        raise AssertionError(f"dev never printed {what}:\n" + "\n".join(self.lines))

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "spacetimedb.cli.main", *args, "-s", self.server],
                              env=self.env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
        return done


@contextmanager
def running_dev(tmp: Path, *flags: str) -> Iterator[Dev]:
    dev = Dev(tmp, *flags)
    try:
        yield dev
    finally:
        dev.proc.terminate()
        try:
            dev.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            dev.proc.kill()


def test_dev_publishes_as_the_owner_streams_logs_and_names_dev_c(tmp_path: Path) -> None:
    with running_dev(tmp_path) as dev:
        dev.wait_for(lambda ln: "created devdb" in ln, "created devdb")
        owner = identity_of_token((dev.data / "keys" / "owner.token").read_text().strip())
        with urllib.request.urlopen(f"http://{dev.server}/v1/database/devdb", timeout=30) as r:
            assert json.loads(r.read())["owner_identity"] == owner
        dev.cli("call", "devdb", "add", '"hello dev"')
        dev.wait_for(lambda ln: ln.endswith("added hello dev") and " INFO " in ln, "the module's log line")
        assert "added hello dev" in dev.cli("logs", "devdb", "-n", "5").stdout  # owner-only, from another terminal

        mark = len(dev.lines)
        dev.module.write_text(MODULE.format(extra=INCOMPATIBLE))
        hint = dev.wait_for(lambda ln: "restart dev with -c" in ln, "the dev -c hint", after=mark)
        refusal = "\n".join(dev.lines[mark:hint + 1])
        assert "'owner'" in refusal and f"spacetimedb dev devdb -p {dev.module} -c" in refusal
        assert "--delete-data" not in refusal, refusal


def test_dev_c_republishes_an_incompatible_change_from_empty_tables(tmp_path: Path) -> None:
    with running_dev(tmp_path, "-c") as dev:
        dev.wait_for(lambda ln: "devdb from" in ln, "the first publish")
        dev.cli("call", "devdb", "add", '"gone soon"')
        assert dev.cli("sql", "devdb", "SELECT COUNT(*) AS n FROM note", "--json").stdout == '{"n": 1}\n'
        mark = len(dev.lines)
        dev.module.write_text(MODULE.format(extra=INCOMPATIBLE))
        at = dev.wait_for(lambda ln: "republishing devdb from empty tables" in ln, "the -c republish", after=mark)
        dev.wait_for(lambda ln: "devdb from" in ln, "the republish result", after=at)
        assert dev.cli("sql", "devdb", "SELECT COUNT(*) AS n FROM note", "--json").stdout == '{"n": 0}\n'
