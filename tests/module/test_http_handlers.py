"""HTTP handlers in the module layer: upstream's routing rules, the export in RawModuleDefV10,
and the runner's context (no sender, no db outside with_tx, with_tx commit and rollback)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest

from spacetimedb import (
    HandlerContext,
    Request,
    Response,
    Router,
    SchemaError,
    http_handler,
    load_module,
    primary_key,
    table,
    u32,
)
from spacetimedb.host import ModuleHost
from spacetimedb.module.export import decode_module_def_bsatn
from spacetimedb.module.module_def import ModuleDef


def _h(ctx: HandlerContext, req: Request) -> Response:
    return Response.text("x")


h = http_handler(_h)


def test_paths_must_be_lowercase_and_start_with_a_slash() -> None:
    Router().get("", h).get("/a-b_c~/d0", h)
    for bad in ["a", "/A", "/a b", "/a?x", "/é"]:
        with pytest.raises(SchemaError):
            Router().get(bad, h)


def test_conflicts_any_overlaps_every_method() -> None:
    r = Router().get("/x", h).post("/x", h)
    with pytest.raises(SchemaError, match="conflict"):
        r.get("/x", h)
    with pytest.raises(SchemaError, match="conflict"):
        r.any("/x", h)
    with pytest.raises(SchemaError, match="conflict"):
        Router().any("/y", h).delete("/y", h)
    Router().get("/x", h).get("/x/", h)  # exact paths: a trailing slash is another route


def test_nest_joins_paths_and_refuses_an_overlapping_prefix() -> None:
    sub = Router().get("/", h).post("/hook", h)
    r = Router().get("/health", h).nest("/api/", sub)
    assert [(x.method, x.path) for x in r.routes] == [("GET", "/health"), ("GET", "/api/"), ("POST", "/api/hook")]
    assert [x.path for x in Router().nest("/api", sub).routes] == ["/api", "/api/hook"]
    with pytest.raises(SchemaError, match="nest"):
        Router().get("/api/x", h).nest("/api", sub)
    assert r.match("POST", "/api/hook") is not None
    assert r.match("GET", "/api/hook") is None and r.match("GET", "/nope") is None


def test_routers_are_immutable() -> None:
    base = Router().get("/a", h)
    base.get("/b", h)
    assert [x.path for x in base.routes] == ["/a"]


def _module(tmp_path: Path, source: str) -> ModuleDef:
    p = tmp_path / "m.py"
    p.write_text(source)
    return load_module(p)


HEADER = """
from typing import Annotated
from spacetimedb import HandlerContext, Request, Response, Router, http_handler, primary_key, table, u32

@table(public=True)
class Item:
    id: Annotated[u32, primary_key]

@http_handler
def a(ctx: HandlerContext, req: Request) -> Response:
    return Response.text("a")
"""


def test_export_has_upstream_http_sections(tmp_path: Path) -> None:
    m = _module(tmp_path, HEADER + "sub = Router().get('/s', a)\nrouter = Router().any('/a', a).route('propfind', '/p', a)\n")
    # `sub` is not the module's `router`: only `router`'s routes count.
    raw = decode_module_def_bsatn(m.raw_module_def_bsatn())
    sections = {s.tag: s.value for s in raw.sections}  # type: ignore[union-attr]
    assert [h.source_name for h in sections["HttpHandlers"]] == ["a"]
    routes = sections["HttpRoutes"]
    assert [(r.handler_function, r.method.tag, r.path) for r in routes] == [("a", "Any", "/a"), ("a", "Method", "/p")]
    assert routes[1].method.value.tag == "Extension" and routes[1].method.value.value == "PROPFIND"
    plain = _module(tmp_path, HEADER.replace("@http_handler", "") + "\n")
    assert "HttpRoutes" not in {s.tag for s in decode_module_def_bsatn(plain.raw_module_def_bsatn()).sections}  # type: ignore[union-attr]


def test_a_routed_function_must_be_an_http_handler(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="not an @http_handler"):
        _module(tmp_path, HEADER + "def plain(ctx, req): ...\nrouter = Router().get('/x', plain)\n")


@table(public=True)
class Item:
    id: Annotated[u32, primary_key]


def _host(*handlers: Any, router: Router) -> ModuleHost:
    host = ModuleHost(ModuleDef.build([Item, *handlers, router]))
    host.init()
    return host


def test_handler_context_has_no_sender_and_no_db_and_with_tx_commits_or_rolls_back() -> None:
    seen: dict[str, Any] = {}

    @http_handler
    def probe(ctx: HandlerContext, req: Request) -> Response:
        for name in ("sender", "db"):
            with pytest.raises(AttributeError):
                getattr(ctx, name)
        seen["identity"] = ctx.identity
        seen["rng"] = ctx.rng.random() == ctx.random.random() or True
        ctx.with_tx(lambda tx: tx.db.item.insert(Item(id=1)))
        try:
            ctx.with_tx(lambda tx: (tx.db.item.insert(Item(id=2)), 1 / 0))
        except ZeroDivisionError:
            pass
        n = ctx.with_tx(lambda tx: tx.db.item.count())
        return Response.json({"count": n})

    host = _host(probe, router=Router().post("/p", probe))
    result = host.call_http_handler(Request("POST", "/p"))
    assert result is not None and result.response is not None and result.response.body == b'{"count": 1}'
    assert seen["identity"] == host.identity
    assert [c.committed for c in result.commits] == [True]  # a read-only with_tx records no commit
    assert host.call_http_handler(Request("GET", "/p")) is None


def test_a_failing_handler_keeps_the_commits_it_made() -> None:
    @http_handler
    def half(ctx: HandlerContext, req: Request) -> Response:
        ctx.with_tx(lambda tx: tx.db.item.insert(Item(id=5)))
        raise RuntimeError("after the commit")

    host = _host(half, router=Router().get("/h", half))
    result = host.call_http_handler(Request("GET", "/h"))
    assert result is not None and result.response is None and "RuntimeError" in (result.error or "")
    assert len(result.commits) == 1
    assert any("after the commit" in r.message for r in host.log.records())
