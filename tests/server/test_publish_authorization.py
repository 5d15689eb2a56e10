"""Creating a database is the operator's decision (issue 10, finding 1): module code runs inside the
server with its privileges, so by default only the server's owner and `--allow-publish` identities may
create databases; no code of a refused upload ever runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from spacetimedb.control.host_backend import host_backend_factory
from spacetimedb.server.app import Server
from spacetimedb.server.publish_policy import PublishPolicy
from spacetimedb.server.tokens import TokenAuthority

from .harness import run_scenario


def _exploit(marker: Path) -> bytes:
    """A module whose import-time code reads the signing key: what an open server would run."""
    return (
        "from pathlib import Path\n"
        f"Path({str(marker)!r}).write_text(Path(__file__).resolve().parents[3].joinpath('keys', 'id_ecdsa').read_text())\n"
        "from spacetimedb import reducer, ReducerContext\n"
        "@reducer\n"
        "def noop(ctx: ReducerContext) -> None:\n"
        "    pass\n"
    ).encode()


MINIMAL = b"from spacetimedb import reducer, ReducerContext\n@reducer\ndef noop(ctx: ReducerContext) -> None:\n    pass\n"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_default_server_refuses_anonymous_and_unknown_publishers(tmp_path: Path) -> None:
    marker = tmp_path / "stolen-key"

    async def scenario(server: Server, base: str) -> None:
        stranger = server.authority.mint_anonymous()
        async with aiohttp.ClientSession() as s:
            async with s.put(f"{base}/v1/database/evil", data=_exploit(marker)) as r:
                assert r.status == 401, await r.text()
                text = await r.text()
                assert "owner.token" in text and "--allow-publish" in text
            async with s.post(f"{base}/v1/database?name=evil", data=_exploit(marker)) as r:
                assert r.status == 401
            async with s.put(f"{base}/v1/database/evil", data=_exploit(marker), headers=_auth(stranger.token)) as r:
                assert r.status == 403
                text = await r.text()
                assert f"--allow-publish {stranger.identity_hex}" in text and "owner.token" in text
            async with s.post(f"{base}/v1/database/evil?token={stranger.token}", data=_exploit(marker)) as r:
                assert r.status == 403
            assert "evil" not in server.registry.databases
            assert not (server.data_dir / "databases" / "evil").exists()
            assert not marker.exists()  # no code of a refused upload ran
            # the owner may
            async with s.put(f"{base}/v1/database/mine", data=MINIMAL, headers=_auth(server.owner.token)) as r:
                assert r.status == 200, await r.text()
            assert server.registry.databases["mine"].info.owner == server.owner.identity

    run_scenario(tmp_path, scenario, factory=host_backend_factory, publish=None)


def test_allowed_identities_may_publish_and_own_what_they_create(tmp_path: Path) -> None:
    data = tmp_path / "data"
    alice = TokenAuthority.load_or_create(data / "keys").mint_anonymous()

    async def scenario(server: Server, base: str) -> None:
        bob = server.authority.mint_anonymous()
        async with aiohttp.ClientSession() as s:
            async with s.put(f"{base}/v1/database/alices", data=b"x = 1\n", headers=_auth(alice.token)) as r:
                assert r.status == 200, await r.text()
            assert server.registry.databases["alices"].info.owner == alice.identity
            async with s.put(f"{base}/v1/database/bobs", data=b"x = 1\n", headers=_auth(bob.token)) as r:
                assert r.status == 403
            # an allowed publisher does not get rights over others' databases
            async with s.put(f"{base}/v1/database/test", data=b"x = 1\n", headers=_auth(alice.token)) as r:
                assert r.status == 403
            async with s.delete(f"{base}/v1/database/test", headers=_auth(alice.token)) as r:
                assert r.status == 403
            # ... nor the server's owner over theirs (owner-of-that-database only, as upstream)
            async with s.delete(f"{base}/v1/database/alices", headers=_auth(server.owner.token)) as r:
                assert r.status == 403

    run_scenario(tmp_path, scenario, allow_publish=PublishPolicy(frozenset({alice.identity})))


def test_allow_publish_anyone_opens_the_server(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            async with s.put(f"{base}/v1/database/open", data=b"x = 1\n") as r:
                assert r.status == 200, await r.text()
                minted = r.headers["spacetime-identity"]
        assert server.registry.databases["open"].info.owner.hex() == minted

    run_scenario(tmp_path, scenario, allow_publish=PublishPolicy(anyone=True))


def test_publish_policy_parse() -> None:
    ident = "c2" + "00" * 31
    assert PublishPolicy.parse([]) == PublishPolicy()
    assert PublishPolicy.parse(["anyone"]).anyone
    assert PublishPolicy.parse([ident, "0x" + ident.upper()]).identities == frozenset({bytes.fromhex(ident)})
    with pytest.raises(ValueError, match="neither"):
        PublishPolicy.parse(["alice"])


def test_start_flag_allow_publish_anyone_warns_and_opens(tmp_path: Path) -> None:
    """`spacetimedb start --allow-publish anyone` prints the warning and takes anonymous publishes;
    `--publish NAME=PATH` still publishes as the owner."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    module = tmp_path / "m.py"
    module.write_bytes(MINIMAL)
    env = {**os.environ, "SPACETIMEDB_CLI_CONFIG": str(tmp_path / "cli.json")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "spacetimedb.cli.main", "start", "--listen-addr", f"127.0.0.1:{port}",
         "--data-dir", str(tmp_path / "data"), "--allow-publish", "anyone", "--publish", f"boot={module}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        import urllib.request

        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/database/boot", timeout=5) as r:
                    owner = __import__("json").loads(r.read())["owner_identity"]
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        token = (tmp_path / "data" / "keys" / "owner.token").read_text().strip()
        assert owner == TokenAuthority.load_or_create(tmp_path / "data" / "keys").validate(token).identity_hex
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/database/anon", data=MINIMAL, method="PUT")
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert "WARNING: --allow-publish anyone" in err
    assert "anyone may create databases" in out


def test_start_rejects_a_bad_allow_publish_value(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from spacetimedb.cli.main import cli

    result = CliRunner().invoke(cli, ["start", "--data-dir", str(tmp_path), "--allow-publish", "bob"])
    assert result.exit_code != 0 and "--allow-publish" in result.output
