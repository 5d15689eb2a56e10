"""The bundle's Python adapter run natively over a scripted glue (no node): HTTP handlers, whose
hook the sealed host does not call, and the HTTP BSATN forms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spacetimedb.jshost.bundle_host import BundleHost
from spacetimedb.jshost.http_transport import decode_request, decode_response, encode_request, encode_response
from spacetimedb.module.http_client import HttpRequest
from spacetimedb.module.loader import load_module

WEBHOOK = Path(__file__).resolve().parents[2] / "examples" / "webhook.py"


class ScriptedGlue:
    """An empty database: every scan finds nothing; records what the adapter asked."""

    def __init__(self, fail: str = "") -> None:
        self.calls: list[str] = []
        self.fail = fail

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any) -> Any:
            self.calls.append(name)
            if name == self.fail:
                raise RuntimeError(f"{name} refused")
            return {"identity": 1, "table_id": 1, "index_id": 1, "point": b"", "scan": b"", "range": b"", "start_tx": 5}.get(
                name, True
            )

        return call


def _request(method: str, uri: str, headers: list[tuple[str, str]] | None = None) -> bytes:
    return encode_request(HttpRequest(method, uri, dict(headers or [])), None)


def test_http_handler_routes_by_the_path_after_route() -> None:
    glue = ScriptedGlue()
    host = BundleHost(load_module(WEBHOOK), glue, lambda x: x, describe=False)
    health = list(host.module.http_handlers).index("health")
    out = host.call_http_handler(health, 1_000, _request("GET", "https://db.example/v1/database/shop/route/health?x=1"), b"")
    response, body = out
    decoded = decode_response(response, body)
    assert (decoded.status, body) == (200, b"ok") and decoded.headers["content-type"].startswith("text/plain")


def test_http_handler_with_tx_uses_the_host_transaction() -> None:
    glue = ScriptedGlue()
    host = BundleHost(load_module(WEBHOOK), glue, lambda x: x, describe=False)
    hook = list(host.module.http_handlers).index("payment_webhook")
    response, body = host.call_http_handler(hook, 1_000, _request("POST", "http://h/v1/database/shop/route/payments/webhook"), b"{}")
    assert decode_response(response, body).status == 503  # no secret configured: the find saw no row
    assert glue.calls.count("start_tx") == 1 and glue.calls.count("commit_tx") == 1 and "point" in glue.calls


def test_a_failing_handler_is_an_internal_error() -> None:
    host = BundleHost(load_module(WEBHOOK), ScriptedGlue(fail="start_tx"), lambda x: x, describe=False)
    hook = list(host.module.http_handlers).index("list_payments")
    out = host.call_http_handler(hook, 1_000, _request("GET", "http://h/v1/database/shop/route/payments/"), b"")
    assert isinstance(out, str) and out.startswith("i") and "start_tx refused" in out


def test_http_request_forms_round_trip() -> None:
    data = encode_request(HttpRequest("PURGE", "http://x/y?z", {"a": "b", "c": "d"}), 1.5)
    assert decode_request(data) == ("PURGE", [("a", "b"), ("c", "d")], "http://x/y?z")
    assert decode_request(encode_request(HttpRequest("get", "u"), None)) == ("GET", [], "u")
    resp = decode_response(encode_response(404, [("Content-Type", "text/plain")]), b"nope")
    assert (resp.status, resp.headers, resp.body) == (404, {"content-type": "text/plain"}, b"nope")


def test_hook_integers_arrive_as_hex_or_ints() -> None:
    # entry.mjs passes the hooks' BigInts (sender u256, connection id u128, timestamp i64) as hex
    # strs: Pyodide's BigInt conversion is the slow path. A native caller passes ints.
    from spacetimedb.jshost.bundle_host import _connection
    from spacetimedb.jshost.glue import as_int

    sender = (1 << 255) + 0xABC
    assert as_int(format(sender, "x")) == sender
    assert as_int("-1f") == -31
    assert as_int(42) == 42
    assert _connection("0") is None
    assert _connection(0) is None
    conn = _connection("7")
    assert conn is not None and int(conn) == 7
