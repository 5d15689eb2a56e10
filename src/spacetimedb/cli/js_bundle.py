"""`spacetimedb build`: a Python module as one ES module for SpacetimeDB's own V8 module host.

The bundle (docs/spacetimedb.md) embeds a pinned Pyodide (CPython compiled to WebAssembly, npm
`pyodide`), a trimmed stdlib with the pure-Python layers of this package (sats, bsatn, module,
jshost) in the same zip, the user's module files, and a memory snapshot of the interpreter with
the module already imported; `spacetimedb/jshost/js/entry.mjs` starts it and serves the host's
hooks. esbuild (npm, pinned) joins it all into one file whose only imports are
`spacetime:sys@2.0` and `@2.1`.

The npm toolchain (`spacetimedb/jshost/toolchain/package.json` and its lockfile, exact
versions) is installed with `npm ci` into a cache directory on first use
(`$SPACETIMEDB_JS_TOOLCHAIN`, default `<user cache>/spacetimedb/js-toolchain-<lock hash>`).
Node and npm must be on PATH.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import lz4.block
import platformdirs

from spacetimedb.module.loader import load_module

PACKAGE = Path(__file__).resolve().parents[1]
JSHOST = PACKAGE / "jshost"
TOOLCHAIN_SPEC = JSHOST / "toolchain"
#: The layers the bundle embeds (the rest of the package is the server and its tools).
EMBEDDED_LAYERS = ("sats", "bsatn", "module", "jshost")
#: Where the module's files live inside the bundle's file system.
MODULE_ROOT = "/home/pyodide/module"
#: Static imports a bundle may have (upstream's `resolve_sys_module`).
ALLOWED_IMPORTS = frozenset({"spacetime:sys@2.0", "spacetime:sys@2.1"})

#: Stdlib packages and modules left out of the bundle: nothing a module running inside a database
#: transaction can use (no network, processes, terminals, GUIs) or developer tools. Modules that
#: import one of these fail at build time (the build imports the module inside Pyodide).
STDLIB_EXCLUDED = frozenset(
    {
        "multiprocessing", "email", "http", "xml", "xmlrpc", "html", "wsgiref",
        "_pyrepl", "unittest", "pydoc_data", "idlelib", "tkinter", "turtledemo", "lib2to3",
        "ensurepip", "venv", "sqlite3", "curses", "dbm", "test", "tomllib",
        "pdb.py", "doctest.py", "pydoc.py", "tarfile.py", "imaplib.py", "smtplib.py", "poplib.py",
        "ftplib.py", "mailbox.py", "nntplib.py", "telnetlib.py", "socketserver.py",
        "turtle.py", "webbrowser.py", "pickletools.py", "_pydecimal.py", "_pyio.py",
        "cProfile.py", "profile.py", "pstats.py", "trace.py", "tabnanny.py", "timeit.py", "zipapp.py",
        "mailcap.py", "smtpd.py", "imghdr.py", "sndhdr.py", "getpass.py", "netrc.py", "shelve.py",
    }
)  # fmt: skip
#: The encodings a module can reach without a codec name of its own choosing.
ENCODINGS_KEPT = frozenset(
    {
        "__init__", "aliases", "utf_8", "utf_8_sig", "ascii", "latin_1", "utf_16", "utf_16_le", "utf_16_be",
        "utf_32", "utf_32_le", "utf_32_be", "raw_unicode_escape", "unicode_escape", "idna", "punycode", "charmap",
        "cp437", "base64_codec", "hex_codec",
    }
)  # fmt: skip


class BuildError(Exception):
    """The bundle could not be built (a message for the user, no traceback)."""


@dataclass(frozen=True)
class BuildResult:
    path: Path
    size: int
    #: False when built with `snapshot=False` (start-up then imports everything in each isolate).
    snapshot: bool


# ---- the npm toolchain ------------------------------------------------------------------------------


def toolchain_dir() -> Path:
    """The installed toolchain (npm ci into a cache directory keyed by the lockfile, once)."""
    lock = (TOOLCHAIN_SPEC / "package-lock.json").read_bytes()
    env = os.environ.get("SPACETIMEDB_JS_TOOLCHAIN")
    base = Path(env) if env else Path(platformdirs.user_cache_dir("spacetimedb")) / f"js-toolchain-{hashlib.sha256(lock).hexdigest()[:12]}"
    marker = base / "node_modules" / ".spacetimedb-installed"
    if marker.is_file() and marker.read_bytes() == lock:
        return base
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise BuildError("spacetimedb build needs Node.js and npm on PATH (it bundles with esbuild and Pyodide from npm)")
    base.mkdir(parents=True, exist_ok=True)
    with _install_lock(base):
        if marker.is_file() and marker.read_bytes() == lock:  # another build installed it meanwhile
            return base
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(TOOLCHAIN_SPEC / name, base / name)
        proc = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=base, capture_output=True, text=True, timeout=600
        )
        if proc.returncode != 0:
            raise BuildError(f"npm ci of the bundle toolchain failed in {base}:\n{proc.stderr.strip()}")
        marker.write_bytes(lock)
    return base


@contextlib.contextmanager
def _install_lock(base: Path) -> Iterator[None]:
    """One `npm ci` at a time per toolchain directory (parallel builds share it)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; concurrent first builds are unlikely
        yield
        return
    with open(base / ".install.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# ---- payload ----------------------------------------------------------------------------------------


#: A payload file: its bytes as embedded, their size once expanded (None: embedded as is), and for
#: the snapshot the (offset, size, LZ4 block length) of each non-zero segment of the original.
Embedded = tuple[bytes, int | None, list[tuple[int, int, int]] | None]
#: Zero runs at least this long are left out of the snapshot's LZ4 block (the heap has ~18 MB of them).
ZERO_RUN = 64 * 1024


def compress(data: bytes) -> Embedded:
    """An LZ4 block of `data` and its size (shims.mjs `unlz4` expands it in one pass)."""
    return lz4.block.compress(data, store_size=False, mode="high_compression", compression=4), len(data), None


def compress_sparse(data: bytes) -> Embedded:
    """One LZ4 block per segment between long zero runs: they decode straight to their offsets,
    and the zero runs (about half of Pyodide's heap) cost neither bytes nor time."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in re.finditer(rb"\x00{%d,}" % ZERO_RUN, data):
        spans.append((pos, m.start() - pos))
        pos = m.end()
    spans.append((pos, len(data) - pos))
    blocks: list[bytes] = []
    segments: list[tuple[int, int, int]] = []
    for at, size in spans:
        if size:
            block = compress(data[at : at + size])[0]
            blocks.append(block)
            segments.append((at, size, len(block)))
    return b"".join(blocks), len(data), segments


def _stdlib_zip(pyodide_dir: Path) -> bytes:
    """Pyodide's stdlib zip, trimmed (STDLIB_EXCLUDED, ENCODINGS_KEPT), plus our embedded layers."""
    out = tempfile.SpooledTemporaryFile()
    with zipfile.ZipFile(pyodide_dir / "python_stdlib.zip") as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            name = info.filename
            top = name.split("/", 1)[0]
            if top in STDLIB_EXCLUDED:
                continue
            if top == "encodings" and "/" in name:
                stem = name.split("/", 1)[1].rsplit(".", 1)[0]
                if stem not in ENCODINGS_KEPT:
                    continue
            dst.writestr(_stable(name), src.read(info))
        dst.writestr(_stable("spacetimedb/__init__.py"), (PACKAGE / "__init__.py").read_bytes())
        for layer in EMBEDDED_LAYERS:
            for path in sorted((PACKAGE / layer).rglob("*.py")):
                dst.writestr(_stable(f"spacetimedb/{path.relative_to(PACKAGE).as_posix()}"), path.read_bytes())
    out.seek(0)
    return out.read()


def _stable(name: str) -> zipfile.ZipInfo:
    """A zip entry with a fixed date: the same inputs give the same bundle bytes."""
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _module_files(module_path: Path) -> tuple[dict[str, str], str, str]:
    """The module's .py files by relative path, its path inside the bundle, and its name."""
    p = module_path.resolve()
    if p.is_dir():
        files = {
            f"{p.name}/{f.relative_to(p).as_posix()}": f.read_text(encoding="utf-8")
            for f in sorted(p.rglob("*.py"))
            if "__pycache__" not in f.parts
        }
        return files, f"{MODULE_ROOT}/{p.name}", p.name
    return {p.name: p.read_text(encoding="utf-8")}, f"{MODULE_ROOT}/{p.name}", p.stem


#: Stands in for an embedded file's text while esbuild joins the bundle; replaced afterwards by
#: `_comment_text`, which esbuild would not keep.
_PLACEHOLDER = "@@spacetimedb-payload-{}@@"


def comment_text(data: bytes) -> str:
    """A JS expression whose value is `data` in base64, held in the comment of a function and read
    back with `Function.prototype.toString`: V8 skips a comment several times faster than it scans
    a string literal of the same length (no literal buffer, no string copy), and the bundle's
    payload is megabytes. Base64 has no `*`, so the comment cannot end early."""
    return f"(function(){{/*{base64.b64encode(data).decode()}*/}}).toString().slice(13, -3)"


def _payload_js(files: dict[str, Embedded], config: dict[str, object]) -> str:
    entries = []
    for i, (name, (_data, size, segments)) in enumerate(files.items()):
        extra = "" if size is None else f", size: {size}"
        extra += "" if segments is None else f", segments: {json.dumps(segments)}"
        entries.append(f"  {json.dumps(name)}: {{ data: {json.dumps(_PLACEHOLDER.format(i))}{extra} }},")
    return (
        "// Generated by `spacetimedb build`: the embedded files (base64, put in place of the\n"
        "// placeholders after esbuild) and the bundle's configuration.\n"
        "export const PAYLOAD = {\n" + "\n".join(entries) + "\n};\n"
        f"export const CONFIG = {json.dumps(config)};\n"
    )


def _fill_payload(bundle: str, files: dict[str, Embedded]) -> str:
    """The esbuild output with each placeholder replaced by its file's text (`comment_text`)."""
    parts = []
    pos = 0
    for i, (data, _size, _segments) in enumerate(files.values()):
        marker = json.dumps(_PLACEHOLDER.format(i))
        at = bundle.find(marker, pos)
        if at < 0 or bundle.find(marker, at + len(marker)) >= 0:
            raise BuildError(f"esbuild's output does not hold the payload placeholder {marker} exactly once")
        parts += [bundle[pos:at], comment_text(data)]
        pos = at + len(marker)
    parts.append(bundle[pos:])
    return "".join(parts)


# ---- build -----------------------------------------------------------------------------------------


def build_bundle(module_path: Path, out: Path, *, snapshot: bool = True, toolchain: Path | None = None) -> BuildResult:
    """Build the bundle of the module at `module_path` (a .py file or a package directory) into `out`."""
    # Load it natively first: a module that does not load here fails with a native traceback,
    # not one from inside Pyodide. Its definition bytes are embedded as our native host exports
    # them (compiling the RawModuleDef codec inside Pyodide would take seconds and ~20 MB of heap).
    module_def = load_module(module_path).raw_module_def_bsatn(10, wrapped=True)
    tc = toolchain or toolchain_dir()
    pyodide_dir = tc / "node_modules" / "pyodide"
    lock = json.loads((pyodide_dir / "pyodide-lock.json").read_text())
    module_files, inside_path, name = _module_files(module_path)
    config: dict[str, object] = {
        "lock": json.dumps({"info": lock["info"], "packages": {}}),
        "module_files": module_files,
        "module_root": MODULE_ROOT,
        "module_path": inside_path,
        "module_name": name,
        "snapshot": False,
    }
    files: dict[str, Embedded] = {
        "pyodide.asm.wasm": compress((pyodide_dir / "pyodide.asm.wasm").read_bytes()),
        "python_stdlib.zip": (_stdlib_zip(pyodide_dir), None, None),
        "module_def.bin": (module_def, None, None),
    }
    with tempfile.TemporaryDirectory(prefix="spacetimedb-build-") as tmp:
        stage = Path(tmp)
        for f in ("entry.mjs", "shims.mjs", "make_snapshot.mjs"):
            shutil.copyfile(JSHOST / "js" / f, stage / f)
        (stage / "node_modules").symlink_to(tc / "node_modules", target_is_directory=True)
        plain = stage / "plain.mjs"
        _esbuild(tc, stage, files, config, plain)
        if snapshot:
            raw = _make_snapshot(stage, plain)
            config["snapshot"] = True
            # Pyodide's snapshot is a header (magic, heap offset, build id, JSON) and the heap image
            # from that offset: the bundle decodes the heap straight into the wasm memory (entry.mjs).
            heap_at = int.from_bytes(raw[4:8], "little")
            files["snapshot_header.bin"] = (raw[:heap_at], None, None)
            files["snapshot_heap.bin"] = compress_sparse(raw[heap_at:])
            _esbuild(tc, stage, files, config, stage / "final.mjs")
            shutil.copyfile(stage / "final.mjs", out)
        else:
            shutil.copyfile(plain, out)
    check_imports(out.read_text(encoding="utf-8"))
    return BuildResult(out, out.stat().st_size, snapshot)


def _esbuild(tc: Path, stage: Path, files: dict[str, Embedded], config: dict[str, object], out: Path) -> None:
    (stage / "payload.mjs").write_text(_payload_js(files, config), encoding="utf-8")
    esbuild = tc / "node_modules" / ".bin" / "esbuild"
    proc = subprocess.run(
        [
            str(esbuild), "entry.mjs", "--bundle", "--format=esm", "--platform=neutral", "--charset=utf8",
            "--external:spacetime:sys*", "--external:node:*", "--external:ws", f"--outfile={out}", "--log-level=error",
        ],
        cwd=stage, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if proc.returncode != 0:
        raise BuildError(f"esbuild failed:\n{proc.stderr.strip()}")
    out.write_text(_fill_payload(out.read_text(encoding="utf-8"), files), encoding="utf-8")


def _make_snapshot(stage: Path, bundle: Path) -> bytes:
    """Evaluate the bundle once in Node (a stub host) with the module imported; the memory image."""
    target = stage / "snapshot.bin"
    proc = subprocess.run(
        ["node", "--experimental-vm-modules", "--single-threaded", "--no-warnings", "make_snapshot.mjs", str(bundle), str(target)],
        cwd=stage, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if proc.returncode != 0 or not target.is_file():
        raise BuildError(f"the module does not start inside Pyodide:\n{(proc.stderr or proc.stdout).strip()[-4000:]}")
    return target.read_bytes()


_STATIC_IMPORT = re.compile(r"""^\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]""", re.M)


def static_imports(source: str) -> set[str]:
    """The specifiers of the bundle's top-level `import ... from '...'` statements."""
    return {a or b for a, b in _STATIC_IMPORT.findall(source)}


def check_imports(source: str) -> None:
    bad = static_imports(source) - ALLOWED_IMPORTS
    if bad:
        raise BuildError(f"the bundle imports {sorted(bad)}; SpacetimeDB resolves only {sorted(ALLOWED_IMPORTS)}")
