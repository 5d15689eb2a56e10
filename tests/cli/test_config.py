"""The CLI's saved configuration: servers, default, tokens, file permissions."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from spacetimedb.cli.config import DEFAULT_SERVER_URL, CliConfig, ConfigError
from spacetimedb.cli.local_owner import local_url


def test_a_fresh_config_knows_the_local_server(tmp_path: Path) -> None:
    cfg = CliConfig.load(tmp_path / "cli.json")
    assert cfg.resolve(None).url == DEFAULT_SERVER_URL


def test_servers_and_tokens_survive_a_save(tmp_path: Path) -> None:
    path = tmp_path / "cli.json"
    cfg = CliConfig.load(path)
    entry = cfg.add_server("prod", "db.example.com:3000", default=True)
    entry.token = "tok"
    cfg.remember(entry)
    cfg.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = CliConfig.load(path)
    assert again.default_server == "prod"
    assert again.resolve(None).url == "http://db.example.com:3000"
    assert again.resolve("prod").token == "tok"
    assert again.resolve("http://db.example.com:3000").name == "prod"


def test_unknown_nickname_names_the_known_ones(tmp_path: Path) -> None:
    cfg = CliConfig.load(tmp_path / "cli.json")
    with pytest.raises(ConfigError, match=r"known servers in .*cli.json: local"):
        cfg.resolve("nope")


def test_an_adhoc_url_resolves_without_saving(tmp_path: Path) -> None:
    cfg = CliConfig.load(tmp_path / "cli.json")
    assert cfg.resolve("127.0.0.1:4000").url == "http://127.0.0.1:4000"


def test_a_corrupt_config_says_how_to_fix_it(tmp_path: Path) -> None:
    path = tmp_path / "cli.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="fix or delete"):
        CliConfig.load(path)


def test_one_identity_per_url_with_or_without_a_nickname(tmp_path: Path) -> None:
    path = tmp_path / "cli.json"
    cfg = CliConfig.load(path)
    adhoc = cfg.resolve("127.0.0.1:4000")
    assert adhoc.token is None and adhoc.name == "http://127.0.0.1:4000"
    adhoc.token, adhoc.identity = "tok-4000", "ab" * 32
    cfg.remember(adhoc)
    cfg.save()
    again = CliConfig.load(path)
    for spelling in ("127.0.0.1:4000", "http://127.0.0.1:4000/", "HTTP://127.0.0.1:4000"):
        assert again.resolve(spelling).token == "tok-4000", spelling
    # A nickname added later for the same URL uses the same identity.
    again.add_server("dev", "http://127.0.0.1:4000")
    assert again.resolve("dev").token == "tok-4000"
    assert again.resolve("127.0.0.1:4000").name == "dev"


def test_tokens_saved_per_nickname_by_older_versions_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "cli.json"
    path.write_text(json.dumps({
        "default_server": "local",
        "servers": {"local": {"url": "http://127.0.0.1:3000", "token": "old", "identity": "cd" * 32}},
    }))
    cfg = CliConfig.load(path)
    assert cfg.resolve(None).token == "old" and cfg.resolve("127.0.0.1:3000").identity == "cd" * 32
    cfg.save()
    assert CliConfig.load(path).resolve(None).token == "old"


def test_resolve_says_how_the_server_was_chosen(tmp_path: Path) -> None:
    cfg = CliConfig.load(tmp_path / "cli.json")
    assert "built-in default" in cfg.resolve(None).chosen_by
    cfg.save()
    assert f"the default server in {tmp_path / 'cli.json'}" == cfg.resolve(None).chosen_by
    assert cfg.resolve("127.0.0.1:4000").chosen_by == "-s 127.0.0.1:4000"


def test_local_url_of_a_listen_address() -> None:
    assert local_url("127.0.0.1:3000") == "http://127.0.0.1:3000"
    assert local_url("0.0.0.0:3000") == "http://127.0.0.1:3000"
    assert local_url("localhost:3001") == "http://localhost:3001"
    assert local_url("[::]:3000") == "http://[::1]:3000"


def test_adopting_the_owner_never_fails_the_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spacetimedb.cli.local_owner import adopt_owner

    path = tmp_path / "cli.json"
    path.write_text("{not json")
    monkeypatch.setenv("SPACETIMEDB_CLI_CONFIG", str(path))
    line = adopt_owner("http://127.0.0.1:3000", "tok", "ab" * 32, lambda _t: True, "keys/owner.token")
    assert line.startswith("warning: could not save the owner's token") and "fix or delete" in line
    path.unlink()
    assert "now acts as the owner" in adopt_owner("http://127.0.0.1:3000", "tok", "ab" * 32, lambda _t: True, "k")
    assert CliConfig.load(path).resolve(None).token == "tok"
    assert "acts as the owner" in adopt_owner("http://127.0.0.1:3000", "tok2", "ab" * 32, lambda _t: True, "k")
