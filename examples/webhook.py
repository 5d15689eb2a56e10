"""A payment-provider webhook: HTTP handlers answering under /v1/database/webhook/route/...

    spacetimedb publish webhook examples/webhook.py
    spacetimedb call webhook set_webhook_secret '"s3cret"'          # as the owner who published it
    body='{"order_id": "A-1", "amount_cents": 1250, "currency": "EUR"}'
    sig=$(printf %s "$body" | openssl dgst -sha256 -hmac s3cret -r | cut -d' ' -f1)
    curl -X POST -H "X-Signature: $sig" -d "$body" http://127.0.0.1:3000/v1/database/webhook/route/payments/webhook
    curl http://127.0.0.1:3000/v1/database/webhook/route/payments

The provider signs each body with HMAC-SHA256 under the shared secret; the handler checks the
signature in constant time before it writes anything, and records each order once (a provider
retries deliveries).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from spacetimedb import (
    HandlerContext,
    Identity,
    ReducerContext,
    Request,
    Response,
    Router,
    SenderError,
    Timestamp,
    auto_inc,
    http_handler,
    init,
    primary_key,
    reducer,
    table,
    u32,
    u64,
    unique,
)


@table(public=True)
class Payment:
    id: Annotated[u64, primary_key, auto_inc]
    order_id: Annotated[str, unique]
    amount_cents: u64
    currency: str
    received_at: Timestamp


@table
class WebhookAdmin:
    """Who may set the secret: the identity that published the database."""

    id: Annotated[u32, primary_key]
    owner: Identity


@table
class WebhookSecret:
    id: Annotated[u32, primary_key]
    secret: str


@init
def setup(ctx: ReducerContext) -> None:
    ctx.db.webhook_admin.insert(WebhookAdmin(id=0, owner=ctx.sender))


@reducer
def set_webhook_secret(ctx: ReducerContext, secret: str) -> None:
    admin = ctx.db.webhook_admin.id.find(0)
    if admin is None or admin.owner != ctx.sender:
        raise SenderError("only the database owner may set the webhook secret")
    if len(secret) < 6:
        raise SenderError("the secret must be at least 6 characters")
    ctx.db.webhook_secret.id.delete(0)
    ctx.db.webhook_secret.insert(WebhookSecret(id=0, secret=secret))


def signature(secret: str, body: bytes) -> str:
    """What the provider sends in `X-Signature`: hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@http_handler
def payment_webhook(ctx: HandlerContext, req: Request) -> Response:
    secret = ctx.with_tx(lambda tx: getattr(tx.db.webhook_secret.id.find(0), "secret", None))
    if secret is None:
        return Response.text("the webhook secret is not configured", status=503)
    if not hmac.compare_digest(signature(secret, req.body), req.headers.get("x-signature", "")):
        return Response.text("bad signature", status=401)
    try:
        event = req.json()
        order_id = str(event["order_id"])
        amount = int(event["amount_cents"])
        currency = str(event.get("currency", "USD"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return Response.text("expected JSON with order_id and amount_cents", status=400)
    if amount < 0 or not order_id:
        return Response.text("amount_cents must be >= 0 and order_id non-empty", status=400)

    def record(tx: ReducerContext) -> bool:
        if tx.db.payment.order_id.find(order_id) is not None:
            return False  # a retried delivery: already recorded
        tx.db.payment.insert(
            Payment(id=0, order_id=order_id, amount_cents=amount, currency=currency, received_at=tx.timestamp)
        )
        return True

    created = ctx.with_tx(record)
    ctx.log.info("payment %s: %s", order_id, "recorded" if created else "duplicate delivery")
    return Response.json({"order_id": order_id, "created": created}, status=201 if created else 200)


@http_handler
def list_payments(ctx: HandlerContext, req: Request) -> Response:
    rows = ctx.with_tx(lambda tx: list(tx.db.payment.iter()))
    return Response.json([{"order_id": p.order_id, "amount_cents": p.amount_cents, "currency": p.currency} for p in rows])


@http_handler
def health(ctx: HandlerContext, req: Request) -> Response:
    return Response.text("ok")


router = Router().get("/health", health).nest("/payments", Router().get("/", list_payments).post("/webhook", payment_webhook))
