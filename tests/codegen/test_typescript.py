"""TypeScript codegen: the bindings compile with tsc against the pinned SDK and load in Node."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.codegen.chat_module_def import chat_module_def
from tests.codegen.ts_project import compile_project, run_node, ts_project

from spacetimedb.codegen.module_view import load_module_view
from spacetimedb.codegen.typescript import CodegenError, camel_case, generate_typescript, pascal_case
from spacetimedb.module.loader import load_module
from spacetimedb.sats.algebraic_type import U8, product, sum_of

INSPECT = """
import { DbConnection, reducers, tables } from './bindings';
const conn = DbConnection.builder();
const mod = (conn as any).remoteModule ?? (conn as any).__remoteModule;
const out: any = { reducers: Object.keys(reducers), tables: Object.keys(tables) };
console.log(JSON.stringify(out));
"""


def test_layout_matches_the_official_generator() -> None:
    files = generate_typescript(load_module_view(chat_module_def()))
    assert set(files) == {
        "user_table.ts",
        "message_table.ts",
        "set_name_reducer.ts",
        "send_message_reducer.ts",
        "types.ts",
        "types/reducers.ts",
        "types/procedures.ts",
        "index.ts",
    }
    # Lifecycle reducers are not callable by clients, so they get no bindings.
    assert "identity_connected" not in files["index.ts"]
    assert "identity: __t.identity().primaryKey()" in files["user_table.ts"]
    assert "__t.option(__t.string())" in files["user_table.ts"]
    assert "__reducerSchema('set_name', SetNameReducer)" in files["index.ts"]


def test_names_follow_the_official_case_rules() -> None:
    assert camel_case("user_id") == "userId"
    assert camel_case("LeaderboardEntry") == "leaderboardEntry"
    assert pascal_case("send_message") == "SendMessage"


def test_anonymous_products_are_refused_with_the_field_named() -> None:
    from spacetimedb.codegen.typescript import TypeScriptGenerator

    view = load_module_view(chat_module_def())
    gen = TypeScriptGenerator(view)
    with pytest.raises(CodegenError, match=r"t\.pos"):
        gen.builder(product(("x", U8)), "t.pos")
    with pytest.raises(CodegenError):
        gen.builder(sum_of(("a", U8), ("b", U8)), "t.kind")


@pytest.mark.node
def test_bindings_compile_and_load_with_the_sdk() -> None:
    files = {f"bindings/{k}": v for k, v in generate_typescript(load_module_view(chat_module_def())).items()}
    files["inspect.ts"] = INSPECT
    with ts_project(files) as root:
        result = compile_project(root)
        assert result.returncode == 0, result.stdout + result.stderr
        run = run_node(root / "out" / "inspect.js")
        assert run.returncode == 0, run.stderr
        out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["reducers"] == ["setName", "sendMessage"]
    assert sorted(out["tables"]) == ["message", "user"]


GAME = Path(__file__).resolve().parents[2] / "examples" / "simple_game.py"


def test_scheduled_reducers_get_bindings_only_with_include_private() -> None:
    """As the official generator: upstream's validation makes scheduled reducers private."""
    view = load_module_view(load_module(GAME).raw_module_def_json())
    public = generate_typescript(view)
    assert "game_tick_reducer.ts" not in public and "gameTick" not in public["index.ts"]
    assert "__reducerSchema('join_game', JoinGameReducer)" in public["index.ts"]
    private = generate_typescript(view, include_private=True)
    assert "__reducerSchema('game_tick', GameTickReducer)" in private["index.ts"]


def test_column_names_only_in_table_rows() -> None:
    """`.name()` makes a column builder, which `__t.object` and reducer params cannot hold (the
    SDK's serializer then reads `.algebraicType` of undefined): only `__t.row` gets it."""
    files = generate_typescript(load_module_view(load_module(GAME).raw_module_def_json()), include_private=True)
    assert '.name("started_at")' in files["game_state_table.ts"]
    assert ".name(" not in files["types.ts"]
    assert not any(".name(" in text for name, text in files.items() if name.endswith("_reducer.ts"))


EXCHANGE = Path(__file__).resolve().parents[2] / "examples" / "money_exchange.py"

VIEWS_INSPECT = """
import { DbConnection, tables } from './bindings';
import MyAccountRow from './bindings/my_account_table';
import type { Infer } from 'spacetimedb';
type Row = Infer<typeof MyAccountRow>;
const check: (r: Row) => bigint = (r) => r.balanceCents;
void check;
// The official generator's accessors: camelCase, and the deprecated snake_case alias.
export function both(conn: DbConnection): [Row | undefined, Row | undefined, number, number] {
  const a = [...conn.db.myAccount.iter()][0];
  const b = [...conn.db.my_account.iter()][0];
  return [a, b, Number(conn.db.myAccountChanges.count()), Number(conn.db.my_account_changes.count())];
}
console.log(JSON.stringify({ tables: Object.keys(tables) }));
"""


def test_views_are_read_only_tables_in_the_official_layout() -> None:
    files = generate_typescript(load_module_view(load_module(EXCHANGE).raw_module_def_json()))
    # One row file per view, as for a table, and no reducer-like files for views.
    assert {"my_account_table.ts", "my_account_changes_table.ts", "directory_table.ts"} <= set(files)
    assert "account_table.ts" not in files  # the private tables stay out
    row = files["my_account_table.ts"]
    assert "identity: __t.identity().primaryKey()," in row  # the view's primary key (the table's)
    assert 'balanceCents: __t.u64().name("balance_cents"),' in row
    index = files["index.ts"]
    assert "  myAccount: __table(\n    {\n      name: 'my_account',\n      indexes: [],\n      constraints: [],\n" in index
    assert "import MyAccountChangesRow from './my_account_changes_table';" in index
    # The deprecated snake_case accessors the official generator adds (conn.db.my_account).
    assert "  my_account: 'myAccount',\n  my_account_changes: 'myAccountChanges',\n} as const;" in index
    assert "this.db = __withTableAccessorAliases(this.db) as DbView;" in index


@pytest.mark.node
def test_view_bindings_compile_and_load_with_the_sdk() -> None:
    raw = load_module(EXCHANGE).raw_module_def_json()
    files = {f"bindings/{k}": v for k, v in generate_typescript(load_module_view(raw)).items()}
    files["inspect.ts"] = VIEWS_INSPECT
    with ts_project(files) as root:
        result = compile_project(root)
        assert result.returncode == 0, result.stdout + result.stderr
        run = run_node(root / "out" / "inspect.js")
        assert run.returncode == 0, run.stderr
        out = json.loads(run.stdout.strip().splitlines()[-1])
    assert sorted(out["tables"]) == ["directory", "myAccount", "myAccountChanges", "my_account", "my_account_changes"]
