"""`spacetimedb build` bundles in the sealed imitation of SpacetimeDB's V8 host (tests/sealed_host).

The differential tests there compare every example against the native host call by call; these
check what the bundle itself promises: its imports, the describe bytes, rows written through the
sys functions (auto-increment written back), errors as upstream classifies them, what Python
prints and logs reaching `console_log`, views and a procedure's transaction.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.sealed_host.sealed import SealedHost

from spacetimedb.bsatn import compile as compile_codec
from spacetimedb.cli.js_bundle import ALLOWED_IMPORTS, static_imports
from spacetimedb.module.loader import load_module
from spacetimedb.sats.special import Identity, Timestamp
from spacetimedb.sats.widths import u64

pytestmark = [pytest.mark.node, pytest.mark.slow]

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
CHAT = ROOT / "examples" / "quickstart_chat.py"
SMALL = HERE / "bundle_module.py"
ALICE = 0xA11CE
DB = 0xC2000000000000000000000000000000000000000000000000000000000000DB
TS = 1_735_689_600_000_000


@pytest.fixture(scope="module")
def chat(bundle_of: Callable[[Path], Path]) -> Iterator[SealedHost]:
    with SealedHost() as host:
        host.start(bundle_of(CHAT), identity=DB)
        yield host


@pytest.fixture(scope="module")
def small(bundle_of: Callable[[Path], Path]) -> Iterator[SealedHost]:
    with SealedHost() as host:
        host.start(bundle_of(SMALL), identity=DB)
        yield host


def test_the_only_imports_are_the_sys_modules(bundle_of: Callable[[Path], Path]) -> None:
    source = bundle_of(CHAT).read_text(encoding="utf-8")  # upstream requires UTF-8
    imports = static_imports(source)
    assert imports <= ALLOWED_IMPORTS and "spacetime:sys@2.0" in imports, imports
    assert "entry_default as default" in source


def test_describe_is_the_native_export(chat: SealedHost) -> None:
    assert chat.describe() == load_module(CHAT).raw_module_def_bsatn(10, wrapped=True)


def test_reducers_write_rows_and_sender_errors_are_user_errors(chat: SealedHost) -> None:
    assert chat.lifecycle("connect", sender=ALICE, connection_id=7, timestamp=TS).ok
    text = compile_codec(str)
    sent = chat.call_reducer("send_message", text.encode("hello"), sender=ALICE, connection_id=7, timestamp=TS + 1)
    assert sent.ok, sent
    assert any("hello" in m for _, m in sent.logs)  # ctx.log.info reached console_log
    message = compile_codec(tuple[Identity, Timestamp, str])
    assert [message.decode(r) for r in chat.tables()["message"]] == [(Identity(ALICE), Timestamp(TS + 1), "hello")]
    empty = chat.call_reducer("send_message", text.encode(""), sender=ALICE, connection_id=7, timestamp=TS + 2)
    assert (empty.outcome, empty.message) == ("sender_error", "Messages must not be empty")
    assert len(chat.tables()["message"]) == 1


def test_print_logging_and_auto_increment(small: SealedHost) -> None:
    name = compile_codec(str)
    first = small.call_reducer("add", name.encode("a"), sender=ALICE, timestamp=TS)
    second = small.call_reducer("add", name.encode("b"), sender=ALICE, timestamp=TS + 1)
    assert first.ok and second.ok, (first, second)
    logs = [m for _, m in second.logs]
    assert "print: adding b" in logs  # print() -> console_log
    assert any("logging: adding b" in m for m in logs)  # stdlib logging -> console_log
    assert "ctx.log: b got id 2" in logs  # the host's sequence value, written back
    assert sorted(_item(r) for r in small.tables()["item"]) == [(1, "a"), (2, "b")]


def _item(data: bytes) -> tuple[int, str]:
    return compile_codec(tuple[u64, str]).decode(data)  # type: ignore[no-any-return]


def test_errors_roll_back(small: SealedHost) -> None:
    before = small.tables()
    refused = small.call_reducer("refuse", sender=ALICE, timestamp=TS + 10)
    assert (refused.outcome, refused.message) == ("sender_error", "refused on purpose")
    crashed = small.call_reducer("crash", sender=ALICE, timestamp=TS + 11)
    assert crashed.outcome == "error" and "ValueError: a bug in the module" in (crashed.message or "")
    assert any("Traceback" in m for _, m in crashed.logs)  # the traceback is logged, as natively
    assert small.tables() == before


def test_a_stdlib_module_imported_at_call_time(small: SealedHost) -> None:
    # A module the snapshot does not hold is imported from the bundle's stdlib zip at call time.
    late = small.call_reducer("late_import", sender=ALICE, timestamp=TS + 30)
    assert late.ok, late
    assert "late 1/3" in [_item(r)[1] for r in small.tables()["item"]]


def test_rng_comes_from_the_reducer_context(small: SealedHost) -> None:
    # Math.random throws in the host; ctx.rng is seeded from the call's timestamp, as natively.
    rolled = small.call_reducer("roll", sender=ALICE, timestamp=TS + 20)
    assert rolled.ok, rolled
    want = f"roll {random.Random(TS + 20).randrange(1_000_000)}"
    assert want in [_item(r)[1] for r in small.tables()["item"]]


def test_view_and_procedure(small: SealedHost) -> None:
    rows = small.tables()["item"]
    view = small.call_view("all_items")
    assert view.ok and view.result is not None, view
    assert view.result[0] == 0  # ViewResultHeader::RowData
    assert int.from_bytes(view.result[1:5], "little") == len(rows)
    proc = small.call_procedure("count_items", sender=ALICE, timestamp=TS + 30)
    assert proc.ok and proc.result == len(rows).to_bytes(8, "little"), proc


def test_sender_auth_reads_the_jwt_from_the_host(small: SealedHost) -> None:
    who = {"sender": str(ALICE), "connection_id": "9", "timestamp": str(TS + 40), "args": ""}
    with_token = small.request("call_reducer", reducer="whoami", jwt='{"sub": "ada", "iss": "https://auth.example"}', **who)
    assert with_token["outcome"] == "ok" and "subject ada" in [x["message"] for x in with_token["logs"]], with_token
    without = small.request("call_reducer", reducer="whoami", **who)
    assert "no token" in [x["message"] for x in without["logs"]], without


def test_procedure_http_goes_through_the_host(small: SealedHost) -> None:
    # The sealed host answers every procedure_http_request with HTTP_ERROR (it has no network).
    url = compile_codec(str)
    proc = small.call_procedure("fetch", url.encode("http://example.invalid/x"), sender=ALICE, timestamp=TS + 50)
    assert proc.ok and proc.result is not None, proc
    text = url.decode(proc.result)
    assert text.startswith("HttpError: GET http://example.invalid/x failed"), text


def test_a_package_directory_builds_and_runs(bundle_of: Callable[[Path], Path], tmp_path: Path) -> None:
    pkg = tmp_path / "shop"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .tables import Product\nfrom .reducers import add_product\n")
    (pkg / "tables.py").write_text(
        "from spacetimedb import table, primary_key\nfrom typing import Annotated\n\n"
        "@table(name='product', public=True)\nclass Product:\n    name: Annotated[str, primary_key]\n    price: int\n"
    )
    (pkg / "reducers.py").write_text(
        "from spacetimedb import reducer, ReducerContext\nfrom .tables import Product\n\n"
        "@reducer\ndef add_product(ctx: ReducerContext, name: str, price: int) -> None:\n"
        "    ctx.db.product.insert(Product(name=name, price=price))\n"
    )
    bundle = bundle_of(pkg)
    with SealedHost() as host:
        host.start(bundle, identity=DB)
        assert host.describe() == load_module(pkg).raw_module_def_bsatn(10, wrapped=True)
        args = compile_codec(tuple[str, int]).encode(("tea", 3))
        assert host.call_reducer("add_product", args, sender=ALICE, timestamp=TS).ok
        assert [compile_codec(tuple[str, int]).decode(r) for r in host.tables()["product"]] == [("tea", 3)]
