"""`spacetimedb publish NAME --spacetimedb URL`: upload a `spacetimedb build` bundle to a SpacetimeDB
server through its own publish endpoint, with the requests the official CLI makes for a JS module
(`spacetime publish --js-path bundle.js NAME`; crates/cli/src/subcommands/publish.rs, 2.8.x):

1. `POST {url}/v1/database/{name}/pre_publish?pretty_print_style=AnsiColor|NoColor&host_type=Js`
   with the bundle as the body (`call_pre_publish`): 404 means a new database; otherwise the
   migration plan (`{"AutoMigrate": {...}}` or `{"ManualMigrate": {...}}`).
2. `PUT {url}/v1/database/{percent-encoded name}` with, in this order, `clear=true` (`--delete-data`,
   or a manual migration confirmed), or `token=<plan token>&policy=BreakClients` (an automatic
   migration), then `host_type=Js`; the bundle bytes as the body. Both requests carry
   `Authorization: Bearer <token>` when a token is given (`add_auth_header_opt`).

The answer is `{"Success": {"domain", "database_identity", "op": "Created"|"Updated"}}` or
`{"PermissionDenied": {"name"}}` (`PublishResult`).
"""

from __future__ import annotations

import json
import os
import string
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Bytes percent_encoding's NON_ALPHANUMERIC set leaves alone, minus '_' and '-' (publish.rs).
_UNRESERVED = frozenset((string.ascii_letters + string.digits + "_-").encode())


class PublishError(Exception):
    """The server refused the publish (a message for the user)."""


@dataclass(frozen=True)
class PublishOutcome:
    created: bool
    domain: str | None
    database_identity: str


def encode_name(name: str) -> str:
    """The database name as publish.rs percent-encodes it into the path."""
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in name.encode())


def _request(method: str, url: str, body: bytes, token: str | None, timeout: float) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as e:
        return int(e.code), e.read()
    except (urllib.error.URLError, OSError) as e:
        raise PublishError(f"cannot reach {url}: {getattr(e, 'reason', e)}") from None


def publish_bundle(
    base_url: str,
    name: str,
    bundle: bytes,
    *,
    token: str | None,
    delete_data: bool = False,
    confirm: Callable[[str], bool] = lambda _: False,
    timeout: float = 300.0,
) -> PublishOutcome:
    """Publish `bundle` as database `name` on the SpacetimeDB server at `base_url`."""
    base = base_url.rstrip("/")
    domain = encode_name(name)
    query: list[tuple[str, str]] = []
    if delete_data:
        query.append(("clear", "true"))
    else:
        style = "NoColor" if "NO_COLOR" in os.environ else "AnsiColor"
        status, body = _request(
            "POST", f"{base}/v1/database/{domain}/pre_publish?pretty_print_style={style}&host_type=Js", bundle, token, timeout
        )
        if status != 404:
            if not 200 <= status < 300:
                raise PublishError(f"Pre-publish check failed with status {status}: {body.decode(errors='replace')}")
            plan: dict[str, Any] = json.loads(body)
            if "ManualMigrate" in plan:
                reason = plan["ManualMigrate"].get("reason", "")
                if not confirm(f"{reason}\nPublishing needs a manual migration: delete all data of {name!r}?"):
                    raise PublishError(f"{reason}\nAborting: publishing would need a manual migration (use --delete-data)")
                query.append(("clear", "true"))
            elif "AutoMigrate" in plan:
                auto = plan["AutoMigrate"]
                if auto.get("break_clients") and not confirm(
                    f"{auto.get('migrate_plan', '')}\nThese changes will BREAK existing clients. Proceed?"
                ):
                    raise PublishError("publishing aborted")
                query += [("token", str(auto.get("token", ""))), ("policy", "BreakClients")]
    query.append(("host_type", "Js"))
    qs = "&".join(f"{k}={urllib.parse.quote(v, safe='')}" for k, v in query)
    status, body = _request("PUT", f"{base}/v1/database/{domain}?{qs}", bundle, token, timeout)
    if not 200 <= status < 300:
        raise PublishError(f"publish failed with status {status}: {body.decode(errors='replace')}")
    result: dict[str, Any] = json.loads(body)
    if "PermissionDenied" in result:
        raise PublishError(f"You need to be logged in as the owner of {name} to publish to {name}")
    ok = result.get("Success", {})
    return PublishOutcome(ok.get("op") == "Created", ok.get("domain"), str(ok.get("database_identity", "")))
