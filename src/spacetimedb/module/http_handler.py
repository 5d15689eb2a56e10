"""HTTP handlers: module functions answering `/v1/database/:name/route/*path` (SpacetimeDB 2.8 webhooks).

    @http_handler
    def hook(ctx: HandlerContext, req: Request) -> Response:
        event = req.json()
        ctx.with_tx(lambda tx: tx.db.payment.insert(Payment(...)))
        return Response.json({"ok": True})

    router = Router().post("/hook", hook)

A handler runs outside any transaction, as upstream's: its context has the database `identity`,
the `timestamp`, a seeded `rng` (`random`), `log`, and `with_tx(fn)`, which runs `fn(tx)` in one
transaction (`tx` is a `ReducerContext`: `tx.db`; its `sender` is the database itself) that
commits when `fn` returns and rolls back when it raises (the exception goes on). There is no
`sender` (the caller is anonymous HTTP) and no `db` outside `with_tx`.
"""

from __future__ import annotations

import json as _json
import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from spacetimedb.module.context import ModuleLog
from spacetimedb.module.datastore import Datastore
from spacetimedb.module.declarations import record
from spacetimedb.sats.errors import SchemaError

#: What a request no route matches is answered (404), as upstream.
NO_SUCH_ROUTE = "Database has not registered a handler for this route"

#: The attribute `@http_handler` sets on the function (its registered name).
HTTP_HANDLER_ATTR = "__spacetimedb_http_handler__"

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class Headers:
    """Case-insensitive HTTP headers, in arrival order; a name may repeat."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> None:
        pairs = items.items() if isinstance(items, Mapping) else (items or ())
        self._items: list[tuple[str, str]] = [(str(k), str(v)) for k, v in pairs]

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header `name` (any case), or `default`."""
        low = name.lower()
        for k, v in self._items:
            if k.lower() == low:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        low = name.lower()
        return [v for k, v in self._items if k.lower() == low]

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class Request:
    """An HTTP request routed to a handler.

    - `method`: upper-case (`"GET"`, `"POST"`, ...); `path`: the part after `/route` (`"/hook"`);
    - `uri`: the whole URL as the client sent it; `query_string`: the raw text after `?`;
      `query`: its parameters (the last value of a repeated name);
    - `headers`: case-insensitive `Headers`; `body`: bytes; `text()` decodes UTF-8; `json()` parses.
    """

    __slots__ = ("body", "headers", "method", "path", "query", "query_string", "uri")

    def __init__(
        self,
        method: str = "GET",
        path: str = "/",
        *,
        headers: Headers | Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        body: bytes | str = b"",
        query: Mapping[str, str] | None = None,
        query_string: str = "",
        uri: str = "",
    ) -> None:
        self.method = method.upper()
        self.path = path
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.body = body.encode() if isinstance(body, str) else bytes(body)
        self.query: dict[str, str] = dict(query or {})
        self.query_string = query_string
        self.uri = uri or path + (f"?{query_string}" if query_string else "")

    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON (a `ValueError` when it is not)."""
        return _json.loads(self.body)

    def __repr__(self) -> str:
        return f"Request({self.method} {self.uri!r}, {len(self.body)} bytes)"


class Response:
    """What a handler returns: `Response(status, headers, body)`; `Response.text(s)` and
    `Response.json(obj)` set the content type. `body` is bytes (a `str` is encoded as UTF-8)."""

    __slots__ = ("body", "headers", "status")

    def __init__(
        self,
        status: int = 200,
        headers: Headers | Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        body: bytes | str = b"",
    ) -> None:
        # No 1xx: an informational status is not a final answer (a client would wait for another).
        if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
            raise ValueError(f"a handler's HTTP status is an int from 200 to 599, not {status!r}")
        self.status = status
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.body = body.encode() if isinstance(body, str) else bytes(body)

    @classmethod
    def text(cls, text: str, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        return cls(status, {"content-type": "text/plain; charset=utf-8", **(headers or {})}, text)

    @classmethod
    def json(cls, value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        return cls(status, {"content-type": "application/json", **(headers or {})}, _json.dumps(value))

    def __repr__(self) -> str:
        return f"Response({self.status}, {len(self.body)} bytes)"


class Transactions(Protocol):
    """What a host lends `with_tx`: a transaction to run module code in, and its end."""

    def begin(self) -> Datastore: ...

    def commit(self, tx: Datastore) -> None:
        """Commit `tx` (the host's commit log, tx offset, subscribers); raise if it could not."""
        ...

    def rollback(self, tx: Datastore) -> None: ...


class HandlerContext:
    """An HTTP handler's context: `identity` (the database's), `timestamp`, `rng` (alias `random`),
    `log`, `with_tx(fn)`. No `sender` and no `db`: the caller is anonymous, and tables are read and
    written inside `with_tx`."""

    __slots__ = ("_rng", "_seed", "_with_tx", "identity", "log", "timestamp")

    def __init__(
        self, *, identity: Any, timestamp: Any, log: ModuleLog, seed: int, with_tx: Callable[[Callable[[Any], Any]], Any]
    ) -> None:
        self.identity = identity
        self.timestamp = timestamp
        self.log = log
        self._seed = seed
        self._rng: random.Random | None = None
        self._with_tx = with_tx

    @property
    def rng(self) -> random.Random:
        if self._rng is None:
            self._rng = random.Random(self._seed)
        return self._rng

    random = rng

    def with_tx(self, fn: Callable[[Any], T]) -> T:
        """Run `fn(tx)` in one transaction (`tx.db` reads and writes tables) and return its value;
        committed when `fn` returns, rolled back when it raises (the exception goes on)."""
        result: T = self._with_tx(fn)
        return result

    @property
    def db(self) -> Any:
        raise AttributeError("an HTTP handler has no `db` outside a transaction: use ctx.with_tx(lambda tx: tx.db...)")

    @property
    def sender(self) -> Any:
        raise AttributeError("an HTTP handler has no `sender`: HTTP callers are anonymous (check a header instead)")

    def __repr__(self) -> str:
        return f"HandlerContext(timestamp={self.timestamp!r})"


@dataclass(frozen=True, slots=True)
class HttpHandlerDecl:
    """One `@http_handler` function, as declared."""

    name: str
    fn: Callable[..., Any]


def http_handler(fn: F | None = None, *, name: str | None = None) -> Any:
    """Declare `fn(ctx: HandlerContext, req: Request) -> Response` an HTTP handler; a `Router`
    gives it its routes. `@http_handler` or `@http_handler(name="...")`."""

    def wrap(f: F) -> F:
        if not callable(f):
            raise SchemaError(f"@http_handler decorates a function, not {f!r}")
        decl = HttpHandlerDecl(name or f.__name__, f)
        setattr(f, HTTP_HANDLER_ATTR, decl)
        record(decl)
        return f

    return wrap(fn) if fn is not None else wrap


def handler_decl(fn: Callable[..., Any]) -> HttpHandlerDecl | None:
    decl = getattr(fn, HTTP_HANDLER_ATTR, None)
    return decl if isinstance(decl, HttpHandlerDecl) else None
