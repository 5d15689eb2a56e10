"""The databases this server hosts, by name, and their data directory layout.

    <data_dir>/keys/id_ecdsa            the token signing key (see tokens.py)
    <data_dir>/databases/<name>/meta.json   {name, identity, owner, entry, program_hash, created_us}
    <data_dir>/databases/<name>/module/     the published module source (a file or a package dir)
    <data_dir>/databases/<name>/data/       the backend's durable state (commit log, snapshots)

Everything here is written to survive a power cut (`durability.durable_files`): the module tree is
fsynced before it is renamed into place, renames and removals are followed by a directory fsync,
and meta.json, written last, is replaced atomically. A publish answers only after all of that.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import logging
import re
import shutil
import tarfile
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from blake3 import blake3

from spacetimedb.control.backend import DatabaseBackend
from spacetimedb.control.clock import now_us
from spacetimedb.control.hosted_database import DatabaseInfo, HostedDatabase
from spacetimedb.control.identity import LOCAL_ISSUER, identity_from_claims, parse_identity_hex
from spacetimedb.control.module_swap import SwapFailed
from spacetimedb.control.query_limits import QueryLimits
from spacetimedb.durability import durable_files
from spacetimedb.module.http_client import HttpPolicy

if TYPE_CHECKING:
    from spacetimedb.control.database_handle import DatabaseHandle
    from spacetimedb.control.process_database import ProcessOptions

log = logging.getLogger("spacetimedb.server")

_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,62}[a-z0-9])?$")


class PublishError(Exception):
    """An upload that cannot become a database (bad name, bad archive, module failed to load)."""


class PublishRefused(Exception):
    """Raised by a backend factory when the module loads but cannot take over the database's data
    (e.g. a schema change that needs a manual migration); the message says what to do."""


class NotOwner(Exception):
    """The caller is not the database's owner."""


@dataclass(frozen=True, slots=True)
class BackendSpec:
    """What a backend factory gets: where the module is and where to keep data."""

    info: DatabaseInfo
    module_path: Path
    data_dir: Path
    #: True when the database is new (or cleared): the module's `init` reducer must run.
    fresh: bool
    #: On a republish over existing data: the module the data was written by (for migrations).
    previous_module_path: Path | None = None


BackendFactory = Callable[[BackendSpec], DatabaseBackend]


def validate_name(name: str) -> None:
    if not _NAME_RE.match(name) or parse_identity_hex(name) is not None:
        raise PublishError(
            f"invalid database name {name!r}: use 1-64 lowercase letters, digits, '-' or '_', "
            "starting and ending with a letter or digit"
        )


def unpack_upload(body: bytes, module_dir: Path, entry: str | None) -> Path:
    """Write an uploaded module into `module_dir`; returns the path to load.

    A zip or (gzipped) tar is a package directory: its entry is `entry` if given, else the root
    `__init__.py` (the directory is loaded as a package), else the only top-level `.py` file.
    Anything else is one Python source file.
    """
    if module_dir.exists():
        shutil.rmtree(module_dir)
    module_dir.mkdir(parents=True)
    if body[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(body)) as zf:
                for member in zf.namelist():
                    _check_member(member)
                _check_size(sum(i.file_size for i in zf.infolist()))
                zf.extractall(module_dir)
        except zipfile.BadZipFile as e:
            raise PublishError(f"upload is not a valid zip archive: {e}") from e
    elif body[:2] == b"\x1f\x8b" or body[257:262] == b"ustar":
        try:
            with tarfile.open(fileobj=io.BytesIO(body)) as tf:
                members = tf.getmembers()
                for m in members:
                    _check_member(m.name)
                    if not (m.isfile() or m.isdir()):
                        raise PublishError(f"archive member {m.name!r} is not a regular file or directory")
                _check_size(sum(m.size for m in members))
                tf.extractall(module_dir, filter="data")
        except tarfile.TarError as e:
            raise PublishError(f"upload is not a valid tar archive: {e}") from e
    else:
        try:
            body.decode()
        except UnicodeDecodeError as e:
            raise PublishError("upload is neither a zip/tar archive nor UTF-8 Python source") from e
        target = module_dir / "module.py"
        target.write_bytes(body)
        return target
    if entry:
        _check_member(entry)
        path = module_dir / entry
        if not path.exists():
            raise PublishError(f"entry {entry!r} is not in the uploaded archive")
        return path
    if (module_dir / "__init__.py").exists():
        return module_dir
    top = [p for p in module_dir.iterdir() if p.suffix == ".py"]
    if len(top) == 1:
        return top[0]
    raise PublishError("archive has no root __init__.py and not exactly one top-level .py file: pass ?entry=<path>")


#: Largest total size of an unpacked module archive.
MAX_UNPACKED_BYTES = 256 * 1024 * 1024


def _check_size(total: int) -> None:
    if total > MAX_UNPACKED_BYTES:
        raise PublishError(f"the archive unpacks to {total} bytes, over the {MAX_UNPACKED_BYTES} byte limit")


def _check_member(name: str) -> None:
    if name.startswith("/") or ".." in Path(name).parts:
        raise PublishError(f"archive member {name!r} escapes the module directory")


def copy_module(source: Path, module_dir: Path) -> Path:
    """Copy a module file or package directory from disk into `module_dir` (startup publishing)."""
    if module_dir.exists():
        shutil.rmtree(module_dir)
    if source.is_dir():
        shutil.copytree(source, module_dir, ignore=shutil.ignore_patterns("__pycache__"))
        return module_dir
    module_dir.mkdir(parents=True)
    target = module_dir / source.name
    shutil.copy2(source, target)
    return target


class DatabaseRegistry:
    def __init__(
        self,
        data_dir: Path,
        factory: BackendFactory,
        query_limits: QueryLimits | None = None,
        processes: ProcessOptions | None = None,
    ) -> None:
        self.root = data_dir / "databases"
        durable_files.make_dirs(self.root)
        self.factory = factory
        #: What each client's queries may cost, for every database.
        self.query_limits = query_limits or QueryLimits()
        #: What procedures' `ctx.http` may reach, for every database (`--procedure-http`).
        self.procedure_http = HttpPolicy()
        #: With options: each database runs in a process of its own (`--database-processes`), its
        #: backend built there by the real host with these options (`factory` is not used then).
        self.processes = processes
        self.databases: dict[str, DatabaseHandle] = {}
        self.on_removed: list[Callable[[DatabaseHandle], None]] = []
        self._lock = asyncio.Lock()

    def resolve(self, name_or_identity: str) -> DatabaseHandle | None:
        db = self.databases.get(name_or_identity)
        if db is not None:
            return db
        ident = parse_identity_hex(name_or_identity)
        if ident is None:
            return None
        return next((d for d in self.databases.values() if d.info.identity == ident), None)

    async def load_existing(self) -> None:
        """Start every database found in the data dir (after a restart)."""
        for meta_path in sorted(self.root.glob("*/meta.json")):
            try:
                _finish_interrupted_swap(meta_path.parent)
                meta = json.loads(meta_path.read_text())
                info = DatabaseInfo(meta["name"], bytes.fromhex(meta["identity"]), bytes.fromhex(meta["owner"]))
                directory = meta_path.parent
                spec = BackendSpec(info, directory / meta["entry"], directory / "data", fresh=False)
                db = await self._open(spec)
            except Exception:  # one broken database must not keep the others down
                log.exception("database in %s could not be loaded; it is not served", meta_path.parent)
                continue
            self._start(db)

    async def _open(self, spec: BackendSpec) -> DatabaseHandle:
        """The database of `spec`, built in this process or started in its own; raises what the
        factory raises (PublishRefused; ModuleLoadFailed from a database process)."""
        if self.processes is None:
            return HostedDatabase(spec.info, self.factory(spec))
        from spacetimedb.control.process_database import DatabaseProcess

        return await DatabaseProcess.launch(spec, self.processes, self.query_limits, self.procedure_http)

    def _start(self, db: DatabaseHandle) -> None:
        db.limits = self.query_limits
        db.http_policy = self.procedure_http
        self.databases[db.info.name] = db
        db.start()

    async def publish(
        self,
        name: str,
        owner: bytes,
        write_module: Callable[[Path], Path],
        *,
        clear: bool = False,
        authorize_create: Callable[[], None] | None = None,
    ) -> tuple[str, DatabaseHandle]:
        """Create or update database `name`; returns ("created" | "updated", database).

        An update over serving data swaps the module in place (`module_swap.py`: same HostedDatabase,
        clients kept unless tables they use changed shape). With `clear`, or when the database is out
        of service, it is stopped and restarted instead. If the new module fails to load or needs a
        manual migration, everything is put back: the old module keeps running on its data (a
        republish with a typo must not take the database down).
        `authorize_create` runs (under the registry lock) when `name` is new; it raises to refuse.
        """
        validate_name(name)
        async with self._lock:
            existing = self.databases.get(name)
            if existing is not None and existing.info.owner != owner:
                raise NotOwner(f"database {name!r} belongs to another identity; only its owner can publish over it")
            if existing is None and authorize_create is not None:
                authorize_create()
            directory = self.root / name
            durable_files.make_dirs(directory)
            staging = directory / "module.new"
            entry_path = write_module(staging)
            durable_files.fsync_tree(staging)
            info = existing.info if existing else DatabaseInfo(name, _new_database_identity(name), owner)
            module_dir, old_module = directory / "module", directory / "module.old"
            data_dir, old_data = directory / "data", directory / "data.old"
            for leftover in (old_module, old_data):
                shutil.rmtree(leftover, ignore_errors=True)
            old_entry = self._entry_of(directory) if existing else None
            if existing is not None and not clear and old_entry is not None and existing.failure is None:
                await self._swap_in_place(existing, staging, entry_path, old_entry)
                return "updated", existing
            if existing is not None:
                await self._stop(existing)
            if module_dir.exists():
                module_dir.rename(old_module)
            staging.rename(module_dir)
            entry_path = module_dir / entry_path.relative_to(staging)
            # Data without a meta.json is left from a publish that never answered: start afresh.
            if (clear or not (directory / "meta.json").exists()) and data_dir.exists():
                data_dir.rename(old_data)
            durable_files.fsync_dir(directory)
            previous = None
            if old_entry is not None and not clear:
                previous = old_module / old_entry.relative_to(module_dir)
            try:
                db = await self._open(
                    BackendSpec(info, entry_path, data_dir, fresh=existing is None or clear, previous_module_path=previous)
                )
            except PublishRefused as e:
                await self._roll_back(directory, info, old_entry)
                raise PublishError(str(e)) from e
            except Exception as e:
                await self._roll_back(directory, info, old_entry)
                raise PublishError(f"module failed to load: {_load_error(e)}") from e
            shutil.rmtree(old_module, ignore_errors=True)
            shutil.rmtree(old_data, ignore_errors=True)
            _write_meta(directory, info, entry_path)
            self._start(db)
            return ("updated" if existing else "created"), self.databases[name]

    async def _swap_in_place(self, db: DatabaseHandle, staging: Path, staged_entry: Path, old_entry: Path) -> None:
        """Republish over a serving database without stopping it (see module_swap.py): its clients
        stay connected unless the change alters rows they decode. On any failure the old module's
        files are put back and it keeps serving."""
        directory = self.root / db.info.name
        module_dir, old_module, data_dir = directory / "module", directory / "module.old", directory / "data"
        module_dir.rename(old_module)
        staging.rename(module_dir)
        durable_files.fsync_dir(directory)
        entry_path = module_dir / staged_entry.relative_to(staging)
        previous = old_module / old_entry.relative_to(module_dir)
        spec = BackendSpec(db.info, entry_path, data_dir, fresh=False, previous_module_path=previous)

        restore_files = functools.partial(restore_module_files, directory, db.info, old_entry)
        try:  # on the database's worker, here or in its own process, on these same files
            await db.swap(spec, directory, old_entry, self.factory)
        except SwapFailed as e:
            raise PublishError(str(e)) from e
        except PublishRefused as e:
            restore_files()
            raise PublishError(str(e)) from e
        except Exception as e:
            restore_files()
            raise PublishError(f"module failed to load: {_load_error(e)}") from e
        shutil.rmtree(old_module, ignore_errors=True)
        _write_meta(directory, db.info, entry_path)

    def _entry_of(self, directory: Path) -> Path | None:
        try:
            return directory / json.loads((directory / "meta.json").read_text())["entry"]
        except (OSError, ValueError, KeyError):
            return None

    async def _roll_back(self, directory: Path, info: DatabaseInfo, old_entry: Path | None) -> None:
        """Undo a failed publish: restore the old module and data and restart it, or remove the new one."""
        module_dir, old_module = directory / "module", directory / "module.old"
        data_dir, old_data = directory / "data", directory / "data.old"
        if old_entry is None:
            durable_files.remove_tree(directory, ignore_errors=True)
            return
        shutil.rmtree(module_dir, ignore_errors=True)
        if old_module.exists():
            old_module.rename(module_dir)
        if old_data.exists():
            shutil.rmtree(data_dir, ignore_errors=True)
            old_data.rename(data_dir)
        durable_files.fsync_dir(directory)
        try:
            self._start(await self._open(BackendSpec(info, old_entry, data_dir, fresh=False)))
        except Exception:
            log.exception("could not restart %s with its previous module", info.name)

    def meta(self, db: DatabaseHandle) -> dict[str, object]:
        result: dict[str, object] = json.loads((self.root / db.info.name / "meta.json").read_text())
        return result

    async def delete(self, db: DatabaseHandle, caller: bytes) -> None:
        if db.info.owner != caller:
            raise NotOwner(f"only the owner of {db.info.name!r} can delete it")
        async with self._lock:
            await self._stop(db)
            durable_files.remove_tree(self.root / db.info.name, ignore_errors=True)

    async def _stop(self, db: DatabaseHandle) -> None:
        self.databases.pop(db.info.name, None)
        for hook in self.on_removed:
            hook(db)
        await db.stop()

    async def stop_all(self) -> None:
        for db in list(self.databases.values()):
            await self._stop(db)


def restore_module_files(directory: Path, info: DatabaseInfo, old_entry: Path) -> BackendSpec:
    """Put the previous module back after a failed swap (`module.old` -> `module`); the spec to
    restart it with. Called by the registry, or by `module_swap` in a database's own process."""
    module_dir, old_module = directory / "module", directory / "module.old"
    if old_module.exists():
        shutil.rmtree(module_dir, ignore_errors=True)
        old_module.rename(module_dir)
        durable_files.fsync_dir(directory)
    return BackendSpec(info, old_entry, directory / "data", fresh=False)


def _load_error(e: Exception) -> str:
    """`Type: text` of a module's load failure (a database process sends it so already)."""
    if type(e).__name__ == "ModuleLoadFailed":
        return str(e)
    return f"{type(e).__name__}: {e}"


def _write_meta(directory: Path, info: DatabaseInfo, entry_path: Path) -> None:
    meta = {
        "name": info.name,
        "identity": info.identity.hex(),
        "owner": info.owner.hex(),
        "entry": str(entry_path.relative_to(directory)),
        "program_hash": _program_hash(entry_path),
        "created_us": now_us(),
    }
    # Last, atomically: a database exists once its meta.json does (load_existing looks for it).
    durable_files.write_file(directory / "meta.json", json.dumps(meta, indent=1).encode())


def _finish_interrupted_swap(directory: Path) -> None:
    """A crash between a publish's two renames leaves `module.old` but no `module`: put it back
    (the publish never answered; meta.json still names the old module)."""
    module_dir, old_module = directory / "module", directory / "module.old"
    if not module_dir.exists() and old_module.exists():
        old_module.rename(module_dir)
        durable_files.fsync_dir(directory)


def _new_database_identity(name: str) -> bytes:
    return identity_from_claims(LOCAL_ISSUER, f"database:{name}:{uuid.uuid4()}")


def _program_hash(path: Path) -> str:
    h = blake3()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()
