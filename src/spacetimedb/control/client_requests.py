"""What a connected client's messages do, run on the database's worker: reducer calls,
subscribe and unsubscribe (within the query limits), one-off queries."""

from __future__ import annotations

import logging
from time import time_ns
from typing import TYPE_CHECKING

from spacetimedb.control.backend import CallStatus, ProcedureOutcome, QueryRejected, SubscriptionQuery
from spacetimedb.control.clock import now_us
from spacetimedb.control.errors import DatabaseStopped
from spacetimedb.control.fanout import broadcast
from spacetimedb.control.procedure_calls import POOL, run_procedure
from spacetimedb.control.subscriber import Subscriber
from spacetimedb.control.subscriptions import DuplicateQuerySet, SubscriptionManager, UnknownQuerySet
from spacetimedb.protocol import wire
from spacetimedb.protocol.client_messages import (
    CallProcedure,
    CallReducer,
    ClientMessage,
    OneOffQuery,
    Subscribe,
    Unsubscribe,
    UnsubscribeFlags,
)

if TYPE_CHECKING:
    from spacetimedb.control.hosted_database import HostedDatabase

log = logging.getLogger("spacetimedb.server")


def handle(db: HostedDatabase, sub: Subscriber, msg: ClientMessage) -> bool:
    """Handle one message; True when it is to run again on the worker thread (a reducer call run on
    the event loop that its budget interrupted: rolled back, not answered)."""
    if sub not in db.subscribers or db.failure is not None:
        return False  # disconnected while its messages were queued, or out of service
    if type(msg) is CallReducer:  # the hot path: `now_us` and `is_owner` inlined
        identity = sub.identity
        result = db.backend.call_reducer(
            msg.reducer,
            msg.args,
            caller=identity,
            connection_id=sub.connection_id,
            timestamp_us=time_ns() // 1000,
            is_owner=identity == db.info.owner,
            auth=sub.auth,
        )
        if db.worker.overran():  # run on the loop and interrupted
            return True
        broadcast(db.send, db.subscriptions, result, sub, msg.request_id, db.send_shared)  # the hot path: no extra frame
    elif isinstance(msg, Subscribe):
        _subscribe(db, sub, msg)
    elif isinstance(msg, Unsubscribe):
        _unsubscribe(db, sub, msg)
    elif isinstance(msg, OneOffQuery):
        _one_off(db, sub, msg)
    elif isinstance(msg, CallProcedure):
        _call_procedure(db, sub, msg)
    return False


def _call_procedure(db: HostedDatabase, sub: Subscriber, msg: CallProcedure) -> None:
    """Start the procedure on a pool thread (`procedure_calls`); its ProcedureResult is sent from
    the worker once it ends, after the TransactionUpdates of its transactions."""

    def run() -> None:
        committed: list[int] = []
        try:
            out = run_procedure(
                db,
                msg.procedure,
                msg.args,
                args_format="bsatn",
                caller=sub.identity,
                connection_id=sub.connection_id,
                auth=sub.auth,
                committed=committed,
            )
        except Exception as e:  # the host failed, not the procedure: still answer the caller
            log.exception("procedure %s failed in the host", msg.procedure)
            out = ProcedureOutcome(CallStatus.FAILED_INTERNAL, now_us(), error=f"{type(e).__name__}: {e}")
        if out.status is CallStatus.COMMITTED:
            reply = wire.procedure_returned(msg.request_id, out.timestamp_us, out.ret_bsatn, out.duration_us)
        else:
            reply = wire.procedure_internal_error(msg.request_id, out.timestamp_us, out.error, out.duration_us)

        def answer() -> None:
            if sub in db.subscribers:
                # Held like a ReducerResult under confirmed reads: until its last commit is durable.
                db.send(sub, reply, max(committed) if committed else None)

        try:
            db.worker.submit(answer)
        except DatabaseStopped:
            pass  # the database stopped meanwhile: its clients are gone

    POOL.submit(run)


def _subscribe(db: HostedDatabase, sub: Subscriber, msg: Subscribe) -> None:
    qs = msg.query_set_id.id
    if db.subscriptions.has_set(sub, qs):
        db.worker.to_loop(sub.fail, 1011, f"query set {qs} is already subscribed")
        return
    owner = db.is_owner(sub.identity)
    refused = _too_many_queries(db, sub, len(msg.query_strings))
    if refused is not None:
        db.send(sub, wire.subscription_error(msg.request_id, qs, refused))
        return
    try:
        plans: list[SubscriptionQuery] = []
        sources: dict[str, None] = {}
        for query in msg.query_strings:
            for plan in db.backend.compile_subscription(query.strip(), sub.identity, owner):
                plans.append(plan)
                # Per table for `SELECT * FROM *`: a module swap does not add new tables to it.
                sources[plan.sql] = None
        refused = _too_many_queries(db, sub, len(plans))  # `SELECT * FROM *` is one per table
        if refused is not None:
            raise QueryRejected(refused)
        pieces = db.subscriptions.add(
            sub, qs, plans, list(sources), budget=db.limits.budget(owner)
        )
    except (QueryRejected, DuplicateQuerySet) as e:
        db.send(sub, wire.subscription_error(msg.request_id, qs, str(e)))
        return
    except Exception as e:  # evaluation failed: the set is not kept
        if db.subscriptions.has_set(sub, qs):
            db.subscriptions.remove(sub, qs, with_rows=False)
        log.exception("subscribe failed")
        db.send(sub, wire.subscription_error(msg.request_id, qs, f"internal error: {e}"))
        return
    db.send(sub, wire.subscribe_applied(msg.request_id, qs, pieces))

def _unsubscribe(db: HostedDatabase, sub: Subscriber, msg: Unsubscribe) -> None:
    qs = msg.query_set_id.id
    try:
        rows = db.subscriptions.remove(sub, qs, with_rows=msg.flags is UnsubscribeFlags.SendDroppedRows)
    except UnknownQuerySet as e:
        db.send(sub, wire.subscription_error(msg.request_id, qs, str(e)))
        return
    db.send(sub, wire.unsubscribe_applied(msg.request_id, qs, rows))

def _too_many_queries(db: HostedDatabase, sub: Subscriber, adding: int) -> str | None:
    """Why subscribing `adding` more queries is refused, or None."""
    per_message, per_connection = db.limits.max_queries_per_subscribe, db.limits.max_queries_per_connection
    if adding > per_message:
        return (
            f"too many queries in one Subscribe: {adding}, at most {per_message} "
            "(the server's --max-subscribe-queries); subscribe in several messages"
        )
    held = db.subscriptions.queries_of(sub)
    if held + adding > per_connection:
        return (
            f"too many subscribed queries on this connection: {held} held and {adding} more, at most "
            f"{per_connection} (the server's --max-connection-queries); unsubscribe some first"
        )
    return None

def _one_off(db: HostedDatabase, sub: Subscriber, msg: OneOffQuery) -> None:
    owner = db.is_owner(sub.identity)
    try:
        plans = db.backend.compile_subscription(msg.query_string.strip(), sub.identity, owner)
        scratch = SubscriptionManager(db.backend.tables)
        pieces = scratch.add(_OneOff(), 0, plans, budget=db.limits.budget(owner))
    except QueryRejected as e:
        db.send(sub, wire.one_off_query_err(msg.request_id, str(e)))
        return
    except Exception as e:  # every request is answered, whatever went wrong
        log.exception("one-off query failed")
        db.send(sub, wire.one_off_query_err(msg.request_id, f"internal error: {type(e).__name__}: {e}"))
        return
    db.send(sub, wire.one_off_query_ok(msg.request_id, pieces))


class _OneOff:
    """A throwaway subscriber key for one-off queries."""
