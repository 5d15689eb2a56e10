"""A private PostgreSQL cluster for one run: initdb in a temp dir, pg_ctl on a loopback port, torn down after.

PostgreSQL refuses to run as root, so when we are root the cluster runs as the `postgres` user
(the Debian package creates it). Settings are the server's defaults (fsync and synchronous_commit on),
with only the listen address, port, socket dir and connection limit changed.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from keynote_bench.processes import free_port, log_tail

INSTALL_HINT = "install it with benchmarks/keynote/setup.sh (apt-get install -y postgresql)"


class PostgresUnavailable(Exception):
    """The PostgreSQL server binaries (initdb, pg_ctl) or the driver are not installed."""


class PostgresFailed(Exception):
    """initdb or pg_ctl failed; the message carries the command's output."""


def find_bindir() -> Path:
    """The directory holding initdb and pg_ctl: $PG_BINDIR, Debian's /usr/lib/postgresql/N/bin, or $PATH."""
    candidates = [os.environ.get("PG_BINDIR", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    for d in candidates:
        if d and (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists():
            return Path(d)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return Path(initdb).resolve().parent
    raise PostgresUnavailable(f"PostgreSQL server binaries (initdb, pg_ctl) not found: {INSTALL_HINT}")


@dataclass
class PostgresCluster:
    bindir: Path
    root: Path
    port: int
    user: str | None  # run the server as this user (None: as ourselves)
    max_connections: int
    running: bool = False

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    def _run(self, *argv: str, timeout_s: float = 60.0) -> None:
        proc = subprocess.run(
            [str(self.bindir / argv[0]), *argv[1:]],
            user=self.user,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env={**os.environ, "LC_ALL": "C"},
        )
        if proc.returncode != 0:
            raise PostgresFailed(
                f"{argv[0]} failed ({proc.returncode}): {proc.stdout[-1500:]}{proc.stderr[-1500:]}\n"
                f"server log tail:\n{log_tail(self.log_path)}"
            )

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} "
            f"-c max_connections={self.max_connections}"
        )
        self.running = True  # from here on, stop() must run even if start times out half-way
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        if self.running and (self.data_dir / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30", "stop")
            except (PostgresFailed, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "-t", "30", "stop")
        self.running = False
        shutil.rmtree(self.root, ignore_errors=True)

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None


def new_cluster(max_connections: int = 120) -> PostgresCluster:
    """A cluster not yet started, in a fresh temp dir owned by the user the server will run as."""
    bindir = find_bindir()
    user: str | None = None
    root = Path(tempfile.mkdtemp(prefix="keynote-pg-"))
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError as err:
            shutil.rmtree(root, ignore_errors=True)
            raise PostgresUnavailable(f"running as root but there is no 'postgres' user: {INSTALL_HINT}") from err
        os.chown(root, pw.pw_uid, pw.pw_gid)
        user = "postgres"
    return PostgresCluster(bindir=bindir, root=root, port=free_port(), user=user, max_connections=max_connections)
