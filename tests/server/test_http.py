"""The HTTP API against the fake backend: identity routes, auth, CORS, call, sql, schema, logs, publish."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from pathlib import Path

import aiohttp
import pytest

from spacetimedb.server.app import Server
from spacetimedb.server.publish_policy import PublishPolicy

from .fake_backend import FakeBackend, OffsetGate
from .harness import backend_of, run_scenario


def test_identity_routes(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{base}/v1/identity") as r:
                assert r.status == 200
                body = await r.json()
            ident, token = body["identity"], body["token"]
            assert len(ident) == 64 and ident.startswith("c200")
            async with s.post(f"{base}/v1/identity/websocket-token") as r:
                assert r.status == 401
            async with s.post(f"{base}/v1/identity/websocket-token", headers={"Authorization": f"Bearer {token}"}) as r:
                ws_token = (await r.json())["token"]
            assert server.authority.validate(ws_token).identity_hex == ident
            async with s.get(f"{base}/v1/identity/public-key") as r:
                assert r.headers["Content-Type"] == "application/pem-certificate-chain"
                assert (await r.read()).startswith(b"-----BEGIN PUBLIC KEY-----")
            async with s.get(f"{base}/v1/ping") as r:
                assert r.status == 200
            async with s.get(f"{base}/v1/identity/{ident}/verify", headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 204
            async with s.get(f"{base}/v1/identity/{'c2' + '0' * 62}/verify", headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 400
            async with s.get(f"{base}/v1/identity/{server.owner.identity_hex}/databases") as r:
                assert (await r.json())["identities"] == [server.registry.databases["test"].info.identity.hex()]

    run_scenario(tmp_path, scenario)


def test_database_routes_mint_identity_headers_and_reject_forged_tokens(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{base}/v1/database/test") as r:
                assert r.status == 200
                minted = r.headers["spacetime-identity"]
                assert server.authority.validate(r.headers["spacetime-identity-token"]).identity_hex == minted
                info = await r.json()
                assert info["owner_identity"] == server.owner.identity_hex
            async with s.get(f"{base}/v1/database/test", headers={"Authorization": "Bearer forged.token.x"}) as r:
                assert r.status == 401
            async with s.get(f"{base}/v1/database/test?token=forged") as r:
                assert r.status == 401
            async with s.get(f"{base}/v1/database/test", headers={"Authorization": "Basic abc"}) as r:
                assert r.status == 400
            async with s.get(f"{base}/v1/database/test/identity") as r:
                assert await r.text() == info["database_identity"]
            async with s.get(f"{base}/v1/database/{info['database_identity']}/names") as r:
                assert (await r.json()) == {"names": ["test"]}
            async with s.get(f"{base}/v1/database/nope") as r:
                assert r.status == 404

    run_scenario(tmp_path, scenario)


def test_cors(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            headers = {"Origin": "http://example.com", "Access-Control-Request-Method": "POST"}
            async with s.options(f"{base}/v1/database/test/call/add", headers=headers) as r:
                assert r.status == 200
                assert r.headers["Access-Control-Allow-Origin"] == "*"
                assert "authorization" in r.headers["Access-Control-Allow-Headers"]
            async with s.get(f"{base}/v1/ping", headers={"Origin": "http://x"}) as r:
                assert r.headers["Access-Control-Allow-Origin"] == "*"

    run_scenario(tmp_path, scenario)


def test_call_statuses_and_lifecycle(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        backend = backend_of(server)
        url = f"{base}/v1/database/test/call"
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{url}/add", json=["alice"]) as r:
                assert r.status == 200 and await r.text() == ""
            async with s.post(f"{url}/add", json={"name": "bob"}) as r:
                assert r.status == 200
            assert sorted(r[1] for r in backend.rows["person"].values()) == ["alice", "bob"]
            async with s.post(f"{url}/add", data="[\"x\"]", headers={"Content-Type": "text/plain"}) as r:
                assert r.status == 400
            async with s.post(f"{url}/add", data="{not json", headers={"Content-Type": "application/json"}) as r:
                assert r.status == 400
            async with s.post(f"{url}/add", json=[1, 2]) as r:
                assert r.status == 400
            async with s.post(f"{url}/fail", json=[]) as r:
                assert r.status == 530 and "always fails" in await r.text()
            async with s.post(f"{url}/crash", json=[]) as r:
                assert r.status == 530
            async with s.post(f"{url}/nope", json=[]) as r:
                assert r.status == 404
            async with s.post(f"{url}/client_connected", json=[]) as r:
                assert r.status == 400
            # Every well-formed request was wrapped in OnConnect/OnDisconnect with a fresh connection id.
            assert len(backend.connected) == len(backend.disconnected) == 7
            assert len({c for _, c in backend.connected}) == 7
            caller = server.authority.mint_anonymous()
            backend.refuse.add(caller.identity)
            async with s.post(f"{url}/add", json=["x"], headers={"Authorization": f"Bearer {caller.token}"}) as r:
                assert r.status == 403 and "not welcome" in await r.text()

    run_scenario(tmp_path, scenario)


def test_sql_schema_and_owner_checks(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        owner = {"Authorization": f"Bearer {server.owner.token}"}
        url = f"{base}/v1/database/test"
        async with aiohttp.ClientSession() as s:
            await s.post(f"{url}/call/add", json=["carol"])
            async with s.post(f"{url}/sql", data="SELECT * FROM person") as r:
                assert r.status == 200
                [stmt] = await r.json()
                assert stmt["rows"] == [[1, "carol"]] and stmt["stats"]["rows_inserted"] == 0
            async with s.post(f"{url}/sql", data="SELECT * FROM secret") as r:
                assert r.status == 400  # private table: invisible to non-owners
            async with s.post(f"{url}/sql", data="SELECT * FROM secret", headers=owner) as r:
                assert r.status == 200
            async with s.post(f"{url}/sql", data="INSERT INTO person VALUES (7, 'dan')") as r:
                assert r.status == 403
            async with s.post(f"{url}/sql", data="INSERT INTO person VALUES (7, 'dan')", headers=owner) as r:
                assert r.status == 200 and (await r.json())[0]["stats"]["rows_inserted"] == 1
            async with s.get(f"{url}/schema") as r:
                assert r.status == 400
            async with s.get(f"{url}/schema?version=10") as r:
                assert await r.json() == {"sections": []}
            async with s.get(f"{url}/logs") as r:
                assert r.status == 403
            async with s.get(f"{url}/logs?num_lines=1", headers=owner) as r:
                assert r.headers["Content-Type"].startswith("application/x-ndjson")
                lines = (await r.text()).splitlines()
                assert len(lines) == 1 and json.loads(lines[0])["message"] == "add called"

    run_scenario(tmp_path, scenario)


def test_logs_follow_streams(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        owner = {"Authorization": f"Bearer {server.owner.token}"}
        url = f"{base}/v1/database/test"
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{url}/logs?follow=true", headers=owner) as r:
                await s.post(f"{url}/call/add", json=["eve"])
                line = await r.content.readline()
                assert json.loads(line)["message"] == "add called"

    run_scenario(tmp_path, scenario)


def test_logs_follow_continues_across_a_republish(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        owner = {"Authorization": f"Bearer {server.owner.token}"}
        url = f"{base}/v1/database/test"
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{url}/logs?follow=true", headers=owner) as r:
                await server.publish_path("test", tmp_path / "module.py")  # swapped in place
                await s.post(f"{url}/call/add", json=["after the swap"])
                line = await asyncio.wait_for(r.content.readline(), 10)
                assert json.loads(line)["message"] == "add called"

    run_scenario(tmp_path, scenario)


def _zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


def test_publish_update_delete_and_ownership(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        alice = server.authority.mint_anonymous()
        bob = server.authority.mint_anonymous()
        auth_a = {"Authorization": f"Bearer {alice.token}"}
        auth_b = {"Authorization": f"Bearer {bob.token}"}
        async with aiohttp.ClientSession() as s:
            async with s.put(f"{base}/v1/database/game", data=_zip({"game.py": "x = 1\n"}), headers=auth_a) as r:
                assert r.status == 200, await r.text()
                result = (await r.json())["Success"]
                assert result["op"] == "created" and result["domain"] == "game"
            db = server.registry.databases["game"]
            assert db.info.owner == alice.identity
            assert (server.data_dir / "databases" / "game" / "module" / "game.py").exists()
            async with s.put(f"{base}/v1/database/game", data=b"x = 2\n", headers=auth_b) as r:
                assert r.status == 403
            async with s.put(f"{base}/v1/database/game?clear=true", data=_zip({"pkg/__init__.py": "", "__init__.py": ""}), headers=auth_a) as r:
                assert (await r.json())["Success"]["op"] == "updated"
            assert server.registry.databases["game"].info.identity == db.info.identity
            async with s.put(f"{base}/v1/database/Bad Name", data=b"x", headers=auth_a) as r:
                assert r.status == 400
            async with s.put(f"{base}/v1/database/evil", data=_zip({"../x.py": ""}), headers=auth_a) as r:
                assert r.status == 400 and "escapes" in await r.text()
            async with s.delete(f"{base}/v1/database/game", headers=auth_b) as r:
                assert r.status == 403
            async with s.delete(f"{base}/v1/database/game", headers=auth_a) as r:
                assert r.status == 200
            assert "game" not in server.registry.databases
            assert not (server.data_dir / "databases" / "game").exists()

    # alice creates a database: this server lets anyone publish (the default allows only the owner)
    run_scenario(tmp_path, scenario, allow_publish=PublishPolicy(anyone=True))


def test_databases_survive_restart(tmp_path: Path) -> None:
    async def first(server: Server, base: str) -> str:
        return server.registry.databases["test"].info.identity.hex()

    ident = run_scenario(tmp_path, first)

    async def second(server: Server, base: str) -> None:
        db = server.registry.databases["test"]
        assert db.info.identity.hex() == ident
        assert db.info.owner == server.owner.identity
        assert backend_of(server).spec is not None and not backend_of(server).spec.fresh  # type: ignore[union-attr]

    run_scenario(tmp_path, second, publish=None)


def test_sql_dml_answers_once_durable_unless_confirmed_false(tmp_path: Path) -> None:
    gate = asyncio.Event()

    def factory(spec):  # type: ignore[no-untyped-def]
        return FakeBackend(spec, durability_gate=gate)

    async def scenario(server: Server, base: str) -> None:
        owner = {"Authorization": f"Bearer {server.owner.token}"}
        url = f"{base}/v1/database/test/sql"
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{url}?confirmed=false", data="INSERT INTO person VALUES (1, 'a')", headers=owner) as r:
                assert r.status == 200
            pending = asyncio.ensure_future(s.post(url, data="INSERT INTO person VALUES (2, 'b')", headers=owner))
            await asyncio.sleep(0.2)
            assert not pending.done()
            gate.set()
            r = await asyncio.wait_for(pending, 5)
            assert r.status == 200
            r.release()

    run_scenario(tmp_path, scenario, factory=factory)


async def _until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def test_call_answers_once_its_last_commit_is_durable(tmp_path: Path) -> None:
    """connect (offset 0), the reducer (1), disconnect (2): the answer waits for 2, not just 1."""
    gate = OffsetGate()

    def factory(spec):  # type: ignore[no-untyped-def]
        return FakeBackend(spec, durability_gate=gate)

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            pending = asyncio.ensure_future(s.post(f"{base}/v1/database/test/call/add", json=["a"]))
            await _until(lambda: gate.waited, "the call to wait for durability")
            assert gate.waited == [2]
            gate.release(1)  # the reducer's own commit is durable, its disconnect is not
            for _ in range(20):
                await asyncio.sleep(0)
            assert not pending.done()
            gate.release(2)
            async with await asyncio.wait_for(pending, 5) as r:
                assert r.status == 200
            # A failed reducer still committed connect/disconnect: it waits for them too.
            pending = asyncio.ensure_future(s.post(f"{base}/v1/database/test/call/fail", json=[]))
            await _until(lambda: len(gate.waited) == 2, "the failed call to wait")
            assert gate.waited[1] == 4 and not pending.done()
            gate.release(4)
            async with await asyncio.wait_for(pending, 5) as r:
                assert r.status == 530

    run_scenario(tmp_path, scenario, factory=factory)


def test_unpack_upload_formats_and_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tarfile

    from spacetimedb.control import database_registry as registry
    from spacetimedb.control.database_registry import PublishError, unpack_upload

    assert unpack_upload(b"x = 1\n", tmp_path / "a", None).name == "module.py"
    assert unpack_upload(_zip({"pkg.py": "", "data.txt": ""}), tmp_path / "b", None).name == "pkg.py"
    assert unpack_upload(_zip({"__init__.py": "", "sub/x.py": ""}), tmp_path / "c", None) == tmp_path / "c"
    assert unpack_upload(_zip({"a.py": "", "b.py": ""}), tmp_path / "d", "b.py").name == "b.py"
    with pytest.raises(PublishError, match="entry"):
        unpack_upload(_zip({"a.py": "", "b.py": ""}), tmp_path / "e", None)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("game.py")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"x=1"))
    assert unpack_upload(buf.getvalue(), tmp_path / "f", None).read_text() == "x=1"
    with pytest.raises(PublishError, match="neither"):
        unpack_upload(b"\xff\xfe\x00garbage", tmp_path / "g", None)
    with pytest.raises(PublishError, match="zip"):
        unpack_upload(b"PK\x03\x04broken", tmp_path / "h", None)
    monkeypatch.setattr(registry, "MAX_UNPACKED_BYTES", 10)
    with pytest.raises(PublishError, match="limit"):
        unpack_upload(_zip({"big.py": "#" * 100}), tmp_path / "i", None)


def test_a_database_that_fails_to_load_at_start_does_not_stop_the_others(tmp_path: Path) -> None:
    async def first(server: Server, base: str) -> None:
        await server.publish_path("other", tmp_path / "module.py")

    run_scenario(tmp_path, first)
    (tmp_path / "data" / "databases" / "other" / "meta.json").write_text("{broken")

    async def second(server: Server, base: str) -> None:
        assert sorted(server.registry.databases) == ["test"]

    run_scenario(tmp_path, second, publish=None)
