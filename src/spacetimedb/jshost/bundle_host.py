"""`BundleHost`: the hooks of SpacetimeDB's V8 module host, served by our `ModuleRunner`.

The JS entry forwards each hook here with the host's arguments (ids as ints, identities and
timestamps as ints from BigInts, argument bytes as a Uint8Array). A call's result goes back as
None (success), the return bytes (views, procedures), or a failure string the entry throws:
"s" + message as the module's `__sender_error_class__` (the caller's error, reported as is),
"i" + message as a plain Error (the module's fault).

What is the host's and stays there: the transaction (begun before `__call_reducer__`, committed
after it returns, rolled back when it throws), who may call what, scheduling, the commit log.
"""

from __future__ import annotations

import re
import struct
import urllib.parse
from collections.abc import Callable
from typing import Any

from spacetimedb.bsatn import Codec, compile
from spacetimedb.jshost import glue as g
from spacetimedb.jshost.http_transport import SysHttpTransport, decode_request, encode_response
from spacetimedb.jshost.lazy_auth import LazyJwtAuth
from spacetimedb.jshost.sys_datastore import SysDatastore
from spacetimedb.module.call_errors import ReducerArgumentsError
from spacetimedb.module.context import ReducerContext
from spacetimedb.module.datastore import Datastore
from spacetimedb.module.export import module_def_bsatn
from spacetimedb.module.http_client import HttpPolicy
from spacetimedb.module.http_handler import Request, Response
from spacetimedb.module.module_def import ModuleDef, ViewDef
from spacetimedb.module.runner import (
    CallFailure,
    FailureKind,
    ModuleRunner,
    PreparedProcedure,
    PreparedReducer,
    ViewError,
)
from spacetimedb.sats.special import ConnectionId, Identity, Timestamp

_U32 = struct.Struct("<I")
#: Upstream passes a handler the request's external URI; the handler's path is what follows
#: `/route` (crates/client-api/src/routes/database.rs, `handle_http_route_impl`).
_ROUTE_PATH = re.compile(r"^/v1/database/[^/]+/route(/.*)?$")
#: ViewResultHeader::RowData (crates/lib/src/db/raw_def/v9.rs): the view's rows follow.
_ROW_DATA = b"\x00"


def _connection(value: Any) -> ConnectionId | None:
    """The caller's connection id (None for 0: no connection, as upstream passes it)."""
    conn = g.as_int(value)
    return ConnectionId(conn) if conn else None


def _failure(f: CallFailure) -> str:
    return ("s" if f.kind is FailureKind.SENDER_ERROR else "i") + f.message


class _View:
    __slots__ = ("codec", "view")

    def __init__(self, view: ViewDef, codec: Codec) -> None:
        self.view = view
        self.codec = codec


class BundleHost:
    """One loaded module inside the V8 host: describe, reducers, views, procedures."""

    def __init__(
        self,
        module: ModuleDef,
        glue: g.GlueApi,
        to_js: Callable[[Any], Any],
        *,
        describe: bool = True,
        pack: Callable[[bytes], Any] | None = None,
    ) -> None:
        """`to_js` makes the JS values results are returned as (Uint8Array); `pack` what bytes
        are handed to the glue as (default `to_js`; the bundle passes Latin-1 strings)."""
        self.module = module
        self._glue = glue
        self._to_js = to_js
        self.datastore = SysDatastore(module, glue, pack or to_js)
        # The bundle's entry serves the bytes `spacetimedb build` computed natively; computing them
        # here (tests, or a bundle without them) compiles the RawModuleDef codec, which is slow.
        self._describe = module_def_bsatn(module, 10, wrapped=True) if describe else b""
        self._runner: ModuleRunner | None = None
        self._identified = False
        self._reducers: list[PreparedReducer] = []
        self._procedures: list[PreparedProcedure] = []
        ts = module.typespace
        self._views = [_View(v, compile(v.row_product, ts)) for v in module.views if not v.anonymous]
        #: Handler ids are their positions in the exported HttpHandlers section.
        self._http_names = list(module.http_handlers)
        self._anon_views = [_View(v, compile(v.row_product, ts)) for v in module.views if v.anonymous]

    def describe(self) -> Any:
        """The BSATN `RawModuleDef::V10` our native host exports for this module."""
        if not self._describe:
            self._describe = module_def_bsatn(self.module, 10, wrapped=True)
        return self._to_js(self._describe)

    def prepare_runner(self) -> ModuleRunner:
        """Build the module's runner now (its decoders compiled), with the database identity
        still unknown: `spacetimedb build` does this before taking the memory snapshot."""
        if self._runner is None:
            r = ModuleRunner(self.module, identity=Identity(0), log=self._log)
            # Reducer and procedure ids are their positions in the exported definition.
            self._reducers = list(r.reducers.values())
            self._procedures = list(r.procedures.values())
            self._runner = r
        return self._runner

    def runner(self) -> ModuleRunner:
        """The module's runner, its identity set at the first call (the host answers `identity()`
        only inside a call)."""
        r = self._runner
        if r is None or not self._identified:
            r = self.prepare_runner()
            r.set_identity(Identity(int(self._glue.identity())))
            self._identified = True
        return r

    def _log(self, level: str, message: str, name: str | None, timestamp: Timestamp | None) -> None:
        self._log_to(level, message)

    def _log_to(self, level: str, message: str) -> None:
        self._glue.log(g.LOG_LEVELS.get(level, 2), message)

    def adopt(self, glue: g.GlueApi, to_js: Callable[[Any], Any], pack: Callable[[bytes], Any]) -> BundleHost:
        """This host, prepared before the snapshot, now wired to an isolate's sys functions."""
        self._glue = glue
        self._to_js = to_js
        self.datastore.attach(glue, pack)
        return self

    # ---- hooks ---------------------------------------------------------------------------------

    def call_reducer(self, reducer_id: int, sender: int, connection_id: int, timestamp: int, args: g.JsBytes) -> str | None:
        runner = self.runner()
        r = self._reducers[reducer_id]
        try:
            values = r.decode_bsatn(g.as_bytes(args))
        except ReducerArgumentsError as e:
            return "i" + str(e)
        fn = runner.init_function if r.lifecycle == "init" else r.fn
        caller = Identity(g.as_int(sender))
        conn = _connection(connection_id)
        failure = runner.run_reducer(
            self.datastore, fn, values, r.name, caller, conn, Timestamp(g.as_int(timestamp)), auth=self._auth(caller, conn)
        )
        return None if failure is None else _failure(failure)

    def _auth(self, caller: Identity, conn: ConnectionId | None) -> LazyJwtAuth | None:
        """A client call's credentials (None: the runner's internal/no-token defaults)."""
        if conn is None:
            return None
        glue = self._glue
        return LazyJwtAuth(lambda: g.as_bytes(glue.jwt_payload()), caller)

    def call_view(self, view_id: int, sender: int, args: g.JsBytes) -> Any:
        return self._view(self._views[view_id], Identity(g.as_int(sender)))

    def call_view_anon(self, view_id: int, args: g.JsBytes) -> Any:
        return self._view(self._anon_views[view_id], None)

    def _view(self, v: _View, sender: Identity | None) -> Any:
        runner = self.runner()
        try:
            rows = runner.run_view(v.view, self.datastore, sender=sender)
        except ViewError as e:
            return _failure(e.failure)
        out = bytearray(_ROW_DATA)
        encode_into = v.codec.encode_into
        if v.view.returns_list:
            out += _U32.pack(len(rows))
            for row in rows:
                encode_into(out, row)
        elif rows:
            out.append(0)  # Option::Some
            encode_into(out, rows[0])
        else:
            out.append(1)  # Option::None
        return self._to_js(bytes(out))

    def call_procedure(self, procedure_id: int, sender: int, connection_id: int, timestamp: int, args: g.JsBytes) -> Any:
        runner = self.runner()
        p = self._procedures[procedure_id]
        try:
            values = p.decode_bsatn(g.as_bytes(args))
        except ReducerArgumentsError as e:
            return "i" + str(e)
        caller = Identity(g.as_int(sender))
        conn = _connection(connection_id)
        result = runner.run_procedure(
            p,
            values,
            caller,
            conn,
            Timestamp(g.as_int(timestamp)),
            run_tx=lambda fn: self._with_tx(fn, p.name, caller, conn),
            http=SysHttpTransport(self._glue, self._to_js),
            http_policy=HttpPolicy(),
            auth=self._auth(caller, conn),
        )
        if result.failure is not None:
            return _failure(result.failure)
        return self._to_js(result.bsatn)

    def call_http_handler(self, handler_id: int, timestamp: int, request: g.JsBytes, body: g.JsBytes) -> Any:
        """`__call_http_handler__`: [BSATN HttpResponse, body], or a failure string (the host answers 500)."""
        runner = self.runner()
        name = self._http_names[handler_id]
        method, headers, uri = decode_request(g.as_bytes(request))
        parts = urllib.parse.urlsplit(uri)
        m = _ROUTE_PATH.match(parts.path)
        path = (m.group(1) or "") if m else parts.path
        req = Request(
            method,
            path,
            headers=headers,
            body=g.as_bytes(body),
            query=dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)),
            query_string=parts.query,
            uri=uri,
        )
        out = runner.run_http_handler(self.module.http_handlers[name], req, name, Timestamp(g.as_int(timestamp)), _SysTransactions(self))
        if not isinstance(out, Response):
            return "i" + out.message
        response = encode_response(out.status, list(out.headers.items()))
        return self._to_js([self._to_js(response), self._to_js(out.body)])

    def _with_tx(self, fn: Callable[[ReducerContext], Any], name: str, caller: Identity, conn: ConnectionId | None) -> Any:
        """A procedure's `ctx.with_tx(fn)`: one host transaction (procedure_start_mut_tx ..
        commit/abort), `fn` run in it through the runner as our native host does."""
        glue = self._glue
        box: list[Any] = []
        raised: list[BaseException] = []

        def body(ctx: ReducerContext) -> None:
            try:
                box.append(fn(ctx))
            except BaseException as e:
                raised.append(e)
                raise

        ts = Timestamp(int(glue.start_tx()))
        failure = self.runner().run_reducer(self.datastore, body, (), name, caller, conn, ts)
        if failure is not None:
            glue.abort_tx()
            if raised:
                raise raised[0]
            raise RuntimeError(failure.message)
        if not glue.commit_tx():
            raise RuntimeError("the procedure's transaction could not be committed")
        return box[0] if box else None


class _SysTransactions:
    """An HTTP handler's `ctx.with_tx` transactions: the host's (procedure_start_mut_tx ..)."""

    def __init__(self, host: BundleHost) -> None:
        self._host = host

    def begin(self) -> Datastore:
        self._host._glue.start_tx()
        return self._host.datastore

    def commit(self, tx: Datastore) -> None:
        if not self._host._glue.commit_tx():
            raise RuntimeError("the handler's transaction could not be committed")

    def rollback(self, tx: Datastore) -> None:
        self._host._glue.abort_tx()
