"""The query layer: SQL parsing, ad-hoc evaluation, incremental subscription evaluation.

    catalog = Catalog(table_schemas, typespace)
    plan = compile_subscription("SELECT * FROM player WHERE id = 5", catalog, sender=identity)
    rows = plan.initial_rows(committed_state)
    inserts, deletes = plan.eval_delta(committed_state, tx_delta)

    registry = QueryRegistry(catalog)               # shared plans across clients
    plan_id, plan = registry.add(sql, sender=identity, is_owner=False)
    updates = registry.evaluate(tx_delta, committed_state)   # {plan_id: (inserts, deletes)}

    [result] = execute_sql(sql, catalog, tx_or_state, sender=identity, is_owner=True)  # /sql
    plan.initial_rows(state, RowBudget(1_000_000))   # SqlLimitError past the budget (docs/limits.md)

See docs/sql.md for the accepted SQL and its error messages.
"""

from spacetimedb.query.adhoc import SqlStats, SqlStmtResult, execute_sql
from spacetimedb.query.catalog import Catalog
from spacetimedb.query.errors import (
    SqlError,
    SqlExecutionError,
    SqlLimitError,
    SqlPermissionError,
    SqlPlanError,
    SqlPosition,
    SqlSyntaxError,
    SqlTypeError,
    SqlUnresolvedError,
    SqlUnsupportedError,
)
from spacetimedb.query.limits import RowBudget
from spacetimedb.query.query_registry import QueryRegistry
from spacetimedb.query.subscription import (
    SemiJoinPlan,
    SingleTablePlan,
    SubscriptionPlan,
    compile_all_tables,
    compile_subscription,
    is_subscribe_all,
)

__all__ = [
    "Catalog",
    "QueryRegistry",
    "RowBudget",
    "SemiJoinPlan",
    "SingleTablePlan",
    "SqlError",
    "SqlExecutionError",
    "SqlLimitError",
    "SqlPermissionError",
    "SqlPlanError",
    "SqlPosition",
    "SqlStats",
    "SqlStmtResult",
    "SqlSyntaxError",
    "SqlTypeError",
    "SqlUnresolvedError",
    "SqlUnsupportedError",
    "SubscriptionPlan",
    "compile_all_tables",
    "compile_subscription",
    "execute_sql",
    "is_subscribe_all",
]
