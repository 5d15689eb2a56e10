"""A small synchronous client for the server's `/v1` HTTP API, as the CLI uses it."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from spacetimedb.cli.config import CliConfig, ServerEntry

#: Reads of a followed log stream may wait this long for the next line.
FOLLOW_TIMEOUT = 24 * 3600.0
#: The server waits up to 120 s for a snapshot file to be written.
SNAPSHOT_TIMEOUT = 150.0


class ApiError(Exception):
    """The server answered with an error status; `status` and the server's text are kept."""

    def __init__(self, status: int, text: str, url: str) -> None:
        self.status = status
        self.text = text
        self.url = url
        super().__init__(f"HTTP {status} from {url}: {text.strip() or '(no message)'}")


class ServerUnreachable(Exception):
    """No answer from the server; the message names the server, how it was chosen, and what to do."""

    def __init__(self, server: ServerEntry, reason: object) -> None:
        chosen = f", chosen by {server.chosen_by}" if server.chosen_by else ""
        super().__init__(
            f"cannot reach server {server.describe()}{chosen}: {reason}. Is it running? Start one with "
            "`spacetimedb start`, or pick another server with -s or `spacetimedb server set-default`."
        )


@dataclass
class ApiResponse:
    """One answer of the server's HTTP API, read whole."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class ApiClient:
    def __init__(self, server: ServerEntry, config: CliConfig | None = None, timeout: float = 30.0) -> None:
        self.server = server
        self.config = config
        self.timeout = timeout

    @property
    def base(self) -> str:
        return self.server.url.rstrip("/")

    # ---- plumbing ----------------------------------------------------------------------------

    def _open(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        query: dict[str, str] | None = None,
        auth: bool = True,
        timeout: float | None = None,
    ) -> Any:
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        req = urllib.request.Request(url, data=body, method=method)
        if content_type:
            req.add_header("Content-Type", content_type)
        if auth:
            token = self.ensure_token()
            req.add_header("Authorization", f"Bearer {token}")
        try:
            return urllib.request.urlopen(req, timeout=timeout if timeout is not None else self.timeout)
        except urllib.error.HTTPError as e:
            raise ApiError(e.code, e.read().decode("utf-8", "replace"), url) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            raise ServerUnreachable(self.server, getattr(e, "reason", e)) from None

    def request(self, method: str, path: str, **kw: Any) -> ApiResponse:
        with self._open(method, path, **kw) as resp:
            return ApiResponse(resp.status, dict(resp.headers.items()), resp.read())

    def ensure_token(self) -> str:
        """The saved token for this server's URL, or a new server-issued identity, saved for that URL
        (so the next command, with a nickname or `-s URL`, is the same identity)."""
        if self.server.token:
            return self.server.token
        resp = self.request("POST", "/v1/identity", auth=False)
        data = resp.json()
        self.server.token = data["token"]
        self.server.identity = data["identity"]
        if self.config is not None:
            self.config.remember(self.server)
            self.config.save()
        return self.server.token

    # ---- API -------------------------------------------------------------------------------------

    def ping(self) -> bool:
        try:
            self.request("GET", "/v1/ping", auth=False, timeout=2)
            return True
        except (ApiError, ServerUnreachable):
            return False

    def new_identity(self) -> dict[str, str]:
        result: dict[str, str] = self.request("POST", "/v1/identity", auth=False).json()
        return result

    def publish(self, name: str, archive: bytes, *, clear: bool = False) -> dict[str, Any]:
        query = {"clear": "true"} if clear else None
        resp = self.request(
            "PUT",
            f"/v1/database/{_q(name)}",
            body=archive,
            content_type="application/octet-stream",
            query=query,
        )
        return resp.json() if resp.body else {}

    def delete(self, name: str) -> None:
        self.request("DELETE", f"/v1/database/{_q(name)}")

    def call(self, name: str, reducer: str, args: list[Any]) -> ApiResponse:
        return self.request(
            "POST",
            f"/v1/database/{_q(name)}/call/{_q(reducer)}",
            body=json.dumps(args).encode(),
            content_type="application/json",
        )

    def sql(self, name: str, query: str) -> list[dict[str, Any]]:
        resp = self.request(
            "POST", f"/v1/database/{_q(name)}/sql", body=query.encode(), content_type="text/plain"
        )
        result: list[dict[str, Any]] = resp.json()
        return result

    def snapshot(self, name: str) -> int | None:
        """Snapshot database `name` now (owner only); the snapshot's tx offset once it is written."""
        data = self.request("POST", f"/v1/database/{_q(name)}/snapshot", timeout=SNAPSHOT_TIMEOUT).json()
        offset = data.get("tx_offset")
        return None if offset is None else int(offset)

    def schema(self, name: str, version: int = 10) -> dict[str, Any]:
        result: dict[str, Any] = self.request(
            "GET", f"/v1/database/{_q(name)}/schema", query={"version": str(version)}
        ).json()
        return result

    def info(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/v1/database/{_q(name)}").json()
        return result

    def databases_of(self, identity: str) -> list[str]:
        data = self.request("GET", f"/v1/identity/{_q(identity)}/databases").json()
        return list(data.get("identities", data.get("names", [])))

    def names_of(self, database: str) -> list[str]:
        data = self.request("GET", f"/v1/database/{_q(database)}/names").json()
        return list(data.get("names", []))

    def logs(
        self, name: str, *, num_lines: int | None = None, follow: bool = False
    ) -> Iterator[dict[str, Any]]:
        query: dict[str, str] = {"follow": "true" if follow else "false"}
        if num_lines is not None:
            query["num_lines"] = str(num_lines)
        resp = self._open(
            "GET",
            f"/v1/database/{_q(name)}/logs",
            query=query,
            timeout=FOLLOW_TIMEOUT if follow else self.timeout,
        )
        with resp:
            for line in resp:
                line = line.strip()
                if line:
                    yield json.loads(line)


def _q(part: str) -> str:
    return urllib.parse.quote(part, safe="")
