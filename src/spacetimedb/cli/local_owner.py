"""The CLI on the machine that started a server acts as that server's owner.

`spacetimedb start` (and `dev`, which runs it) saves the owner's token (`<data-dir>/keys/owner.token`)
in the CLI config as the identity for the URL the server listens on, so `publish`, `logs` and the
other owner-only commands work from the same machine without a login step. A token already saved
for that URL that this server accepts is kept (it may own databases; replacing it would orphan
them); a token the server does not accept (from another data dir, or none) is replaced.
"""

from __future__ import annotations

from collections.abc import Callable

from spacetimedb.cli.config import CliConfig, ConfigError, normalize_url

#: Addresses that mean "every interface": a client on this machine reaches them at loopback.
_ANY_HOST = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "[::1]", "[::]": "[::1]"}


def local_url(listen_addr: str) -> str:
    """The URL a client on this machine uses for a server listening on `listen_addr`."""
    host, _, port = listen_addr.rpartition(":")
    host = _ANY_HOST.get(host, host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return normalize_url(f"http://{host}:{port}")


def adopt_owner(
    url: str, owner_token: str, owner_identity: str, accepts: Callable[[str], bool], owner_token_path: str
) -> str:
    """Save the owner's token as the CLI's identity for `url` unless a token the server accepts is
    already saved there; returns the line to print. Never raises: the server runs either way."""
    try:
        cfg = CliConfig.load()
        creds = cfg.identities.get(url)
        if creds is not None and creds.identity == owner_identity:
            return f"the CLI (config {cfg.path}) acts as the owner on {url}"
        if creds is not None and accepts(creds.token):
            return (
                f"note: the CLI's identity on {url} (config {cfg.path}) is {creds.identity}, not this server's "
                f"owner; to act as the owner: spacetimedb login -s {url} --token \"$(cat {owner_token_path})\""
            )
        entry = cfg.resolve(url)
        entry.token, entry.identity = owner_token, owner_identity
        cfg.remember(entry)
        cfg.save()
        return f"the CLI (config {cfg.path}) now acts as the owner on {url}"
    except (ConfigError, OSError) as e:
        return f"warning: could not save the owner's token in the CLI config: {e}"
