"""Fan-out: a transaction's effects as messages, the caller's ReducerResult and everyone else's
TransactionUpdate, built once per distinct set of updates (the subscriptions evaluated them inside
the commit, `DatabaseBackend.set_commit_listener`)."""

from __future__ import annotations

from collections.abc import Callable

from spacetimedb.control.backend import CallResult, CallStatus, FanOut
from spacetimedb.control.subscriber import Subscriber
from spacetimedb.control.subscriptions import SubscriptionManager
from spacetimedb.protocol import wire

#: Queue a message for a client after the commit at the tx offset is durable (`DatabaseWorker.send`).
Send = Callable[[Subscriber, bytes, "int | None"], None]
#: Queue one message for a list of clients (`DatabaseWorker.send_shared`): one hand-over entry.
SendShared = Callable[[list[Subscriber], bytes, "int | None"], None]

_NO_FANOUT: FanOut = {}


def broadcast(
    send: Send,
    subscriptions: SubscriptionManager,
    result: CallResult,
    caller: Subscriber | None = None,
    request_id: int = 0,
    send_shared: SendShared | None = None,
) -> None:
    """Send a transaction's effects: the caller's ReducerResult, then others' TransactionUpdate.
    With `send_shared`, each shared update is handed over once with its list of subscribers."""
    fanout = result.fanout or _NO_FANOUT
    if subscriptions.failures:
        for sub, qs, error in subscriptions.take_failures():
            send(sub, wire.subscription_error(None, qs, error), result.tx_offset)  # type: ignore[arg-type]
    # The caller's ReducerResult first: it is one message, and behind a thousand subscribers' writes
    # it would wait for all of them (no client's order changes: the caller is in no shared list).
    offset = result.tx_offset
    if caller is not None:
        own = fanout.get(caller) or []
        if result.status is CallStatus.COMMITTED:  # (`reducer_result_message`'s first case, inlined)
            send(caller, wire.reducer_ok(request_id, result.timestamp_us, result.ret_value, own), offset)
        else:
            send(caller, reducer_result_message(request_id, result, own), offset)
    if not fanout:
        return  # nobody subscribed to what it changed (an unsubscribed caller's call: the common case)
    # Subscribers of the same queries share one list of updates (`SubscriptionManager.evaluate`):
    # one message per list, the same bytes for all of them (framed once too: server.shared_frames).
    # Every list is alive in `fanout` during the loop, so its id cannot be reused.
    if send_shared is not None:
        lists = list(fanout.values())
        first = lists[0]
        # One list for all (the common case), found with C-level passes: `count` finds the same
        # list by identity (an equal list elsewhere would give the same message: also right).
        if lists.count(first) == len(lists):
            subs: list[Subscriber] = list(fanout)  # type: ignore[arg-type]
            if caller is not None and caller in fanout:
                subs.remove(caller)
            if subs:
                send_shared(subs, wire.transaction_update(first), offset)
            return
        groups: dict[int, tuple[list[bytes], list[Subscriber]]] = {}
        for sub, set_updates in fanout.items():
            if sub is caller:
                continue
            group = groups.get(id(set_updates))
            if group is None:
                groups[id(set_updates)] = (set_updates, [sub])  # type: ignore[list-item]
            else:
                group[1].append(sub)  # type: ignore[arg-type]
        for set_updates, subs in groups.values():
            send_shared(subs, wire.transaction_update(set_updates), offset)
    else:
        shared: dict[int, bytes] = {}
        for sub, set_updates in fanout.items():
            if sub is caller:
                continue
            message = shared.get(id(set_updates))
            if message is None:
                message = shared[id(set_updates)] = wire.transaction_update(set_updates)
            send(sub, message, offset)  # type: ignore[arg-type]  # keys: the database's subscribers


def reducer_result_message(request_id: int, result: CallResult, own_sets: list[bytes]) -> bytes:
    if result.status is CallStatus.COMMITTED:
        return wire.reducer_ok(request_id, result.timestamp_us, result.ret_value, own_sets)
    if result.status is CallStatus.FAILED_USER:
        return wire.reducer_err(request_id, result.timestamp_us, result.error)
    return wire.reducer_internal_error(request_id, result.timestamp_us, result.error or result.status.value)
