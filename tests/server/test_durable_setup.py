"""The files the server relies on are durable before anything depending on them is answered: the
signing key and owner token at start, a database's module, data directories and meta.json at
publish, its removal at delete. (End to end, with power cuts: tests/durability/test_power_cut.py.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.durability.fsync_log import FsyncLog, needs_proc_fd

from spacetimedb.control.host_backend import host_backend_factory, host_backend_factory_with
from spacetimedb.durability import FsyncPolicy
from spacetimedb.durability.options import DurabilityOptions
from spacetimedb.server.app import Server
from spacetimedb.server.tokens import TokenAuthority

pytestmark = needs_proc_fd
BANK = Path(__file__).resolve().parents[2] / "examples" / "bank.py"


def test_start_makes_the_signing_key_and_owner_token_durable(tmp_path: Path, monkeypatch) -> None:
    log = FsyncLog.install(monkeypatch)
    data = tmp_path / "new" / "data"
    server = Server(data)
    for d in (tmp_path / "new", data, data / "keys", data / "databases"):
        assert log.dir_durable(d), d
    for f in ("id_ecdsa", "id_ecdsa.pub", "owner.token"):
        assert log.file_durable(data / "keys" / f), f
    assert (data / "keys" / "id_ecdsa").stat().st_mode & 0o077 == 0
    assert (data / "keys" / "owner.token").stat().st_mode & 0o077 == 0
    # The same key on the next start: the owner token still validates.
    again = Server(data)
    assert again.owner.identity == server.owner.identity


def test_an_unreadable_signing_key_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "id_ecdsa").write_bytes(b"")  # what an unsynced key looks like after a power cut
    with pytest.raises(ValueError, match="restore it from a backup"):
        TokenAuthority.load_or_create(tmp_path / "keys")


@pytest.mark.in_process
def test_publish_answers_once_module_data_and_meta_are_durable(tmp_path: Path, monkeypatch) -> None:
    data = tmp_path / "data"

    async def main() -> None:
        server = Server(data, backend_factory=host_backend_factory)
        await server.start()
        try:
            log = FsyncLog.install(monkeypatch)
            await server.publish_path("bank", BANK)
            db = data / "databases" / "bank"
            assert log.dir_durable(db)
            # The module tree was fsynced before the staging directory was renamed into place.
            staged = [e for e in log.events if e[0] == "rename" and e[2] == str(db / "module")]
            assert staged, log.events
            assert log.fsynced(Path(staged[-1][1]) / "bank.py") and log.dir_durable(db / "module")
            for d in (db / "data", db / "data" / "durability", db / "data" / "durability" / "log"):
                assert log.dir_durable(d), d
            assert log.file_durable(db / "meta.json")
            # Republishing replaces meta.json atomically and durably too.
            log.events.clear()
            await server.publish_path("bank", BANK)
            assert log.file_durable(db / "meta.json") and log.dir_durable(db / "module")
            # A delete is durable: the database directory's removal is fsynced in `databases`.
            log.events.clear()
            await server.registry.delete(server.registry.databases["bank"], server.owner.identity)
            assert not db.exists() and log.fsynced(data / "databases")
        finally:
            await server.stop()

    asyncio.run(main())


@pytest.mark.in_process
def test_the_init_reducers_commit_is_durable_when_publish_returns(tmp_path: Path, monkeypatch) -> None:
    module = tmp_path / "seeded.py"
    module.write_text(
        "from spacetimedb import ReducerContext, reducer, table, u32\n"
        "@table(name='t', public=True)\n"
        "class T:\n    id: u32\n"
        "@reducer(lifecycle='init')\n"
        "def init(ctx: ReducerContext) -> None:\n    ctx.db.t.insert(T(id=7))\n"
    )
    data = tmp_path / "data"

    async def main() -> None:
        # fsync at most once a minute: only publish's own flush can make init's commit durable in time.
        lazy = host_backend_factory_with(DurabilityOptions(fsync=FsyncPolicy.every(60_000)))
        server = Server(data, backend_factory=lazy)
        await server.start()
        try:
            await server.publish_path("seeded", module)
            backend = server.registry.databases["seeded"].backend
            dur = backend.durability  # type: ignore[attr-defined]
            assert dur.durable_offset >= 0, "init's commit was not on disk when publish returned"
        finally:
            await server.stop()

    asyncio.run(main())
