"""Republishing over a running database: the new module takes over in place.

The swap is one job on the database's worker, so no reducer, subscription or SQL runs during it:

1. check: the backend loads the new module and plans the migration of the live data
   (`SwapCheckable.check_module_swap`). A module that fails to load, or a change needing a manual
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
from spacetimedb.control.hosted_database import HostedDatabase

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
    check = getattr(old, "check_module_swap", None)
    plan: ModuleSwapPlan = check(new_spec.module_path) if check is not None else ModuleSwapPlan()
    leaving = db.detach_all(1001, MODULE_UPDATED_CLOSE_REASON) if plan.disconnect_clients else []
    try:
        old.close()
    except Exception as e:  # its log could not be flushed: the log-failure listener takes it out of service
        raise SwapFailed(f"the database's commit log could not be flushed before the update: {e}") from e
    try:
        new: DatabaseBackend = factory(new_spec)
    except Exception as e:
        _restart_previous(db, factory, restore_previous())
        db.record_disconnects(leaving)
        raise SwapFailed(f"module failed to load: {type(e).__name__}: {e}") from e
    db.install_backend(new)
    # As upstream, the new module's client_disconnected runs: the data is already in its layout.
    db.record_disconnects(leaving)
    log.info("database %s: module swapped in place (%s)", db.info.name, "; ".join(plan.steps) or "no schema changes")
    return plan


def _restart_previous(db: HostedDatabase, factory: BackendFactory, spec: BackendSpec) -> None:
    try:
        db.install_backend(factory(spec))
    except Exception:
        log.exception("database %s: could not restart its previous module; it is out of service", db.info.name)
        # Out of service first: the closed backend runs no client_disconnected.
        db.failure = f"database {db.info.name!r} could not restart its module after a failed update; restart the server"
        db.detach_all(1011, "the database could not restart its module after a failed update")
