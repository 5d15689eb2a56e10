"""Loading a database's data under a republished module: automatic migrations.

When a module is published over an existing database, the stored rows are in the old module's
layout. The old module's definition decides how to read them; `spacetimedb.host.migration` decides
whether the new definition can take them over (and lays them out for it). A change that needs a
manual migration refuses the publish, naming each change; the old module then keeps running.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spacetimedb.control.backend import ModuleSwapPlan
from spacetimedb.control.database_registry import PublishRefused
from spacetimedb.durability.database_durability import DatabaseDurability
from spacetimedb.engine.database import Database as EngineDatabase
from spacetimedb.host.migration import migrate_image, plan_migration
from spacetimedb.module.loader import load_module
from spacetimedb.module.module_def import ModuleDef
from spacetimedb.module.schema import TableSchema

#: How long a publish waits for the migrated snapshot to reach the disk.
SNAPSHOT_TIMEOUT_S = 60.0


class MigrationRefused(PublishRefused):
    """The new module cannot take over the stored data automatically; the message lists why."""


def _layout(schemas: list[TableSchema]) -> list[tuple[str, tuple[Any, ...]]]:
    return sorted((s.name, tuple((c.name, c.algebraic_type) for c in s.columns)) for s in schemas)


def load_under_new_module(
    durability: DatabaseDurability,
    engine: EngineDatabase,
    codecs: Mapping[int, Any],
    old: ModuleDef,
    new: ModuleDef,
) -> bool:
    """Load the stored data into `engine` (the new module's), migrating it from `old`'s layout.

    Returns True when the stored layout changed (the caller then records one commit and lets
    `finish_migration` write a snapshot in the new layout, so recovery never reads old-layout
    rows with new codecs). Raises MigrationRefused when a manual migration is needed.
    """
    old_schemas = list(old.table_schemas)
    new_schemas = list(new.table_schemas)
    if _layout(old_schemas) == _layout(new_schemas):
        durability.attach(engine, codecs)  # same stored layout: load directly
        return False
    from spacetimedb.bsatn import compile as compile_codec

    old_engine = EngineDatabase(old_schemas)
    old_codecs = {s.table_id: compile_codec(s.row_type, old.typespace) for s in old_schemas}
    durability.attach(old_engine, old_codecs)
    counts = {s.name: old_engine.count(s.table_id) for s in old_schemas}
    plan = plan_migration(old, new, counts)
    if not plan.ok:
        raise MigrationRefused(plan.describe())
    engine.load_image(migrate_image(old_engine.snapshot_image(), old, new))
    durability.attach(engine, codecs, load=False)
    return True


def finish_migration(durability: DatabaseDurability) -> None:
    """Snapshot the migrated state (taken after one commit in the new layout) and wait for it."""
    if not durability.snapshot_now():
        raise RuntimeError("could not snapshot the migrated database")
    if not durability.snapshots.wait_idle(SNAPSHOT_TIMEOUT_S):
        raise RuntimeError("the migrated database's snapshot did not finish in time")


def check_module_swap(running: ModuleDef, engine: EngineDatabase, new_module_path: Path) -> ModuleSwapPlan:
    """Before a running database is touched: load the new module and plan the migration of the live
    data (row counts from `engine`). Raises MigrationRefused, or the load error, changing nothing."""
    new = load_module(new_module_path)
    counts = {s.name: engine.count(s.table_id) for s in running.table_schemas}
    plan = plan_migration(running, new, counts)
    if not plan.ok:
        raise MigrationRefused(plan.describe())
    return ModuleSwapPlan(disconnect_clients=plan.disconnects_clients, steps=tuple(plan.steps))
