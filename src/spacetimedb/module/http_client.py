"""`ctx.http`: a procedure's outbound HTTP client (upstream's `HttpClient` in crates/bindings/src/http.rs).

    resp = ctx.http.get("https://prices.example/BTC", headers={"accept": "text/plain"}, timeout=5.0)
    resp = ctx.http.send(HttpRequest("POST", url, headers={...}, body=b"...", timeout=2.0))
    resp.status, resp.headers, resp.body, resp.text(), resp.json()

A request that cannot complete (refused, unreachable, timed out, a response over the size limit,
a host the operator does not allow) raises `HttpError` with a message, as upstream's
`spacetimedb::http::Error`; an HTTP error status is not an exception (look at `resp.status`).
Calling it inside `ctx.with_tx(...)` raises `HttpError` too: a transaction must not wait on the
network (upstream refuses the same).

The host decides what the network is: an `HttpTransport` (the stdlib transport here for the
server, a fake one in tests) under an `HttpPolicy` (enabled or not, allowed hosts, the default
timeout, the response size limit).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from spacetimedb.sats.errors import SpacetimeError

#: Seconds a request may take when the procedure passes no timeout (docs/limits.md).
DEFAULT_TIMEOUT = 10.0
#: The longest timeout a procedure may ask for.
MAX_TIMEOUT = 60.0
#: The largest response body a procedure may receive (bytes).
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})


class HttpError(SpacetimeError):
    """An outbound request failed before a response arrived (or its response was refused)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | str = b""
    #: Seconds; None: the host's default.
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def text(self, encoding: str = "utf-8") -> str:
        return self.body.decode(encoding, errors="replace")

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise HttpError(f"response body is not JSON: {e}") from None


class HttpTransport(Protocol):
    """Sends one checked request; raises HttpError when no response is to be had."""

    def send(self, request: HttpRequest, *, timeout: float, max_response_bytes: int) -> HttpResponse: ...


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """What the operator allows (`spacetimedb start --procedure-http`)."""

    enabled: bool = True
    #: Host names (lower case) a procedure may reach; None: any host.
    allowed_hosts: frozenset[str] | None = None
    default_timeout: float = DEFAULT_TIMEOUT
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    @classmethod
    def parse(cls, spec: str) -> HttpPolicy:
        """`on` (any host), `off`, or a comma-separated allow-list of host names."""
        s = spec.strip().lower()
        if s in ("on", "any", "all", ""):
            return cls()
        if s in ("off", "none", "disabled"):
            return cls(enabled=False)
        hosts = frozenset(h.strip() for h in s.split(",") if h.strip())
        return cls(allowed_hosts=hosts)


class UrllibTransport:
    """The server's transport: the stdlib client, run on the procedure's own thread."""

    def send(self, request: HttpRequest, *, timeout: float, max_response_bytes: int) -> HttpResponse:
        # Imported here: urllib.request pulls in http and email, which a module running inside
        # SpacetimeDB's own host (a `spacetimedb build` bundle, where they are left out) never uses.
        import urllib.error
        import urllib.request

        body = request.body.encode() if isinstance(request.body, str) else bytes(request.body)
        req = urllib.request.Request(
            request.url, data=body or None, headers=dict(request.headers), method=request.method
        )
        opener = urllib.request.build_opener(_no_redirect_handler())
        try:
            resp = opener.open(req, timeout=timeout)
        except urllib.error.HTTPError as e:
            resp = e  # an error status is a response, not a failure
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            raise HttpError(f"{request.method} {request.url} failed: {reason}") from None
        try:
            data = resp.read(max_response_bytes + 1)
        except (OSError, ValueError) as e:
            raise HttpError(
                f"{request.method} {request.url} failed while reading the response: {e}"
            ) from None
        finally:
            resp.close()
        if len(data) > max_response_bytes:
            raise HttpError(
                f"the response to {request.method} {request.url} exceeds the {max_response_bytes}-byte limit"
            )
        headers = {k.lower(): v for k, v in resp.headers.items()}
        return HttpResponse(int(resp.status or 0), headers, data)


def _no_redirect_handler() -> Any:
    """A handler answering redirects to the procedure as they are: a redirect could leave the allow-list."""
    import urllib.request

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return _NoRedirect


class HttpClient:
    """`ctx.http`. `in_tx()` says whether the procedure is inside `with_tx` (then requests fail)."""

    __slots__ = ("_in_tx", "_policy", "_transport")

    def __init__(self, transport: HttpTransport, policy: HttpPolicy, in_tx: Any) -> None:
        self._transport = transport
        self._policy = policy
        self._in_tx = in_tx

    def get(
        self, url: str, headers: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> HttpResponse:
        return self.send(HttpRequest("GET", url, headers or {}, b"", timeout))

    def send(self, request: HttpRequest) -> HttpResponse:
        if self._in_tx():
            raise HttpError(
                "HTTP requests are not allowed inside a transaction (ctx.with_tx): send it before or after"
            )
        policy = self._policy
        if not policy.enabled:
            raise HttpError("outbound HTTP from procedures is disabled on this server (--procedure-http off)")
        method = request.method.upper()
        if method not in _METHODS:
            raise HttpError(f"unknown HTTP method {request.method!r}")
        parts = urllib.parse.urlsplit(request.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HttpError(f"not an http(s) URL: {request.url!r}")
        if policy.allowed_hosts is not None and parts.hostname.lower() not in policy.allowed_hosts:
            raise HttpError(f"host {parts.hostname!r} is not in this server's allow-list for procedure HTTP")
        timeout = policy.default_timeout if request.timeout is None else float(request.timeout)
        if not 0 < timeout <= MAX_TIMEOUT:
            raise HttpError(f"timeout must be in (0, {MAX_TIMEOUT}] seconds, not {request.timeout!r}")
        if method != request.method:
            request = HttpRequest(method, request.url, request.headers, request.body, request.timeout)
        return self._transport.send(request, timeout=timeout, max_response_bytes=policy.max_response_bytes)
