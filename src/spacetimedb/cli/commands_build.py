"""`spacetimedb build`: a module as one JavaScript bundle for SpacetimeDB's own V8 host (docs/spacetimedb.md)."""

from __future__ import annotations

from pathlib import Path

import click

from spacetimedb.cli.js_bundle import BuildError, build_bundle


@click.command("build")
@click.argument("path", required=False, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-p",
    "--module-path",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="The module: a .py file or a package directory (or give it as PATH) [default: .].",
)
@click.option(
    "-o", "--out", "out", type=click.Path(path_type=Path), default=None, help="The bundle to write [default: dist/bundle.js]."
)
@click.option("--no-snapshot", is_flag=True, help="Leave out the memory snapshot (smaller; each isolate starts in seconds).")
def build(path: Path | None, module_path: Path | None, out: Path | None, no_snapshot: bool) -> None:
    """Build PATH into one ES module for SpacetimeDB's V8 host (`spacetime publish --js-path`)."""
    target = out or Path("dist") / "bundle.js"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        result = build_bundle(module_path or path or Path("."), target, snapshot=not no_snapshot)
    except BuildError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"built {result.path} ({result.size / 1e6:.1f} MB{', with memory snapshot' if result.snapshot else ''})")


COMMANDS = [build]
