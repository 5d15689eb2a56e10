"""The CLI's saved configuration: servers, default, tokens, file permissions."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from spacetimedb.cli.config import DEFAULT_SERVER_URL, CliConfig, ConfigError


def test_a_fresh_config_knows_the_local_server(tmp_path: Path) -> None:
    cfg = CliConfig.load(tmp_path / "cli.json")
    assert cfg.resolve(None).url == DEFAULT_SERVER_URL


def test_servers_and_tokens_survive_a_save(tmp_path: Path) -> None:
    path = tmp_path / "cli.json"
    cfg = CliConfig.load(path)
    entry = cfg.add_server("prod", "db.example.com:3000", default=True)
    entry.token = "tok"
    cfg.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = CliConfig.load(path)
    assert again.default_server == "prod"
    assert again.resolve(None).url == "http://db.example.com:3000"
    assert again.resolve("prod").token == "tok"
    assert again.resolve("http://db.example.com:3000").name == "prod"


def test_unknown_nickname_names_the_known_ones(tmp_path: Path) -> None:
    cfg = CliConfig.load(tmp_path / "cli.json")
    with pytest.raises(ConfigError, match="known servers: local"):
        cfg.resolve("nope")


def test_an_adhoc_url_resolves_without_saving(tmp_path: Path) -> None:
    cfg = CliConfig.load(tmp_path / "cli.json")
    assert cfg.resolve("127.0.0.1:4000").url == "http://127.0.0.1:4000"


def test_a_corrupt_config_says_how_to_fix_it(tmp_path: Path) -> None:
    path = tmp_path / "cli.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="fix or delete"):
        CliConfig.load(path)
