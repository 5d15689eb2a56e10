"""The CLI's saved configuration: server nicknames, the default server, and one identity per server URL.

Kept as JSON in the user's config dir (or `$SPACETIMEDB_CLI_CONFIG`), written atomically with
mode 0600 because it holds bearer tokens. Identities are keyed by the server's URL, not by its
nickname, so `-s URL` and every nickname of that URL use the same identity.
"""

from __future__ import annotations

import json
import os
import urllib.parse
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


def normalize_url(url: str) -> str:
    """`host:port` or a URL as one canonical key: scheme added, scheme and host lowercased, no trailing /."""
    url = url.strip()
    if "://" not in url:
        url = f"http://{url}"
    parts = urllib.parse.urlsplit(url.rstrip("/"))
    return urllib.parse.urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, "", ""))


@dataclass
class ServerEntry:
    """A server as a command uses it: its nickname (or its URL when it has none), URL and identity."""

    name: str
    url: str
    token: str | None = None
    identity: str | None = None
    #: How the CLI chose this server, for error messages ("the default server in /path/cli.json").
    chosen_by: str = ""

    def describe(self) -> str:
        """`local (http://127.0.0.1:3000)`, or just the URL for a server without a nickname."""
        return self.url if self.name == self.url else f"{self.name} ({self.url})"


@dataclass
class Credentials:
    token: str
    identity: str | None = None


@dataclass
class CliConfig:
    #: Nickname -> normalized URL.
    servers: dict[str, str] = field(default_factory=dict)
    #: Normalized URL -> the identity the CLI uses there.
    identities: dict[str, Credentials] = field(default_factory=dict)
    default_server: str = DEFAULT_SERVER_NAME
    path: Path = field(default_factory=config_path)

    @classmethod
    def load(cls, path: Path | None = None) -> CliConfig:
        path = path or config_path()
        cfg = cls(path=path)
        if path.exists():
            try:
                raw: dict[str, Any] = json.loads(path.read_text("utf-8"))
                for url, c in raw.get("identities", {}).items():
                    cfg.identities[normalize_url(url)] = Credentials(c["token"], c.get("identity"))
                for name, s in raw.get("servers", {}).items():
                    url = normalize_url(s["url"])
                    cfg.servers[name] = url
                    if s.get("token") and url not in cfg.identities:  # the format before per-URL identities
                        cfg.identities[url] = Credentials(s["token"], s.get("identity"))
                cfg.default_server = raw.get("default_server", DEFAULT_SERVER_NAME)
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
                raise ConfigError(f"cannot read CLI config {path}: {e!r}; fix or delete the file") from e
        cfg.servers.setdefault(DEFAULT_SERVER_NAME, DEFAULT_SERVER_URL)
        return cfg

    def save(self) -> None:
        data = {
            "default_server": self.default_server,
            "servers": {n: {"url": u} for n, u in self.servers.items()},
            "identities": {
                u: {k: v for k, v in (("token", c.token), ("identity", c.identity)) if v}
                for u, c in self.identities.items()
            },
        }
        # Durably (temp + fsync + rename + dir fsync): losing it to a power cut loses the identity
        # that owns the user's databases.
        durable_files.make_dirs(self.path.parent)
        durable_files.write_file(self.path, json.dumps(data, indent=2).encode(), mode=0o600)

    def _entry(self, name: str, url: str, chosen_by: str) -> ServerEntry:
        creds = self.identities.get(url)
        return ServerEntry(
            name=name, url=url, token=creds.token if creds else None,
            identity=creds.identity if creds else None, chosen_by=chosen_by,
        )

    def resolve(self, server: str | None) -> ServerEntry:
        """A server by nickname, by URL, or by host:port; None means the default server."""
        if server is None:
            key = self.default_server
            where = (
                f"the default server in {self.path}"
                if self.path.exists()
                else f"the built-in default server (no config file at {self.path})"
            )
            if key in self.servers:
                return self._entry(key, self.servers[key], where)
            raise ConfigError(
                f"the default server {key!r} ({where}) is not configured; run `spacetimedb server add` "
                "or `spacetimedb server set-default`"
            )
        if server in self.servers:
            return self._entry(server, self.servers[server], f"-s {server}, a nickname in {self.path}")
        if "://" in server or ":" in server:
            url = normalize_url(server)
            for name, known in self.servers.items():
                if known == url:
                    return self._entry(name, url, f"-s {server}, nickname {name} in {self.path}")
            return self._entry(url, url, f"-s {server}")
        known_names = ", ".join(sorted(self.servers))
        raise ConfigError(
            f"unknown server {server!r}; known servers in {self.path}: {known_names}. "
            "Add it with `spacetimedb server add`, or pass a URL or host:port"
        )

    def remember(self, entry: ServerEntry) -> None:
        """Keep `entry`'s token (or its absence) as the identity for its URL; the caller saves."""
        url = normalize_url(entry.url)
        if entry.token:
            self.identities[url] = Credentials(entry.token, entry.identity)
        else:
            self.identities.pop(url, None)

    def add_server(self, name: str, url: str, *, default: bool = False) -> ServerEntry:
        url = normalize_url(url)
        if name in self.servers and self.servers[name] != url:
            raise ConfigError(
                f"a server named {name!r} already exists ({self.servers[name]}); remove it first"
            )
        if "://" in name or ":" in name:
            raise ConfigError(f"a nickname cannot contain ':' ({name!r}); use e.g. `prod`")
        self.servers[name] = url
        if default:
            self.default_server = name
        return self._entry(name, url, f"nickname {name} in {self.path}")

    def remove_server(self, name: str) -> None:
        """Forget a nickname; the identity of its URL is kept unless no other nickname uses it."""
        if name not in self.servers:
            raise ConfigError(f"unknown server {name!r}")
        url = self.servers.pop(name)
        if url not in self.servers.values():
            self.identities.pop(url, None)
        if self.default_server == name:
            self.default_server = DEFAULT_SERVER_NAME
