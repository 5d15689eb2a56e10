"""Differential tests: one Python module, one call sequence, two hosts.

Each module in `examples/*.py` and the sdk-test port (`tests/sdk_conformance/sdk_test_module.py`)
runs on our native host (`ModuleHost`, in process) and, as the bundle `spacetimedb build` makes of
it, in the sealed imitation of SpacetimeDB's V8 host (`tests/sealed_host/`). The module definition
bytes must be equal, and after every call the outcome (ok, sender error with its message, or
error), what the call logged below error level, a view's data or a procedure's return value, and
every table's rows (BSATN, sorted) must be equal too.

Bundles are built once and kept in pytest's cache (`.pytest_cache`), keyed by the module and the
package sources (a Pyodide bundle is ~18 MB and starts in seconds). Until
`spacetimedb build` exists the sealed half is skipped; `test_scenarios_run_natively` keeps the
call sequences themselves honest without node, and hand-written stand-ins for a bundle of
`examples/bank.py` (one faithful, one not) check the comparison itself.
"""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.sealed_host.sealed import SealedCall, SealedHost, node_available

from spacetimedb import bsatn
from spacetimedb.bsatn import compile as compile_codec
from spacetimedb.host.module_host import ModuleHost
from spacetimedb.host.results import ReducerCallResult, ReducerStatus
from spacetimedb.module.export import module_def_bsatn
from spacetimedb.module.loader import load_module
from spacetimedb.module.module_def import ModuleDef
from spacetimedb.module.runner import FailureKind, ViewError
from spacetimedb.sats import algebraic_type as at
from spacetimedb.sats.special import ConnectionId, Identity, Timestamp

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py"))
SDK_MODULE = ROOT / "tests" / "sdk_conformance" / "sdk_test_module.py"
MODULES = [*EXAMPLES, SDK_MODULE]

DB_IDENTITY = 0xC200_1111_2222_3333_4444_5555_6666_7777_8888_9999_AAAA_BBBB_CCCC_DDDD_EEEE_0001
START = 1_735_689_600_000_000  # 2025-01-01T00:00:00Z in microseconds
BUILD_TIMEOUT_S = 600
#: Built as users publish them, with the Pyodide memory snapshot (a build of ~25 s here); the others
#: with `--no-snapshot` (a build of ~3 s, a slower start): the same module code either way.
SNAPSHOT_MODULES = {"quickstart_chat"}

#: Where the two hosts are known to differ, and why. The exact comparison is a strict xfail (it
#: must keep failing until the difference is resolved); the module is compared again with the
#: difference neutralised (`NativeRun(upstream_rng=True)`).
KNOWN_DIFFERENCES = {
    "simple_game": "ctx.random: the native host seeds it from the timestamp and the transaction offset, the bundle "
    "as upstream's module libraries do, from the timestamp alone",
}


def who(name: str) -> int:
    """A stable u256 identity for a test user name."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=32).digest(), "little")


def conn(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=16).digest(), "little") or 1


OWNER = who("owner")


@dataclass(frozen=True)
class Step:
    """One call: a reducer (`name`, its arguments as BSATN bytes or as a Python tuple to encode)
    or a lifecycle event (`kind` init/connect/disconnect)."""

    kind: str
    name: str = ""
    args: tuple[Any, ...] | bytes = ()
    user: str = "alice"

    @property
    def sender(self) -> int:
        return OWNER if self.kind == "init" else who(self.user)  # who("owner") is OWNER

    @property
    def connection_id(self) -> int:
        return 0 if self.kind == "init" else conn(self.user)


def init() -> Step:
    return Step("init")


def connect(user: str) -> Step:
    return Step("connect", user=user)


def disconnect(user: str) -> Step:
    return Step("disconnect", user=user)


def call(name: str, *args: Any, user: str = "alice") -> Step:
    return Step("reducer", name, args, user)


def view(name: str, user: str = "alice") -> Step:
    return Step("view", name, (), user)


def procedure(name: str, *args: Any, user: str = "alice") -> Step:
    return Step("procedure", name, args, user)


# ---- generated arguments (the sdk-test port has too many reducers to write each call by hand) ----


def generated_args(ty: at.AlgebraicType, typespace: at.Typespace, seed: int) -> bytes:
    """Deterministic BSATN of one value of `ty`, varied by `seed` (small ints, short strings,
    one-element arrays, a sum's first variant: `Some`, `Interval`, ...)."""
    ty = typespace.resolve(ty) if isinstance(ty, at.RefType) else ty
    if isinstance(ty, at.PrimitiveType):
        kind = ty.kind.name
        if kind == "Bool":
            return bytes([seed % 2])
        if kind == "String":
            return _string(f"s{seed}")
        if kind == "F32":
            return struct.pack("<f", seed + 0.5)
        if kind == "F64":
            return struct.pack("<d", seed + 0.25)
        width = {"8": 1, "16": 2, "32": 4, "64": 8, "128": 16, "256": 32}[kind[1:]]
        return (seed % 100).to_bytes(width, "little")
    if isinstance(ty, at.ArrayType):
        return (1).to_bytes(4, "little") + generated_args(ty.elem_ty, typespace, seed)
    if isinstance(ty, at.ProductType):
        return b"".join(generated_args(e.algebraic_type, typespace, seed + i) for i, e in enumerate(ty.elements))
    if isinstance(ty, at.SumType):
        return b"\x00" + generated_args(ty.variants[0].algebraic_type, typespace, seed) if ty.variants else b""
    raise TypeError(f"cannot generate a value of {ty!r}")


def _string(s: str) -> bytes:
    b = s.encode()
    return len(b).to_bytes(4, "little") + b


def every_reducer(module: ModuleDef) -> list[Step]:
    """Every client-callable reducer, with seeds 1, 1 again (duplicates: unique violations, set
    semantics) and 2; as two users."""
    steps: list[Step] = []
    for rd in module.reducers.values():
        if rd.lifecycle is not None or rd.schedule_table is not None:
            continue
        for seed, user in ((1, "alice"), (1, "alice"), (2, "bob")):
            steps.append(Step("reducer", rd.name, generated_args(rd.params, module.typespace, seed), user))
    return steps


# ---- the call sequences ----

SCENARIOS: dict[str, Callable[[ModuleDef], list[Step]]] = {
    "bank": lambda m: [
        init(),
        call("seed", 3, 100),
        call("transfer", 0, 1, 30),
        call("transfer", 1, 1, 5),  # same account: a sender error
        call("transfer", 0, 2, 1_000),  # overdraft
        call("transfer", 0, 9, 5),  # no such account
        call("transfer", 2, 0, 100),
    ],
    "quickstart_chat": lambda m: [
        init(),
        connect("alice"),
        connect("bob"),
        call("set_name", "Alice"),
        call("set_name", "", user="bob"),  # empty name: rejected
        call("send_message", "hello"),
        call("send_message", "", user="bob"),
        call("send_message", "hi alice", user="bob"),
        disconnect("bob"),
        disconnect("alice"),
    ],
    "money_exchange": lambda m: [
        init(),
        connect("alice"),
        connect("bob"),
        call("set_name", "alice"),
        call("set_name", "bob", user="bob"),
        call("transfer", Identity(who("bob")), 500),
        call("transfer", Identity(who("bob")), 10**12),  # more than alice has
        call("transfer", Identity(who("carol")), 1),  # no such account
        view("my_account"),
        view("my_account_changes"),
        view("my_account", user="bob"),
        view("my_account", user="carol"),  # no account: None
        disconnect("alice"),
    ],
    "price_feed": lambda m: [
        init(),
        call("set_price", "ABC", 1234),
        procedure("stored_price", "ABC"),
        call("set_price", "ABC", 1250),
        call("set_price", "XYZ", 7),
        procedure("stored_price", "ABC"),
        procedure("stored_price", "NOPE"),  # None
    ],
    "simple_game": lambda m: [
        init(),
        connect("alice"),
        call("join_game", "alice"),
        call("join_game", "alice"),  # already joined
        call("move_player", 1.5, -2.0),
        call("heal_player", 5.0),
        call("pick_up_item", "potion"),
        call("use_item", "potion"),
        call("use_item", "sword"),
        call("join_game", "bob", user="bob"),
        call("attack_player", "bob"),
        call("leave_game"),
        call("reset_game"),
    ],
    "webhook": lambda m: [
        init(),
        call("set_webhook_secret", "s3cret"),  # only the owner may
        call("set_webhook_secret", "s3cret", user="owner"),
        call("set_webhook_secret", "", user="owner"),
    ],
    "sdk_test_module": lambda m: [init(), connect("alice"), *every_reducer(m), disconnect("alice")],
}


# ---- the two hosts ----


#: upstream's console_log levels (`crates/core/src/database_logger.rs` LogLevel) by name.
LOG_LEVELS = {0: "error", 1: "warn", 2: "info", 3: "debug", 4: "trace", 5: "panic"}


@dataclass
class Outcome:
    outcome: str
    message: str | None = None
    #: What the call logged below error level, as (level, message) (error records carry a
    #: traceback or a JS stack, host-specific).
    logs: list[tuple[str, str]] = field(default_factory=list)
    #: A view's data (header first) or a procedure's BSATN return value.
    result: bytes | None = None

    def comparable(self) -> tuple[str, str | None, bytes | None]:
        # Internal errors carry a traceback or a JS stack: compare their kind, not their text.
        return (self.outcome, self.message if self.outcome == "sender_error" else None, self.result)


class NativeRun:
    def __init__(self, path: Path, *, upstream_rng: bool = False) -> None:
        self.module = load_module(path)
        self.host = ModuleHost(self.module, identity=Identity(DB_IDENTITY), owner=Identity(OWNER))
        if upstream_rng:
            # Seed ctx.random from the timestamp alone, as upstream's libraries and the bundle do
            # (the native host salts it with the transaction offset): a test-only override.
            run = self.host.runner.run_reducer
            self.host._run_reducer = lambda tx, fn, v, name, who, cid, ts, salt, auth=None: run(  # type: ignore[method-assign]
                tx, fn, v, name, who, cid, ts, 0, auth
            )
        self.codecs = {t.name: compile_codec(t.schema.row_type, self.module.typespace) for t in self.module.tables}

    def args(self, step: Step, params: at.ProductType | None = None) -> bytes:
        if isinstance(step.args, bytes):
            return step.args
        if params is None:
            fns = self.module.procedures if step.kind == "procedure" else self.module.reducers
            params = fns[step.name].params
        return bsatn.encode(step.args, params, self.module.typespace)

    def run(self, step: Step, ts: int) -> Outcome:
        before = len(self.host.log.records())
        outcome = self._run(step, ts)
        outcome.logs = [(r.level, r.message) for r in self.host.log.records()[before:] if r.level not in ("error", "panic")]
        return outcome

    def _run(self, step: Step, ts: int) -> Outcome:
        stamp = Timestamp(ts)
        sender, cid = Identity(step.sender), ConnectionId(step.connection_id)
        result: ReducerCallResult
        if step.kind == "view":
            return self._view(step, stamp)
        if step.kind == "procedure":
            p = self.host.call_procedure(step.name, self.args(step), caller=sender, connection_id=cid, timestamp=stamp)
            return _outcome(p.status, p.error, p.bsatn if p.status is ReducerStatus.COMMITTED else None)
        if step.kind == "init":
            result = self.host.init(timestamp=stamp)
        elif step.kind == "connect":
            result = self.host.client_connected(sender, cid, timestamp=stamp)
        elif step.kind == "disconnect":
            result = self.host.client_disconnected(sender, cid, timestamp=stamp)
        else:
            result = self.host.call_reducer(step.name, self.args(step), caller=sender, connection_id=cid, timestamp=stamp)
        return _outcome(result.status, result.error)

    def _view(self, step: Step, stamp: Timestamp) -> Outcome:
        """The view's rows as upstream's `__call_view__` data: ViewResultHeader::RowData, then
        the `Vec<T>` or `Option<T>` the view returns."""
        vdef = self.module.view(step.name)
        try:
            rows = self.host.runner.run_view(vdef, self.host.db, sender=Identity(step.sender), timestamp=stamp)
        except ViewError as e:
            kind = "sender_error" if e.failure.kind is FailureKind.SENDER_ERROR else "error"
            return Outcome(kind, e.failure.message)
        codec = compile_codec(vdef.row_product, self.module.typespace)
        if vdef.returns_list:
            body = len(rows).to_bytes(4, "little") + b"".join(codec.encode(r) for r in rows)
        else:
            body = b"\x00" + codec.encode(rows[0]) if rows else b"\x01"
        return Outcome("ok", result=b"\x00" + body)

    def describe(self) -> bytes:
        return module_def_bsatn(self.module, wrapped=True)

    def tables(self) -> dict[str, list[bytes]]:
        out: dict[str, list[bytes]] = {}
        for t in self.module.tables:
            codec = self.codecs[t.name]
            out[t.name] = sorted(codec.encode(row) for row in self.host.db.table(t.schema.table_id).rows())
        return out


def _outcome(status: ReducerStatus, error: str | None, result: bytes | None = None) -> Outcome:
    if status is ReducerStatus.COMMITTED:
        return Outcome("ok", result=result)
    return Outcome("sender_error" if status is ReducerStatus.USER_ERROR else "error", error)


def sealed_outcome(c: SealedCall) -> Outcome:
    logs = [(LOG_LEVELS.get(level, str(level)), m) for level, m in c.logs]
    return Outcome(c.outcome, c.message, [x for x in logs if x[0] not in ("error", "panic")], c.result)


def run_sealed(host: SealedHost, native: NativeRun, step: Step, ts: int) -> Outcome:
    if step.kind == "view":
        return sealed_outcome(host.call_view(step.name, sender=step.sender, timestamp=ts))
    if step.kind == "procedure":
        args = native.args(step, native.module.procedures[step.name].params)
        return sealed_outcome(
            host.call_procedure(step.name, args, sender=step.sender, connection_id=step.connection_id, timestamp=ts)
        )
    if step.kind == "reducer":
        return sealed_outcome(
            host.call_reducer(step.name, native.args(step), sender=step.sender, connection_id=step.connection_id, timestamp=ts)
        )
    event = {"init": "init", "connect": "connect", "disconnect": "disconnect"}[step.kind]
    return sealed_outcome(host.lifecycle(event, sender=step.sender, connection_id=step.connection_id, timestamp=ts))


def scenario(path: Path, module: ModuleDef) -> list[Step]:
    return SCENARIOS[path.stem](module)


# ---- tests ----


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_scenarios_run_natively(path: Path) -> None:
    """Every call sequence names real reducers with well-typed arguments, and most calls commit."""
    native = NativeRun(path)
    steps = scenario(path, native.module)
    outcomes = [native.run(step, START + i * 1_000_000) for i, step in enumerate(steps)]
    assert sum(o.outcome == "ok" for o in outcomes) >= len(outcomes) // 2, outcomes


def build_command() -> list[str]:
    return [sys.executable, "-m", "spacetimedb.cli.main", "build"]


def build_available() -> str | None:
    """None when `spacetimedb build` works here, else why the sealed half is skipped."""
    if not node_available():
        return "node or tests/node/node_modules is missing (run scripts/test)"
    probe = subprocess.run([*build_command(), "--help"], capture_output=True, text=True, timeout=120)
    if probe.returncode != 0 and "No such command 'build'" in probe.stderr:
        return "`spacetimedb build` is not available yet (issue 13, item 1)"
    if probe.returncode != 0:  # there but broken (e.g. a dependency missing): a failure, not a skip
        pytest.fail(f"`spacetimedb build --help` failed:\n{probe.stderr[-2000:]}")
    return None


def source_digest() -> str:
    """What a bundle is built from besides the module: the package's sources (Python, the JS
    entry, the npm toolchain's lockfile)."""
    h = hashlib.sha256()
    for f in sorted((ROOT / "src" / "spacetimedb").rglob("*")):
        if f.is_file() and f.suffix in {".py", ".mjs", ".js", ".json"} and "node_modules" not in f.parts:
            h.update(str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="session")
def bundles(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[Path], Path]]:
    """Builds each module's bundle once, kept in pytest's cache keyed by the module and the
    package sources, so a rerun with nothing changed builds nothing (CI runs with the cache
    provider off, `-p no:cacheprovider`: then a temporary directory of this session)."""
    reason = build_available()
    if reason is not None:
        pytest.skip(reason)
    cache = getattr(request.config, "cache", None)
    out_dir = Path(cache.mkdir("sealed-bundles")) if cache is not None else tmp_path_factory.mktemp("sealed-bundles")
    sources = source_digest()
    built: dict[Path, Path] = {}

    def bundle(path: Path) -> Path:
        if path in built:
            return built[path]
        snapshot = path.stem in SNAPSHOT_MODULES
        key = hashlib.sha256(sources.encode() + path.read_bytes() + bytes([snapshot])).hexdigest()[:20]
        target = out_dir / f"{path.stem}-{key}.js"
        if not target.exists():
            for stale in out_dir.glob(f"{path.stem}-*.js"):
                stale.unlink()
            partial = target.with_suffix(".partial.js")
            proc = subprocess.run(
                [*build_command(), "--module-path", str(path), "-o", str(partial), *([] if snapshot else ["--no-snapshot"])],
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT_S,
                cwd=ROOT,
            )
            assert proc.returncode == 0, f"spacetimedb build {path.name} failed:\n{proc.stdout}\n{proc.stderr}"
            partial.rename(target)
        built[path] = target
        return target

    yield bundle


def differences(path: Path, bundle: Path, steps: list[Step] | None = None, *, upstream_rng: bool = False) -> list[str]:
    """Runs the call sequence on both hosts; [] when they agree, else what differed first."""
    native = NativeRun(path, upstream_rng=upstream_rng)
    with SealedHost() as sealed:
        sealed.start(bundle, identity=DB_IDENTITY)
        if sealed.describe() != native.describe():
            return ["module definitions differ"]
        if sealed.tables() != native.tables():
            return ["tables differ before any call"]
        for i, step in enumerate(scenario(path, native.module) if steps is None else steps):
            ts = START + i * 1_000_000
            want = native.run(step, ts)
            got = run_sealed(sealed, native, step, ts)
            where = f"step {i} {step.kind} {step.name} as {step.user}"
            found = []
            if got.comparable() != want.comparable():
                found.append(f"{where}: sealed {got.comparable()} ({got.message}), native {want.comparable()} ({want.message})")
            if got.logs != want.logs:
                found.append(f"{where}: logs differ: sealed {got.logs}, native {want.logs}")
            theirs, ours = sealed.tables(), native.tables()
            if theirs != ours:
                changed = sorted(name for name in ours if theirs.get(name) != ours[name])
                found.append(f"{where}: tables differ: {changed}")
            if found:
                return found
    return []


def _agree_params() -> list[Any]:
    return [
        pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=KNOWN_DIFFERENCES[p.stem]))
        if p.stem in KNOWN_DIFFERENCES
        else p
        for p in MODULES
    ]


@pytest.mark.node
@pytest.mark.slow
@pytest.mark.parametrize("path", _agree_params(), ids=lambda p: p.stem)
def test_native_and_sealed_agree(path: Path, bundles: Callable[[Path], Path]) -> None:
    assert differences(path, bundles(path)) == []


@pytest.mark.node
@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in MODULES if p.stem in KNOWN_DIFFERENCES], ids=lambda p: p.stem)
def test_native_and_sealed_agree_but_for_the_known_difference(path: Path, bundles: Callable[[Path], Path]) -> None:
    assert differences(path, bundles(path), upstream_rng=True) == []


# ---- the comparison itself, on hand-written stand-ins for a bundle of examples/bank.py ----

BANK_STANDIN = """
import * as sys from 'spacetime:sys@2.0';
import { datastore_clear } from 'spacetime:sys@2.1';
const DEF = new Uint8Array(%(def)s);
const REDUCERS = %(reducers)s;
const CHECK_SAME = %(check_same)s;
class SenderError extends Error {}
const errors = new Map();
const errorClass = (code) => errors.get(code) ?? errors.set(code, class extends Error {}).get(code);
const row = (id, balance) => {
  const b = new ArrayBuffer(12); const v = new DataView(b);
  v.setUint32(0, id, true); v.setBigInt64(4, balance, true); return b;
};
function find(index, id) {
  const key = new ArrayBuffer(4); new DataView(key).setUint32(0, id, true);
  const iter = sys.datastore_index_scan_point_bsatn(index, key, 4);
  const buf = new ArrayBuffer(64);
  const n = sys.row_iter_bsatn_advance(iter, buf);
  return n === 0 ? null : new DataView(buf).getBigInt64(4, true);
}
function call(name, args, sender) {
  const t = sys.table_id_from_name('accounts');
  const ix = sys.index_id_from_name('%(index)s');
  if (name === 'seed') {
    datastore_clear(t);
    for (let i = 0; i < args.getUint32(0, true); i++) sys.datastore_insert_bsatn(t, row(i, args.getBigInt64(4, true)), 12);
    return;
  }
  const from = args.getUint32(0, true), to = args.getUint32(4, true), amount = args.getBigInt64(8, true);
  if (CHECK_SAME && from === to) throw new SenderError('cannot transfer to the same account');
  if (amount <= 0n) throw new SenderError('amount must be positive');
  const src = find(ix, from);
  if (src === null) throw new SenderError(`account ${from} does not exist`);
  const dst = find(ix, to);
  if (dst === null) throw new SenderError(`account ${to} does not exist`);
  if (src < amount) throw new SenderError(`insufficient funds: account ${from} has ${src}, needs ${amount}`);
  sys.datastore_update_bsatn(t, ix, row(from, src - amount), 12);
  sys.datastore_update_bsatn(t, ix, row(to, dst + amount), 12);
}
export default { [sys.moduleHooks]: () => ({
  __describe_module__: () => DEF,
  __get_error_constructor__: errorClass,
  __sender_error_class__: SenderError,
  __call_reducer__(id, sender, conn, ts, args) { call(REDUCERS[id], args, sender); },
  __call_view__() {}, __call_view_anon__() {}, __call_procedure__() {},
}) };
"""


def bank_standin(tmp_path: Path, *, check_same: bool) -> Path:
    module = load_module(ROOT / "examples" / "bank.py")
    bundle = tmp_path / f"bank-{check_same}.mjs"
    source = BANK_STANDIN % {
        "def": list(module_def_bsatn(module, wrapped=True)),
        "reducers": json.dumps(list(module.reducers)),
        "index": module.tables[0].schema.indexes[0].name,
        "check_same": "true" if check_same else "false",
    }
    bundle.write_text(source, encoding="utf-8")
    return bundle


@pytest.mark.node
@pytest.mark.skipif(not node_available(), reason="node or tests/node/node_modules is missing (run scripts/test)")
def test_the_comparison_passes_a_faithful_bundle_and_catches_a_divergent_one(tmp_path: Path) -> None:
    bank = ROOT / "examples" / "bank.py"
    assert differences(bank, bank_standin(tmp_path, check_same=True)) == []
    # Without the same-account check, transfer(1, 1, 5) commits (and mints 5) instead of failing.
    found = differences(bank, bank_standin(tmp_path, check_same=False))
    assert len(found) == 2 and all(f.startswith("step 3 reducer transfer as alice") for f in found), found
    assert "('ok', None, None)" in found[0] and "'cannot transfer to the same account'" in found[0]
    assert "tables differ: ['accounts']" in found[1]
