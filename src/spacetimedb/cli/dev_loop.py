"""`spacetimedb dev`: a server in a child process, publish, then republish and regenerate on change."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from spacetimedb.cli.api_client import ApiClient, ApiError
from spacetimedb.cli.commands_generate import generate_files, write_files
from spacetimedb.cli.config import ServerEntry
from spacetimedb.cli.module_archive import build_module_archive
from spacetimedb.cli.output import make_console

console = make_console()


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
    client: ApiClient, name: str, module_path: Path, bindings_dir: Path | None, lang: str, clear: bool
) -> None:
    try:
        result = client.publish(name, build_module_archive(module_path), clear=clear)
    except ApiError as e:
        console.print(f"[red]publish failed:[/red] {e.text.strip()}")
        return
    verb = result.get("Success", result).get("op", "published")
    console.print(f"[green]{verb}[/green] {name} from {module_path}")
    if bindings_dir is not None:
        raw = client.schema(name, version=10)
        files = generate_files(raw, lang)
        write_files(bindings_dir, files)
        console.print(f"regenerated {len(files)} {lang} binding file(s) in {bindings_dir}")


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
    proc = subprocess.Popen(cmd)
    client = ApiClient(ServerEntry("dev", f"http://{listen_addr}"))
    try:
        _wait_until_up(client, proc)
        console.print(f"server on http://{listen_addr}, data in {data_dir}")
        _publish_and_generate(client, name, module_path, bindings_dir, lang, delete_data)
        watch_root = module_path if module_path.is_dir() else module_path.parent
        console.print(f"watching {watch_root} (Ctrl-C to stop)")
        for changes in watch(watch_root, watch_filter=lambda _c, p: p.endswith(".py")):
            if module_path.is_file() and not any(
                Path(p).resolve() == module_path.resolve() for _, p in changes
            ):
                continue
            _publish_and_generate(client, name, module_path, bindings_dir, lang, False)
    except KeyboardInterrupt:
        pass
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
