"""`generate` (client bindings) and `describe` (a database's schema), both from a module definition."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from spacetimedb.cli.api_client import ApiClient
from spacetimedb.cli.commands_server import server_option
from spacetimedb.cli.config import CliConfig
from spacetimedb.cli.output import make_console
from spacetimedb.codegen.describe import describe_type
from spacetimedb.codegen.module_view import ModuleView, load_module_view
from spacetimedb.sats.algebraic_type import RefType

console = make_console()

module_path_option = click.option(
    "-p",
    "--module-path",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="A module on disk (a .py file or a package directory).",
)


def local_module_def(path: Path) -> dict[str, Any]:
    """RawModuleDefV10 (SATS-JSON) of a module on disk, without a server."""
    from spacetimedb.module.loader import load_module

    module_def: dict[str, Any] = load_module(path).raw_module_def_json()
    return module_def


def _module_def(module_path: Path | None, name: str | None, server: str | None) -> dict[str, Any]:
    if module_path is not None:
        return local_module_def(module_path)
    if name is None:
        raise click.UsageError("give a database NAME, or --module-path PATH for a module on disk")
    cfg = CliConfig.load()
    return ApiClient(cfg.resolve(server), cfg).schema(name, version=10)


@click.command("generate")
@click.argument("name", required=False)
@click.option(
    "-l",
    "--lang",
    type=click.Choice(["typescript", "python"], case_sensitive=False),
    required=True,
    help="Client language.",
)
@click.option(
    "-o", "--out-dir", type=click.Path(path_type=Path), required=True, help="Where to write the bindings."
)
@module_path_option
@click.option(
    "--module-def",
    "module_def_out",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the module definition as JSON (the form `spacetime generate --module-def` reads).",
)
@click.option("--include-private", is_flag=True, help="Also generate bindings for private tables.")
@server_option
def generate(
    name: str | None,
    lang: str,
    out_dir: Path,
    module_path: Path | None,
    module_def_out: Path | None,
    include_private: bool,
    server: str | None,
) -> None:
    """Generate client bindings from a module on disk (--module-path) or a published database (NAME).

    \b
    Examples:
      spacetimedb generate --lang typescript --out-dir client/src/module_bindings -p examples/quickstart_chat.py
      spacetimedb generate chat --lang python --out-dir client/
    """
    raw = _module_def(module_path, name, server)
    files = generate_files(raw, lang.lower(), include_private=include_private)
    write_files(out_dir, files)
    if module_def_out is not None:
        module_def_out.parent.mkdir(parents=True, exist_ok=True)
        module_def_out.write_text(json.dumps({"V10": raw}, indent=2), "utf-8")
    console.print(f"Wrote {len(files)} file(s) to {out_dir}")


def generate_files(raw: dict[str, Any], lang: str, *, include_private: bool = False) -> dict[str, str]:
    view = load_module_view(raw)
    if lang == "typescript":
        from spacetimedb.codegen.typescript import generate_typescript

        return generate_typescript(view, include_private=include_private)
    from spacetimedb.codegen.python import generate_python

    return generate_python(view, include_private=include_private)


def write_files(out_dir: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")


def print_description(view: ModuleView) -> None:
    for t in view.tables:
        access = "public" if t.public else "private"
        extra = f", scheduled -> {t.schedule_reducer}" if t.schedule_reducer else ""
        console.print(f"[bold]table[/bold] {t.name} ({access}{extra})")
        for i, c in enumerate(t.columns):
            flags = []
            if i in t.primary_key:
                flags.append("primary key")
            if any(cols == [i] for _, cols in t.unique_constraints) and i not in t.primary_key:
                flags.append("unique")
            if i in t.sequences:
                flags.append("auto_inc")
            suffix = f"  [dim]{', '.join(flags)}[/dim]" if flags else ""
            console.print(f"    {c.name}: {describe_type(view, c.type)}{suffix}")
        unique_sets = [list(cols) for _, cols in t.unique_constraints]
        for ix in t.indexes:
            cols = ", ".join(t.columns[c].name for c in ix.columns)
            mark = "; unique" if list(ix.columns) in unique_sets else ""
            console.print(f"    [dim]index {ix.accessor or ix.name} ({ix.algorithm}: {cols}{mark})[/dim]")
    for v in view.views:
        row = describe_type(view, RefType(v.row_ref))
        returns = f"list[{row}]" if v.returns_list else f"{row} | None"
        kind = "anonymous: the same rows for everyone" if v.anonymous else "per caller"
        pk = f", primary key {v.columns[v.primary_key[0]].name}" if v.primary_key else ""
        console.print(f"[bold]view[/bold] {v.name} -> {returns} [dim]({kind}{pk})[/dim]")
        for c in v.columns:
            console.print(f"    {c.name}: {describe_type(view, c.type)}")
    for r in view.reducers:
        params = ", ".join(f"{p.name}: {describe_type(view, p.type)}" for p in r.params)
        kind = f" [dim]({r.lifecycle})[/dim]" if r.lifecycle else ""
        console.print(f"[bold]reducer[/bold] {r.name}({params}){kind}")
    for p in view.procedures:
        params = ", ".join(f"{c.name}: {describe_type(view, c.type)}" for c in p.params)
        kind = "" if p.client_callable else " [dim](private)[/dim]"
        console.print(f"[bold]procedure[/bold] {p.name}({params}) -> {describe_type(view, p.return_type)}{kind}")


@click.command("describe")
@click.argument("name", required=False)
@module_path_option
@click.option(
    "--json", "as_json", is_flag=True, help="Print the module definition (RawModuleDefV10) as JSON."
)
@server_option
def describe(name: str | None, module_path: Path | None, as_json: bool, server: str | None) -> None:
    """Describe the tables, views, reducers and procedures of database NAME (or of a module on disk).

    \b
    Examples:
      spacetimedb describe chat
      spacetimedb describe -p examples/bank.py --json
    """
    raw = _module_def(module_path, name, server)
    if as_json:
        click.echo(json.dumps(raw, indent=2))
        return
    print_description(load_module_view(raw))


COMMANDS = [generate, describe]
