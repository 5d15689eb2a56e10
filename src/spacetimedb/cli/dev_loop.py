"""`spacetimedb dev`: a server in a child process, publish, then republish and regenerate on change."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import click

from spacetimedb.cli.api_client import ApiClient, ApiError, ServerUnreachable
from spacetimedb.cli.commands_generate import generate_files, write_files
from spacetimedb.cli.commands_server import identity_of_token
from spacetimedb.cli.config import CliConfig, ServerEntry
from spacetimedb.cli.local_owner import local_url
from spacetimedb.cli.module_archive import build_module_archive
from spacetimedb.cli.output import escape, log_line, make_console
from spacetimedb.host.migration import DELETE_DATA_HINT, MANUAL_MIGRATION

console = make_console()
#: On (re)connecting, how many recent log lines to ask for (those already printed are skipped).
RECONNECT_LINES = 1000


def _wait_until_up(client: ApiClient, proc: subprocess.Popen[bytes], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise click.ClickException(f"the server exited with code {proc.returncode} while starting")
        if client.ping():
            return
        time.sleep(0.1)
    raise click.ClickException(f"the server did not answer within {seconds:.0f} s")


def _publish_and_generate(
    client: ApiClient,
    name: str,
    module_path: Path,
    bindings_dir: Path | None,
    lang: str,
    *,
    clear: bool,
    clear_on_refusal: bool,
) -> None:
    archive = build_module_archive(module_path)
    try:
        result = client.publish(name, archive, clear=clear)
    except ApiError as e:
        text = e.text.strip()
        if not (e.status == 400 and MANUAL_MIGRATION in text):
            console.print(f"[red]publish failed:[/red] {escape(text)}")
            return
        changes = "\n".join(line for line in text.splitlines() if line != DELETE_DATA_HINT)
        if not clear_on_refusal:
            console.print(f"[red]publish refused:[/red] {escape(changes)}")
            console.print(
                f"The running module keeps its data. To start {name} from empty tables whenever a change "
                f"needs this, restart dev with -c: spacetimedb dev {name} -p {module_path} -c"
            )
            return
        console.print(f"[yellow]{escape(changes)}[/yellow]")
        console.print(f"dev -c: republishing {name} from empty tables")
        try:
            result = client.publish(name, archive, clear=True)
        except ApiError as e2:
            console.print(f"[red]publish failed:[/red] {escape(e2.text.strip())}")
            return
    verb = result.get("Success", result).get("op", "published")
    console.print(f"[green]{verb}[/green] {name} from {module_path}")
    if bindings_dir is not None:
        raw = client.schema(name, version=10)
        files = generate_files(raw, lang)
        write_files(bindings_dir, files)
        console.print(f"regenerated {len(files)} {lang} binding file(s) in {bindings_dir}")


class LogFollower:
    """Streams the database's log into dev's output, as `npx convex dev` does; reconnects when the
    stream ends (a republish from empty tables restarts the database) and never prints a record twice
    (records are ordered by their microsecond timestamps)."""

    def __init__(self, client: ApiClient, name: str, since_us: int) -> None:
        self.client = client
        self.name = name
        self.last_ts = since_us
        self.stop = threading.Event()
        self._last_error = ""
        self.thread = threading.Thread(target=self._run, name="dev-logs", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                for rec in self.client.logs(self.name, num_lines=RECONNECT_LINES, follow=True):
                    ts = int(rec.get("ts") or 0)
                    if ts and ts <= self.last_ts:
                        continue
                    self.last_ts = max(self.last_ts, ts)
                    if self.stop.is_set():
                        return
                    console.print(log_line(rec))
                self._last_error = ""
            except ApiError as e:
                # 404 until the first publish succeeds; 403 if the database belongs to someone else.
                message = f"cannot follow the logs of {self.name}: {e}"
                if e.status != 404 and message != self._last_error:
                    console.print(f"[yellow]{escape(message)}[/yellow]")
                self._last_error = message
            except (ServerUnreachable, OSError, ValueError):
                pass  # the server is stopping, or the stream broke: retry below
            self.stop.wait(0.5)


def _client_for(listen_addr: str, data_dir: Path) -> ApiClient:
    """The CLI's identity for the server dev started: the owner's, which that server's `start` saved
    in the CLI config before serving; read from the data dir if the config could not be written."""
    cfg = CliConfig.load()
    entry = cfg.resolve(local_url(listen_addr))
    if entry.token is None:
        owner_token = data_dir / "keys" / "owner.token"
        if owner_token.exists():
            entry.token = owner_token.read_text().strip()
            entry.identity = identity_of_token(entry.token)
    return ApiClient(entry, cfg)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_dev(
    name: str,
    module_path: Path,
    *,
    listen_addr: str,
    data_dir: Path,
    bindings_dir: Path | None,
    lang: str,
    delete_data: bool,
) -> None:
    from watchfiles import watch

    # SIGTERM must also stop the server child (Python's default would exit without `finally`).
    signal.signal(signal.SIGTERM, _raise_interrupt)
    cmd = [
        sys.executable,
        "-m",
        "spacetimedb.cli.main",
        "start",
        "--listen-addr",
        listen_addr,
        "--data-dir",
        str(data_dir),
    ]
    since_us = int(time.time() * 1_000_000)
    proc = subprocess.Popen(cmd)
    follower: LogFollower | None = None
    try:
        _wait_until_up(ApiClient(ServerEntry("dev", local_url(listen_addr))), proc)
        client = _client_for(listen_addr, data_dir)
        console.print(
            f"server on {client.base}, data in {data_dir}; publishing as {client.server.identity or 'a new identity'}"
        )
        _publish_and_generate(
            client, name, module_path, bindings_dir, lang, clear=delete_data, clear_on_refusal=delete_data
        )
        follower = LogFollower(client, name, since_us)
        follower.start()
        watch_root = module_path if module_path.is_dir() else module_path.parent
        console.print(f"watching {watch_root}; the module's logs follow (Ctrl-C to stop)")
        for changes in watch(watch_root, watch_filter=lambda _c, p: p.endswith(".py")):
            if module_path.is_file() and not any(
                Path(p).resolve() == module_path.resolve() for _, p in changes
            ):
                continue
            _publish_and_generate(
                client, name, module_path, bindings_dir, lang, clear=False, clear_on_refusal=delete_data
            )
    except KeyboardInterrupt:
        pass
    finally:
        if follower is not None:
            follower.stop.set()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
