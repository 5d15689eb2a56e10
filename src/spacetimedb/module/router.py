"""`Router`: which `@http_handler` answers which method and path under `/v1/database/:name/route`.

Upstream's rules (TS `Router` in bindings-typescript/src/server/http_handlers.ts, matching in
crates/schema `match_http_route`):

- a route path is `""` or starts with `/`, and holds only ASCII lowercase letters, digits and `-_~/`;
- paths match exactly (no patterns, no trailing-slash folding): `/hook` and `/hook/` are two routes;
- a route is a method (GET, POST, ...) or `any`; two routes on one path conflict when their
  methods are equal or either is `any` (a `TypeError`-like `SchemaError` when the router is built);
- `nest(prefix, router)` mounts another router's routes under `prefix` (refused when an existing
  route already starts with `prefix`); `merge(router)` adds another router's routes as they are;
- routers are immutable: every method returns a new `Router`.

A request with no matching route (an unknown path or a method no route on it takes) is answered
404 by the server, as upstream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from spacetimedb.sats.errors import SchemaError

#: The methods upstream's `HttpMethod` names; any other is its `Extension(name)`.
STANDARD_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")

_PATH_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_~/")


@dataclass(frozen=True, slots=True)
class Route:
    #: An upper-case method name, or None for `any`.
    method: str | None
    path: str
    #: The `@http_handler` function.
    handler: Callable[..., Any]

    def overlaps(self, other: Route) -> bool:
        return self.path == other.path and (self.method is None or other.method is None or self.method == other.method)

    def matches(self, method: str, path: str) -> bool:
        return self.path == path and (self.method is None or self.method == method)


def check_path(path: str) -> None:
    if not isinstance(path, str):
        raise SchemaError(f"a route path must be a str, not {type(path).__name__}")
    if path and not path.startswith("/"):
        raise SchemaError(f"route paths must start with `/`: {path!r}")
    if not set(path) <= _PATH_CHARS:
        raise SchemaError(f"route paths may contain only ASCII lowercase letters, digits and `-_~/`: {path!r}")


def _join(prefix: str, suffix: str) -> str:
    if prefix == "/":
        return suffix
    if suffix == "/":
        return prefix
    return f"{prefix.rstrip('/')}/{suffix.lstrip('/')}"


class Router:
    """Routes for a module's HTTP handlers; assign one to a module-level name:

        router = Router().get("/hello", hello).post("/hook", hook).nest("/admin", admin_router)
    """

    __slots__ = ("_routes",)

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self._routes: tuple[Route, ...] = tuple(routes)

    @property
    def routes(self) -> tuple[Route, ...]:
        return self._routes

    def get(self, path: str, handler: Callable[..., Any]) -> Router:
        return self._add("GET", path, handler)

    def head(self, path: str, handler: Callable[..., Any]) -> Router:
        return self._add("HEAD", path, handler)

    def options(self, path: str, handler: Callable[..., Any]) -> Router:
        return self._add("OPTIONS", path, handler)

    def put(self, path: str, handler: Callable[..., Any]) -> Router:
        return self._add("PUT", path, handler)

    def delete(self, path: str, handler: Callable[..., Any]) -> Router:
        return self._add("DELETE", path, handler)

    def post(self, path: str, handler: Callable[..., Any]) -> Router:
        return self._add("POST", path, handler)

    def patch(self, path: str, handler: Callable[..., Any]) -> Router:
        return self._add("PATCH", path, handler)

    def any(self, path: str, handler: Callable[..., Any]) -> Router:
        return self._add(None, path, handler)

    def route(self, method: str, path: str, handler: Callable[..., Any]) -> Router:
        """A route for any method name (an extension method such as `PROPFIND` included)."""
        if not isinstance(method, str) or not method or not method.isascii() or not method.isalpha():
            raise SchemaError(f"an HTTP method is a name of ASCII letters, not {method!r}")
        return self._add(method.upper(), path, handler)

    def nest(self, prefix: str, router: Router) -> Router:
        check_path(prefix)
        if any(r.path.startswith(prefix) for r in self._routes):
            raise SchemaError(f"cannot nest a router at `{prefix}`; existing routes overlap with the nested path")
        merged = self
        for r in router._routes:
            merged = merged._add(r.method, _join(prefix, r.path), r.handler)
        return merged

    def merge(self, router: Router) -> Router:
        merged = self
        for r in router._routes:
            merged = merged._add(r.method, r.path, r.handler)
        return merged

    def match(self, method: str, path: str) -> Route | None:
        """The route answering `method path` (method upper-case), or None (the server answers 404)."""
        for r in self._routes:
            if r.matches(method, path):
                return r
        return None

    def _add(self, method: str | None, path: str, handler: Callable[..., Any]) -> Router:
        check_path(path)
        if not callable(handler):
            raise SchemaError(f"route {path!r}: the handler must be an @http_handler function, not {handler!r}")
        candidate = Route(method, path, handler)
        if any(r.overlaps(candidate) for r in self._routes):
            raise SchemaError(f"route conflict for `{path}`")
        return Router((*self._routes, candidate))

    def __repr__(self) -> str:
        routes = ", ".join(f"{r.method or 'ANY'} {r.path!r}" for r in self._routes)
        return f"Router({routes})"
