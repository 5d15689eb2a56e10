"""Republishing over a running database: the new module takes over in place.

The swap is one job on the database's worker, so no reducer, subscription or SQL runs during it:

1. check: the backend loads the new module and plans the migration of the live data
   (`DatabaseBackend.check_module_swap`). A module that fails to load, or a change needing a manual
   migration, raises here and nothing has been touched: same module, data, clients.
2. when the plan changes tables clients already use (columns added or a table removed: upstream's
   plan then has `DisconnectAllUsers`), every client is closed with 1001; client_disconnected runs
   for each on the new module once it serves (upstream does the same).
3. the old backend is closed (its commit log flushed), the new one is built on the same data
   directory (the data is loaded, and migrated if its layout changed, exactly as at a restart).
4. the `HostedDatabase` serves from the new backend: clients stay connected, their query sets are
   recompiled against the new module, the scheduler is re-armed from its schedule tables.

Should step 3 fail (the checks passed, so this is a disk or migration fault), the previous module is
started again on the data, keeping the clients, and the publish fails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from spacetimedb.control.backend import DatabaseBackend, ModuleSwapPlan
from spacetimedb.control.clock import now_us
from spacetimedb.control.hosted_database import HostedDatabase
from spacetimedb.control.subscriber import Subscriber
from spacetimedb.protocol import wire

if TYPE_CHECKING:  # the registry imports this module
    from spacetimedb.control.database_registry import BackendFactory, BackendSpec

log = logging.getLogger("spacetimedb.server")

#: Close reason (1001) when a republish adds columns or removes a table (<= 123 bytes).
MODULE_UPDATED_CLOSE_REASON = "the module was updated and its tables changed (columns added or a table removed): reconnect"


class SwapFailed(Exception):
    """The new module passed its checks but could not take over; the previous one serves again."""


def swap_module(
    db: HostedDatabase,
    new_spec: BackendSpec,
    factory: BackendFactory,
    restore_previous: Callable[[], BackendSpec],
) -> ModuleSwapPlan:
    """Run on `db`'s worker. `restore_previous` puts the old module's files back and returns the
    spec to restart it with (only called when the new backend cannot be built)."""
    old = db.backend
    plan = old.check_module_swap(new_spec.module_path)
    leaving = detach_all(db, 1001, MODULE_UPDATED_CLOSE_REASON) if plan.disconnect_clients else []
    try:
        old.close()
    except Exception as e:  # its log could not be flushed: the log-failure listener takes it out of service
        raise SwapFailed(f"the database's commit log could not be flushed before the update: {e}") from e
    try:
        new: DatabaseBackend = factory(new_spec)
    except Exception as e:
        _restart_previous(db, factory, restore_previous())
        record_disconnects(db, leaving)
        raise SwapFailed(f"module failed to load: {type(e).__name__}: {e}") from e
    serve_from(db, new)
    # As upstream, the new module's client_disconnected runs: the data is already in its layout.
    record_disconnects(db, leaving)
    log.info("database %s: module swapped in place (%s)", db.info.name, "; ".join(plan.steps) or "no schema changes")
    return plan


def _restart_previous(db: HostedDatabase, factory: BackendFactory, spec: BackendSpec) -> None:
    try:
        serve_from(db, factory(spec))
    except Exception:
        log.exception("database %s: could not restart its previous module; it is out of service", db.info.name)
        # Out of service first: the closed backend runs no client_disconnected.
        db.failure = f"database {db.info.name!r} could not restart its module after a failed update; restart the server"
        detach_all(db, 1011, "the database could not restart its module after a failed update")


def serve_from(db: HostedDatabase, backend: DatabaseBackend) -> None:
    """Serve `db` from `backend` from now on, keeping every client: each query set is recompiled
    against the new module; one that no longer compiles is dropped with a SubscriptionError
    (request_id None, as for a set failing later). No rows are sent: a swap that keeps clients
    keeps every stored row as it was."""
    old_subscriptions = db.install_backend(backend)
    for sub, query_set_id, sources in old_subscriptions.query_sets():
        _resubscribe(db, sub, query_set_id, sources)  # type: ignore[arg-type]


def _resubscribe(db: HostedDatabase, sub: Subscriber, query_set_id: int, sources: tuple[str, ...]) -> None:
    owner = db.is_owner(sub.identity)
    try:
        plans = [p for q in sources for p in db.backend.compile_subscription(q, sub.identity, owner)]
        db.subscriptions.add(sub, query_set_id, plans, sources, with_rows=False)
    except Exception as e:  # QueryRejected in practice: a table was made private
        error = f"the module was updated and this query no longer applies: {e}"
        db.send(sub, wire.subscription_error(None, query_set_id, error))


def detach_all(db: HostedDatabase, code: int, reason: str) -> list[Subscriber]:
    """Close every client and forget it, without running client_disconnected yet: a module swap
    runs it on the new module (as upstream), see `record_disconnects`."""
    leaving = list(db.subscribers)
    for sub in leaving:
        db.worker.to_loop(sub.fail, code, reason)
        db.forget(sub)
    return leaving


def record_disconnects(db: HostedDatabase, leaving: list[Subscriber]) -> None:
    """Run client_disconnected for clients already closed by `detach_all`."""
    for sub in leaving:
        if db.failure is not None:
            return
        db.broadcast(db.backend.client_disconnected(sub.identity, sub.connection_id, now_us(), sub.auth))
