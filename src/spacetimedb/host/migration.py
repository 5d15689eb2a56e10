"""Automatic migrations on republish: what changed between two module definitions, whether the data
can follow, and carrying the data over.

The rules follow SpacetimeDB's automatic migrations (`crates/schema/src/auto_migrate.rs`): tables,
indexes and schedules may be added or removed, constraints relaxed, access changed, and columns
added at the end of a table when they have a default. Everything else (removing, reordering or
retyping a column, adding a unique constraint, changing a primary key on a table with rows, removing
a table that still has rows) needs `--delete-data`; the plan names each such change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spacetimedb import bsatn
from spacetimedb.engine.delta import DatabaseImage
from spacetimedb.module.datastore import Row
from spacetimedb.module.module_def import ModuleDef, TableDef
from spacetimedb.module.table import MISSING
from spacetimedb.sats.algebraic_type import (
    AlgebraicType,
    ArrayType,
    ProductType,
    RefType,
    SumType,
    Typespace,
)

#: The first line of a refused plan (clients such as `spacetimedb dev` recognize a refusal by it).
MANUAL_MIGRATION = "This republish needs a manual migration (the stored rows cannot be carried over automatically):"
#: The options a refusal names; docs/modules.md ("Changing a published module") explains each.
DELETE_DATA_HINT = (
    "Options: change the module so that the change is automatic (e.g. a new column at the end with a default, "
    "or a new table), publish with --delete-data (-c) to start this database from empty tables, or publish under "
    "a new name and keep the old database running (see docs/modules.md, 'Changing a published module')"
)


@dataclass
class MigrationPlan:
    """The steps of an automatic migration, and the changes that prevent one."""

    steps: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def changes_layout(self) -> bool:
        """True when stored rows or tables differ, so the data must be carried over explicitly."""
        return any(s.startswith(("add table", "remove table", "add columns")) for s in self.steps)

    @property
    def disconnects_clients(self) -> bool:
        """True when connected clients must reconnect with the new schema: rows they decode change
        shape (columns added) or a table they may use is gone. Upstream's plan adds
        `DisconnectAllUsers` for exactly these (`AddColumns`, `RemoveTable`)."""
        return any(s.startswith(("add columns", "remove table")) for s in self.steps)

    def describe(self) -> str:
        lines = [f"  - {s}" for s in self.steps] or ["  (no schema changes)"]
        if self.errors:
            lines = [
                MANUAL_MIGRATION,
                *(f"  x {e}" for e in self.errors),
                DELETE_DATA_HINT,
            ]
        return "\n".join(lines)


def _same_type(
    a: AlgebraicType, ta: Typespace, b: AlgebraicType, tb: Typespace, seen: set[tuple[int, int]]
) -> bool:
    """Structural equality across two typespaces (refs resolved; recursive types terminate)."""
    if isinstance(a, RefType) and isinstance(b, RefType):
        if (a.idx, b.idx) in seen:
            return True
        seen.add((a.idx, b.idx))
        return _same_type(ta.types[a.idx], ta, tb.types[b.idx], tb, seen)
    if isinstance(a, RefType):
        return _same_type(ta.types[a.idx], ta, b, tb, seen)
    if isinstance(b, RefType):
        return _same_type(a, ta, tb.types[b.idx], tb, seen)
    if isinstance(a, ProductType) and isinstance(b, ProductType):
        return len(a.elements) == len(b.elements) and all(
            x.name == y.name and _same_type(x.algebraic_type, ta, y.algebraic_type, tb, seen)
            for x, y in zip(a.elements, b.elements, strict=True)
        )
    if isinstance(a, SumType) and isinstance(b, SumType):
        return len(a.variants) == len(b.variants) and all(
            x.name == y.name and _same_type(x.algebraic_type, ta, y.algebraic_type, tb, seen)
            for x, y in zip(a.variants, b.variants, strict=True)
        )
    if isinstance(a, ArrayType) and isinstance(b, ArrayType):
        return _same_type(a.elem_ty, ta, b.elem_ty, tb, seen)
    return a == b


def _unique_sets(t: TableDef) -> set[tuple[str, ...]]:
    cols = [c.name for c in t.schema.columns]
    return {tuple(cols[c] for c in ix.columns) for ix in t.schema.indexes if ix.unique}


def _plan_table(
    old: TableDef, new: TableDef, rows: int, old_def: ModuleDef, new_def: ModuleDef, plan: MigrationPlan
) -> None:
    name = new.name
    oc, nc = old.schema.columns, new.schema.columns
    for i, col in enumerate(oc):
        if i >= len(nc):
            plan.errors.append(
                f"removing column {col.name!r} from table {name!r} requires a manual migration"
            )
            continue
        if nc[i].name != col.name:
            plan.errors.append(
                f"table {name!r}: column {i} changed from {col.name!r} to {nc[i].name!r}; renaming or reordering "
                "columns requires a manual migration (add new columns at the end instead)"
            )
        elif not _same_type(
            col.algebraic_type, old_def.typespace, nc[i].algebraic_type, new_def.typespace, set()
        ):
            plan.errors.append(
                f"changing the type of column {col.name!r} in table {name!r} requires a manual migration"
            )
    added = nc[len(oc) :]
    if added:
        missing = [
            c.name for c, d in zip(added, new.decl.columns[len(oc) :], strict=True) if d.default is MISSING
        ]
        for col_name in missing:
            plan.errors.append(
                f"adding column {col_name!r} to table {name!r} requires a default value "
                f"(e.g. `{col_name}: int = 0`)"
            )
        if not missing:
            plan.steps.append(
                f"add columns {[c.name for c in added]} to table {name!r} (filled with their defaults)"
            )
    old_pk = oc[old.schema.primary_key].name if old.schema.primary_key is not None else None
    new_pk = nc[new.schema.primary_key].name if new.schema.primary_key is not None else None
    if old_pk != new_pk:
        if rows:
            plan.errors.append(
                f"changing the primary key of table {name!r} ({rows} rows) requires a manual migration"
            )
        else:
            plan.steps.append(f"change the primary key of empty table {name!r} to {new_pk!r}")
    for cols in sorted(_unique_sets(new) - _unique_sets(old)):
        if new_pk is not None and cols == (new_pk,) and old_pk != new_pk:
            continue
        plan.errors.append(
            f"adding a unique constraint on {name}({', '.join(cols)}) requires a manual migration"
        )
    for cols in sorted(_unique_sets(old) - _unique_sets(new)):
        plan.steps.append(f"relax the unique constraint on {name}({', '.join(cols)})")
    old_ix = {ix.name for ix in old.schema.indexes}
    new_ix = {ix.name for ix in new.schema.indexes}
    plan.steps += [f"add index {n}" for n in sorted(new_ix - old_ix)]
    plan.steps += [f"remove index {n}" for n in sorted(old_ix - new_ix)]
    if old.schema.public != new.schema.public:
        plan.steps.append(f"make table {name!r} {'public' if new.schema.public else 'private'}")
    if old.schema.is_event != new.schema.is_event:
        plan.errors.append(f"changing whether table {name!r} is an event table requires a manual migration")
    if old.schema.schedule_reducer != new.schema.schedule_reducer:
        plan.steps.append(f"schedule table {name!r} now fires {new.schema.schedule_reducer!r}")


def plan_migration(old: ModuleDef, new: ModuleDef, row_counts: dict[str, int] | None = None) -> MigrationPlan:
    """Compare two module definitions; `row_counts` (table name -> rows) decides what empty tables allow."""
    counts = row_counts or {}
    plan = MigrationPlan()
    old_tables = {t.name: t for t in old.tables}
    new_tables = {t.name: t for t in new.tables}
    for name, t in new_tables.items():
        if name not in old_tables:
            plan.steps.append(f"add table {name!r}")
        else:
            _plan_table(old_tables[name], t, counts.get(name, 0), old, new, plan)
    for name in old_tables.keys() - new_tables.keys():
        if counts.get(name, 0):
            plan.errors.append(
                f"removing table {name!r}, which has {counts[name]} rows, requires a manual migration"
            )
        else:
            plan.steps.append(f"remove table {name!r} (empty)")
    return plan


def _stored_default(new_def: ModuleDef, table: TableDef, col: int) -> Any:
    """A column default in the engine's stored (bare) form."""
    default = table.decl.columns[col].default
    encoded = bsatn.compile_node(table.column_nodes[col]).encode(default)
    return bsatn.compile(table.schema.columns[col].algebraic_type, new_def.typespace).decode(encoded)


def migrate_image(image: DatabaseImage, old: ModuleDef, new: ModuleDef) -> DatabaseImage:
    """The old database's rows and sequences laid out for the new module (its table ids, new columns
    filled with defaults). Call only with a plan that is `ok`."""
    old_by_name = {t.name: t for t in old.tables}
    tables: dict[int, list[Row]] = {}
    sequences: dict[tuple[int, int], int] = {}
    for t in new.tables:
        before = old_by_name.get(t.name)
        if before is None:
            tables[t.schema.table_id] = []
            continue
        rows = image.tables.get(before.schema.table_id, [])
        n_old = len(before.schema.columns)
        extra = tuple(_stored_default(new, t, c) for c in range(n_old, len(t.schema.columns)))
        tables[t.schema.table_id] = [tuple(r) + extra for r in rows] if extra else list(rows)
        for seq in t.schema.sequences:
            old_key = (before.schema.table_id, seq.column)
            if seq.column < n_old and old_key in image.sequences:
                sequences[(t.schema.table_id, seq.column)] = image.sequences[old_key]
            else:
                highest = max((r[seq.column] for r in tables[t.schema.table_id]), default=0)
                sequences[(t.schema.table_id, seq.column)] = max(seq.start, highest + seq.increment)
    return DatabaseImage(tables, sequences)
