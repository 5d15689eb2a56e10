"""The CLI's saved configuration: known servers, the default one, and a token per server.

Kept as JSON in the user's config dir (or `$SPACETIMEDB_CLI_CONFIG`), written atomically with
mode 0600 because it holds bearer tokens.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from spacetimedb.durability import durable_files

DEFAULT_SERVER_NAME = "local"
DEFAULT_SERVER_URL = "http://127.0.0.1:3000"


class ConfigError(Exception):
    """The saved configuration or a server reference is wrong; the message says how to fix it."""


def config_path() -> Path:
    override = os.environ.get("SPACETIMEDB_CLI_CONFIG")
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir("spacetimedb-server")) / "cli.json"


@dataclass
class ServerEntry:
    name: str
    url: str
    token: str | None = None
    identity: str | None = None


@dataclass
class CliConfig:
    servers: dict[str, ServerEntry] = field(default_factory=dict)
    default_server: str = DEFAULT_SERVER_NAME
    path: Path = field(default_factory=config_path)

    @classmethod
    def load(cls, path: Path | None = None) -> CliConfig:
        path = path or config_path()
        cfg = cls(path=path)
        if path.exists():
            try:
                raw: dict[str, Any] = json.loads(path.read_text("utf-8"))
            except (OSError, ValueError) as e:
                raise ConfigError(f"cannot read CLI config {path}: {e}; fix or delete the file") from e
            for name, s in raw.get("servers", {}).items():
                cfg.servers[name] = ServerEntry(name, s["url"], s.get("token"), s.get("identity"))
            cfg.default_server = raw.get("default_server", DEFAULT_SERVER_NAME)
        if DEFAULT_SERVER_NAME not in cfg.servers:
            cfg.servers[DEFAULT_SERVER_NAME] = ServerEntry(DEFAULT_SERVER_NAME, DEFAULT_SERVER_URL)
        return cfg

    def save(self) -> None:
        data = {
            "default_server": self.default_server,
            "servers": {
                n: {k: v for k, v in (("url", s.url), ("token", s.token), ("identity", s.identity)) if v}
                for n, s in self.servers.items()
            },
        }
        # Durably (temp + fsync + rename + dir fsync): losing it to a power cut loses the identity
        # that owns the user's databases.
        durable_files.make_dirs(self.path.parent)
        durable_files.write_file(self.path, json.dumps(data, indent=2).encode(), mode=0o600)

    def resolve(self, server: str | None) -> ServerEntry:
        """A server by nickname, by URL, or by host:port; None means the default server."""
        key = server or self.default_server
        if key in self.servers:
            return self.servers[key]
        url = key if "://" in key else f"http://{key}"
        for entry in self.servers.values():
            if entry.url.rstrip("/") == url.rstrip("/"):
                return entry
        if server is None:
            raise ConfigError(
                f"the default server {key!r} is not configured; run `spacetimedb server add` "
                "or `spacetimedb server set-default`"
            )
        if "://" in key or ":" in key:
            # An ad-hoc URL: usable without saving it.
            return ServerEntry(url, url)
        known = ", ".join(sorted(self.servers))
        raise ConfigError(
            f"unknown server {key!r}; known servers: {known}. Add it with `spacetimedb server add`"
        )

    def add_server(self, name: str, url: str, *, default: bool = False) -> ServerEntry:
        if "://" not in url:
            url = f"http://{url}"
        if name in self.servers and self.servers[name].url != url:
            raise ConfigError(
                f"a server named {name!r} already exists ({self.servers[name].url}); remove it first"
            )
        entry = self.servers.get(name) or ServerEntry(name, url.rstrip("/"))
        self.servers[name] = entry
        if default:
            self.default_server = name
        return entry

    def remove_server(self, name: str) -> None:
        if name not in self.servers:
            raise ConfigError(f"unknown server {name!r}")
        del self.servers[name]
        if self.default_server == name:
            self.default_server = DEFAULT_SERVER_NAME
