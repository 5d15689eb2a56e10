"""`TestDatabase`: run a module in process, with a fake clock, for module authors' tests.

    from spacetimedb.testing import TestDatabase, identity

    def test_transfer():
        db = TestDatabase.load("examples/bank.py")
        db.call("seed", 2, 100)
        db.call("transfer", 0, 1, 30)
        assert [a.balance for a in db.table("accounts")] == [70, 130]
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from spacetimedb.host.logs import LogRecord
from spacetimedb.host.module_host import ModuleHost
from spacetimedb.host.results import ProcedureCallResult, ReducerCallResult, ReducerStatus
from spacetimedb.module.auth import AuthCtx, JwtClaims
from spacetimedb.module.context import ReducerContext
from spacetimedb.module.http_client import HttpError, HttpPolicy, HttpRequest, HttpResponse, HttpTransport
from spacetimedb.module.http_handler import NO_SUCH_ROUTE, Request, Response
from spacetimedb.module.loader import load_module
from spacetimedb.module.module_def import ModuleDef
from spacetimedb.sats.errors import SpacetimeError
from spacetimedb.sats.special import ConnectionId, Identity, Timestamp

T = TypeVar("T")

#: The fake clock starts here unless told otherwise: 2025-01-01T00:00:00Z.
DEFAULT_START = Timestamp(1_735_689_600_000_000)


def identity(name: str) -> Identity:
    """A stable Identity for a test user name (`identity("alice")` is the same in every run)."""
    return Identity(int.from_bytes(hashlib.blake2b(name.encode(), digest_size=32).digest(), "little"))


def connection_id(name: str) -> ConnectionId:
    """A stable, nonzero ConnectionId for a test connection name."""
    value = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=16).digest(), "little")
    return ConnectionId(value or 1)


_connection_for = connection_id  # the parameter of TestDatabase.call shadows the function


def sender_auth(claims: Mapping[str, Any]) -> AuthCtx:
    """The `ctx.sender_auth` of a caller whose verified token carries `claims` (a dict with at
    least string `iss` and `sub`; `aud` and custom claims as you like). Its `jwt.identity` is the
    identity SpacetimeDB derives from issuer and subject, as a real server's would be."""
    iss, sub = claims.get("iss"), claims.get("sub")
    if not isinstance(iss, str) or not isinstance(sub, str):
        raise ValueError("jwt claims need string 'iss' and 'sub'")
    ident = Identity.from_claims(iss, sub)
    return AuthCtx.from_jwt(JwtClaims(json.dumps(dict(claims)), ident))


def _caller(sender: Identity | None, jwt: Mapping[str, Any] | None, default: Identity) -> tuple[Identity, AuthCtx | None]:
    if jwt is None:
        return (sender if sender is not None else default), None
    auth = sender_auth(jwt)
    assert auth.jwt is not None
    if sender is not None and sender != auth.jwt.identity:
        raise ValueError(
            f"sender {sender} is not the identity of the jwt's issuer and subject ({auth.jwt.identity}); "
            "leave sender out to call as the token's identity"
        )
    return auth.jwt.identity, auth


class ReducerError(SpacetimeError):
    """A reducer call failed; `message` is what the caller would see."""

    def __init__(self, reducer: str, message: str, result: ReducerCallResult) -> None:
        self.reducer = reducer
        self.message = message
        self.result = result
        super().__init__(f"{reducer}: {message}")


class ReducerUserError(ReducerError):
    """The reducer raised SenderError (the caller's fault)."""


class ReducerInternalError(ReducerError):
    """The reducer raised any other exception (the module's fault); the traceback is in the logs."""


def _raise_for(result: ReducerCallResult) -> ReducerCallResult:
    if result.status is ReducerStatus.COMMITTED:
        return result
    cls = ReducerUserError if result.status is ReducerStatus.USER_ERROR else ReducerInternalError
    raise cls(result.reducer, result.error or "", result)


class ProcedureError(SpacetimeError):
    """A procedure failed; `result` is its ProcedureCallResult."""

    def __init__(self, procedure: str, message: str, result: ProcedureCallResult) -> None:
        super().__init__(f"procedure {procedure!r} failed: {message}")
        self.procedure = procedure
        self.message = message
        self.result = result


class ProcedureUserError(ProcedureError):
    """The procedure raised SenderError."""


class ProcedureInternalError(ProcedureError):
    """The procedure raised any other exception."""


FakeHandler = Callable[[HttpRequest], HttpResponse]


class HttpHandlerError(SpacetimeError):
    """A module's HTTP handler failed (raised, returned no `Response`, ran past the time limit);
    the server answers such a request 500. `commits` are the `with_tx` transactions it committed first."""

    def __init__(self, handler: str, message: str, commits: list[ReducerCallResult]) -> None:
        super().__init__(f"HTTP handler {handler!r} failed: {message}")
        self.handler = handler
        self.message = message
        self.commits = commits


class FakeHttp:
    """A fake `ctx.http` network for tests: `TestDatabase(module, http=FakeHttp({url: response}))`.

    Routes map a URL (exact, query included) to an `HttpResponse`, to a `str`/`bytes` body (status
    200), to a function of the `HttpRequest`, or to an `HttpError` to raise. `requests` records every
    request the module sent. A URL without a route raises HttpError (tests never reach the network).
    """

    def __init__(
        self, routes: Mapping[str, HttpResponse | str | bytes | FakeHandler | HttpError] | None = None
    ) -> None:
        self.routes: dict[str, HttpResponse | str | bytes | FakeHandler | HttpError] = dict(routes or {})
        self.requests: list[HttpRequest] = []

    def send(self, request: HttpRequest, *, timeout: float, max_response_bytes: int) -> HttpResponse:
        self.requests.append(request)
        route = self.routes.get(request.url)
        if route is None:
            raise HttpError(f"{request.method} {request.url} failed: no fake response for this URL")
        if isinstance(route, HttpError):
            raise route
        if isinstance(route, HttpResponse):
            resp = route
        elif isinstance(route, (str, bytes)):
            resp = HttpResponse(200, {}, route.encode() if isinstance(route, str) else route)
        else:
            resp = route(request)
        if len(resp.body) > max_response_bytes:
            raise HttpError(
                f"the response to {request.method} {request.url} exceeds the {max_response_bytes}-byte limit"
            )
        return resp


class TestDatabase:
    """A module on a fresh in-memory database with a fake clock (that only `advance` moves).

    Reducer calls raise `ReducerUserError`/`ReducerInternalError` when the reducer fails; bad
    calls (unknown reducer, wrong arguments) raise the host's `ReducerCallError`s.
    """

    __test__ = False  # not a pytest test class, despite the name

    #: The sender of calls that do not pass `sender=`.
    default_sender: Identity = identity("test-user")

    def __init__(
        self,
        module: ModuleDef,
        *,
        start: Timestamp = DEFAULT_START,
        owner: Identity | None = None,
        run_init: bool = True,
        http: HttpTransport | None = None,
        http_policy: HttpPolicy | None = None,
    ) -> None:
        self._now = start
        #: What procedures' `ctx.http` reaches: a `FakeHttp` by default (no route: HttpError).
        self.http: HttpTransport = http if http is not None else FakeHttp()
        self.http_policy = http_policy if http_policy is not None else HttpPolicy()
        self.owner = owner if owner is not None else identity("owner")
        self.host = ModuleHost(
            module, identity=identity(f"database:{module.name}"), owner=self.owner, clock=self._clock
        )
        #: Every committed transaction, in order (including internal schedule-row deletes).
        self.commits: list[ReducerCallResult] = []
        self.host.add_commit_listener(self.commits.append)
        self.host.procedure_launcher = self._run_scheduled_procedure
        if run_init:
            _raise_for(self.host.init())

    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> TestDatabase:
        """Load a module file or package and run its init reducer (and `@scheduled` setup)."""
        return cls(load_module(path), **kwargs)

    @property
    def module(self) -> ModuleDef:
        return self.host.module

    # ---- the clock ------------------------------------------------------------------------------

    def _clock(self) -> Timestamp:
        return self._now

    @property
    def now(self) -> Timestamp:
        return self._now

    def advance(self, seconds: float = 0.0, *, ms: int = 0) -> list[ReducerCallResult]:
        """Move the clock forward and run every scheduled reducer that falls due, in time order.

        Returns their results (failed scheduled calls do not raise; check `.ok` or the logs).
        """
        micros = round(seconds * 1_000_000) + ms * 1000
        if micros < 0:
            raise ValueError("the clock only moves forward")
        target = Timestamp(self._now.micros + micros)
        results: list[ReducerCallResult] = []
        # Step the clock through each due time, so every tick runs on time (a real server that
        # fell behind would skip missed interval ticks instead).
        while (due := self.host.next_due()) is not None and due.micros <= target.micros:
            self._now = Timestamp(max(self._now.micros, due.micros))
            results.extend(self.host.run_due(self._now))
        self._now = target
        return results

    # ---- calls ----------------------------------------------------------------------------------

    def call(
        self,
        reducer: str,
        *args: Any,
        sender: Identity | None = None,
        connection_id: ConnectionId | None = None,
        jwt: Mapping[str, Any] | None = None,
    ) -> ReducerCallResult:
        """Call a reducer with Python arguments; returns the result, or raises its error.

        `connection_id` defaults to a stable id per sender, as if each sender had one connection.
        `jwt`: the claims of the caller's token (`{"iss": ..., "sub": ..., ...}`), seen by the
        reducer as `ctx.sender_auth.jwt`; the sender is then the token's identity. Without it,
        `ctx.sender_auth.jwt` is None.
        """
        who, auth = _caller(sender, jwt, self.default_sender)
        result = self.host.call_reducer(
            reducer,
            args,
            caller=who,
            connection_id=connection_id if connection_id is not None else _connection_for(who.to_hex()),
            args_format="python",
            auth=auth,
        )
        return _raise_for(result)

    def call_procedure(
        self,
        procedure: str,
        *args: Any,
        sender: Identity | None = None,
        connection_id: ConnectionId | None = None,
        jwt: Mapping[str, Any] | None = None,
    ) -> Any:
        """Call a procedure with Python arguments; returns what it returned, or raises
        ProcedureUserError/ProcedureInternalError. Its `ctx.http` goes to this database's `http`
        transport; each `ctx.with_tx` commits like a reducer (and shows in `commits`)."""
        who, auth = _caller(sender, jwt, self.default_sender)
        result = self.host.call_procedure(
            procedure,
            args,
            caller=who,
            connection_id=connection_id if connection_id is not None else _connection_for(who.to_hex()),
            args_format="python",
            auth=auth,
            http=self.http,
            http_policy=self.http_policy,
        )
        if not result.ok:
            cls = ProcedureUserError if result.status is ReducerStatus.USER_ERROR else ProcedureInternalError
            raise cls(procedure, result.error or "", result)
        return result.value

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | str = b"",
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> Response:
        """Send an HTTP request to the module's handlers, as `/v1/database/NAME/route{path}` would:
        returns the handler's `Response`, a 404 `Response` when no route matches, or raises
        HttpHandlerError when the handler fails. Its `with_tx` commits show in `commits`."""
        qs = urlencode(dict(query)) if query else ""
        req = Request(method, path, headers=headers, body=body, query=query, query_string=qs)
        result = self.host.call_http_handler(req)
        if result is None:
            return Response(404, {"content-type": "text/plain; charset=utf-8"}, NO_SUCH_ROUTE)
        if result.response is None:
            raise HttpHandlerError(result.handler, result.error or "", result.commits)
        return result.response

    def _run_scheduled_procedure(self, name: str, args: bytes, ts: Timestamp) -> None:
        """A schedule table fired procedure `name`: run it now, through this database's `http`."""
        result = self.host.call_procedure(
            name, args, caller=self.host.identity, timestamp=ts, http=self.http, http_policy=self.http_policy
        )
        if not result.ok:
            self.host.log.write("error", f"scheduled procedure {name!r} failed: {result.error}", reducer=name, timestamp=ts)

    def run(self, fn: Callable[[ReducerContext], T], *, sender: Identity | None = None) -> T:
        """Run `fn(ctx)` in one transaction, like a reducer that is not part of the module (e.g. to
        insert fixtures: `db.run(lambda ctx: ctx.db.player.insert(Player(...)))`). Returns what
        `fn` returned; raises like `call` if it fails (and then nothing is written)."""
        out: list[T] = []
        result = self.host.run_transaction(
            lambda ctx: out.append(fn(ctx)), caller=sender if sender is not None else self.owner, label="<run>"
        )
        _raise_for(result)
        return out[0]

    def connect(
        self, who: Identity | None = None, conn: ConnectionId | None = None, *, jwt: Mapping[str, Any] | None = None
    ) -> ConnectionId:
        """Run client_connected for `who` (or the identity of `jwt`'s claims, which client_connected
        sees as `ctx.sender_auth.jwt`); returns the connection id (raises if the module refuses)."""
        who, auth = _caller(who, jwt, self.default_sender)
        conn = conn if conn is not None else connection_id(f"{who.to_hex()}:{len(self.commits)}")
        _raise_for(self.host.client_connected(who, conn, auth=auth))
        return conn

    def disconnect(self, who: Identity, conn: ConnectionId | None = None) -> None:
        _raise_for(self.host.client_disconnected(who, conn))

    # ---- reading --------------------------------------------------------------------------------

    def table(self, table: str | type) -> list[Any]:
        """Every committed row of a table (by name or row class), as row objects, in index order
        of the primary key when there is one."""
        tdef = self.module.table(table)
        rows = list(self.host.db.scan(tdef.schema.table_id))
        pk = tdef.schema.primary_key
        if pk is not None:
            try:
                rows.sort(key=lambda r: r[pk])
            except TypeError:
                pass
        from_row: Callable[[Any], Any] = tdef.converter.from_row
        return [from_row(r) for r in rows]

    def view(self, name: str, *, sender: Identity | None = None) -> list[Any]:
        """The rows `@view` `name` returns now, as row objects (`[]` or `[row]` for a `T | None`
        view), evaluated over the committed state as `sender` (default: `default_sender`; ignored
        by anonymous views). Raises `ViewError` (`.failure.kind`, `.failure.message`) if it fails."""
        vdef = self.module.view(name)
        who = sender if sender is not None else self.default_sender
        rows = self.host.runner.run_view(vdef, self.host.db, sender=who, timestamp=self._now)
        from_row: Callable[[Any], Any] = vdef.converter.from_row
        return [from_row(r) for r in rows]

    def find(self, table: str | type, key: Any) -> Any | None:
        """The committed row with this primary key, or None."""
        tdef = self.module.table(table)
        ix = tdef.schema.primary_index
        if ix is None:
            raise SpacetimeError(f"table {tdef.name!r} has no primary key")
        row = self.host.db.index_find(ix.index_id, key)
        return None if row is None else tdef.converter.from_row(row)

    def count(self, table: str | type) -> int:
        return self.host.db.count(self.module.table(table).schema.table_id)

    @property
    def logs(self) -> list[LogRecord]:
        """The database log, oldest first."""
        return self.host.log.records()

    def log_messages(self, level: str | None = None) -> list[str]:
        return [r.message for r in self.host.log.records(level=level)]
