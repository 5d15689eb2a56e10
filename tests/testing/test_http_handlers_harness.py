"""`TestDatabase.request`: a module's HTTP handlers in process, as the server routes them."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from spacetimedb.module.http_handler import NO_SUCH_ROUTE
from spacetimedb.testing import HttpHandlerError, TestDatabase

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_webhook_example_in_process() -> None:
    db = TestDatabase.load(EXAMPLES / "webhook.py")
    assert db.request("GET", "/health").body == b"ok"
    nope = db.request("GET", "/nope")
    assert (nope.status, nope.body.decode()) == (404, NO_SUCH_ROUTE)
    body = json.dumps({"order_id": "B-2", "amount_cents": 99, "currency": "GBP"}).encode()
    signed = {"X-Signature": hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()}
    assert db.request("POST", "/payments/webhook", body=body, headers=signed).status == 503  # no secret yet
    db.call("set_webhook_secret", "s3cret", sender=db.owner)
    assert db.request("POST", "/payments/webhook", body=body, headers={"x-signature": "bad"}).status == 401
    assert db.table("payment") == []
    r = db.request("POST", "/payments/webhook", body=body, headers=signed)
    assert r.status == 201 and json.loads(r.body) == {"order_id": "B-2", "created": True}
    [p] = db.table("payment")
    assert (p.order_id, p.amount_cents, p.currency, p.received_at) == ("B-2", 99, "GBP", db.now)
    assert json.loads(db.request("GET", "/payments").body) == [{"order_id": "B-2", "amount_cents": 99, "currency": "GBP"}]


def test_a_failing_handler_raises(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text(
        "from typing import Annotated\n"
        "from spacetimedb import HandlerContext, Request, Response, Router, http_handler, primary_key, table, u32\n"
        "@table\nclass T:\n    id: Annotated[u32, primary_key]\n"
        "@http_handler\ndef bad(ctx: HandlerContext, req: Request) -> Response:\n"
        "    ctx.with_tx(lambda tx: tx.db.t.insert(T(id=int(req.query['id']))))\n"
        "    raise KeyError('later')\n"
        "router = Router().get('/bad', bad)\n"
    )
    db = TestDatabase.load(src)
    with pytest.raises(HttpHandlerError, match="KeyError") as e:
        db.request("GET", "/bad", query={"id": "4"})
    assert len(e.value.commits) == 1 and db.count("t") == 1  # what with_tx committed stays
