"""Procedures in process: declaration, export, `with_tx` commit/rollback, the HTTP client and its
rules (no HTTP inside a transaction, policy, size limit), through the testing harness and a real
loopback HTTP server."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import pytest

from spacetimedb import (
    HttpError,
    HttpRequest,
    HttpResponse,
    ProcedureContext,
    ReducerContext,
    ScheduleAt,
    SenderError,
    TimeDuration,
    auto_inc,
    primary_key,
    procedure,
    reducer,
    table,
    u32,
    u64,
)
from spacetimedb.host.module_host import ModuleHost
from spacetimedb.host.results import UnknownReducerError
from spacetimedb.module.export import decode_module_def_bsatn
from spacetimedb.module.http_client import HttpPolicy, UrllibTransport
from spacetimedb.module.module_def import ModuleDef
from spacetimedb.sats.errors import SchemaError
from spacetimedb.testing import FakeHttp, ProcedureInternalError, ProcedureUserError, TestDatabase, identity

ROOT = Path(__file__).resolve().parents[2]


@table(name="pnote", public=True)
class PNote:
    id: Annotated[u32, primary_key]
    text: str


@procedure
def add_note(ctx: ProcedureContext, id: u32, text: str) -> u32:
    ctx.with_tx(lambda tx: tx.db.pnote.insert(PNote(id=id, text=text)))
    return id * 2


@procedure
def failing_tx(ctx: ProcedureContext, id: u32) -> str:
    def body(tx: ReducerContext) -> None:
        tx.db.pnote.insert(PNote(id=id, text="x"))
        raise ValueError("boom")

    try:
        ctx.with_tx(body)
    except ValueError as e:
        return f"caught {e}"
    return "not caught"


@procedure
def http_in_tx(ctx: ProcedureContext) -> None:
    ctx.with_tx(lambda tx: ctx.http.get("http://example.invalid/"))


@procedure
def fetch(ctx: ProcedureContext, url: str) -> str:
    resp = ctx.http.send(HttpRequest("POST", url, {"x-test": "1"}, b"ping", 2.0))
    if resp.status != 200:
        raise SenderError(f"status {resp.status}")
    return resp.text()


@procedure
def get_text(ctx: ProcedureContext, url: str) -> str:
    return ctx.http.get(url, headers={"accept": "text/plain"}).text()


@procedure
def who(ctx: ProcedureContext) -> str:
    return ctx.sender.to_hex()


MODULE = ModuleDef.build([PNote, add_note, failing_tx, http_in_tx, fetch, get_text, who], "procs")


def test_with_tx_commits_and_returns_value() -> None:
    db = TestDatabase(MODULE)
    assert db.call_procedure("add_note", 3, "hi") == 6
    assert [r.text for r in db.table("pnote")] == ["hi"]
    assert db.commits[-1].reducer == "add_note"


def test_with_tx_rolls_back_and_reraises() -> None:
    db = TestDatabase(MODULE)
    assert db.call_procedure("failing_tx", 1) == "caught boom"
    assert db.table("pnote") == []


def test_http_inside_a_transaction_is_refused() -> None:
    db = TestDatabase(MODULE)
    with pytest.raises(ProcedureInternalError, match="not allowed inside a transaction"):
        db.call_procedure("http_in_tx")


def test_fake_http_and_sender_error() -> None:
    fake = FakeHttp({"http://svc/ok": "pong", "http://svc/bad": HttpResponse(503, {}, b"")})
    db = TestDatabase(MODULE, http=fake)
    assert db.call_procedure("fetch", "http://svc/ok") == "pong"
    assert fake.requests[0].method == "POST" and fake.requests[0].body == b"ping"
    with pytest.raises(ProcedureUserError, match="status 503"):
        db.call_procedure("fetch", "http://svc/bad")
    with pytest.raises(ProcedureInternalError, match="HttpError"):
        db.call_procedure("fetch", "http://svc/none")


def test_sender_is_the_caller() -> None:
    db = TestDatabase(MODULE)
    assert db.call_procedure("who", sender=identity("alice")) == identity("alice").to_hex()


def test_policy_disables_and_allow_lists() -> None:
    fake = FakeHttp({"http://svc/ok": "pong"})
    db = TestDatabase(MODULE, http=fake, http_policy=HttpPolicy.parse("off"))
    with pytest.raises(ProcedureInternalError, match="disabled"):
        db.call_procedure("fetch", "http://svc/ok")
    db = TestDatabase(MODULE, http=fake, http_policy=HttpPolicy.parse("other.example"))
    with pytest.raises(ProcedureInternalError, match="allow-list"):
        db.call_procedure("fetch", "http://svc/ok")
    db = TestDatabase(MODULE, http=fake, http_policy=HttpPolicy.parse("svc"))
    assert db.call_procedure("fetch", "http://svc/ok") == "pong"


def test_export_has_the_procedures_section() -> None:
    raw = decode_module_def_bsatn(MODULE.raw_module_def_bsatn())
    sections = {s.tag: s.value for s in raw.sections}  # type: ignore[union-attr]
    procs = {p.source_name: p for p in sections["Procedures"]}
    assert set(procs) == {"add_note", "failing_tx", "http_in_tx", "fetch", "get_text", "who"}
    assert [e.name for e in procs["add_note"].params.elements] == ["id", "text"]


def test_declaration_errors() -> None:
    with pytest.raises(SchemaError, match="return annotation"):

        @procedure
        def no_return(ctx: ProcedureContext):  # type: ignore[no-untyped-def]
            return 1


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/big":
            body = b"x" * 2048
        elif self.path.startswith("/price/"):
            body = b"12345"
        else:
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        n = int(self.headers.get("content-length", "0"))
        data = self.rfile.read(n)
        body = b"echo:" + data + b":" + self.headers.get("x-test", "").encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_real_transport_to_loopback(loopback: str) -> None:
    db = TestDatabase(MODULE, http=UrllibTransport())
    assert db.call_procedure("fetch", f"{loopback}/echo") == "echo:ping:1"
    small = TestDatabase(MODULE, http=UrllibTransport(), http_policy=HttpPolicy(max_response_bytes=1000))
    with pytest.raises(ProcedureInternalError, match="exceeds the 1000-byte limit"):
        small.call_procedure("get_text", f"{loopback}/big")
    assert small.call_procedure("get_text", f"{loopback}/price/x") == "12345"


def test_refused_connection_is_an_http_error() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(HttpError):
        UrllibTransport().send(
            HttpRequest("GET", f"http://127.0.0.1:{port}/"), timeout=2.0, max_response_bytes=10
        )


def test_price_feed_example(loopback: str) -> None:
    db = TestDatabase.load(ROOT / "examples" / "price_feed.py", http=UrllibTransport())
    assert db.call_procedure("fetch_price", "BTC", f"{loopback}/price") == 12345
    assert db.call_procedure("stored_price", "BTC") == 12345
    assert db.call_procedure("stored_price", "ETH") is None
    with pytest.raises(ProcedureUserError, match="answered 404"):
        db.call_procedure("fetch_price", "BTC", f"{loopback}/nothing")


def test_host_returns_bsatn() -> None:
    host = ModuleHost(MODULE)
    r = host.call_procedure("add_note", (4, "x"), caller=identity("a"), args_format="python", http=FakeHttp())
    assert r.ok and r.value == 8 and r.bsatn == (8).to_bytes(4, "little")


@table(name="fetch_job", scheduled="fetch_job_run")
class FetchJob:
    scheduled_id: Annotated[u64, primary_key, auto_inc]
    scheduled_at: ScheduleAt
    url: str


@procedure(name="fetch_job_run")
def fetch_job_run(ctx: ProcedureContext, job: FetchJob) -> None:
    text = ctx.http.get(job.url).text()
    ctx.with_tx(lambda tx: tx.db.pnote.insert(PNote(id=tx.db.pnote.count() + 1, text=text)))


@reducer
def schedule_fetch(ctx: ReducerContext, url: str) -> None:
    ctx.db.fetch_job.insert(FetchJob(scheduled_id=0, scheduled_at=ScheduleAt(TimeDuration(1_000_000)), url=url))


SCHEDULED = ModuleDef.build([PNote, FetchJob, fetch_job_run, schedule_fetch], "sched_procs")


def test_a_schedule_table_fires_a_procedure() -> None:
    fake = FakeHttp({"http://svc/tick": "tick"})
    db = TestDatabase(SCHEDULED, http=fake)
    db.call("schedule_fetch", "http://svc/tick")
    db.advance(2.5)
    assert [r.text for r in db.table("pnote")] == ["tick", "tick"]
    assert len(fake.requests) == 2
    assert db.log_messages("error") == []
    # Private, as a scheduled reducer: clients cannot call it, the export says so.
    with pytest.raises(UnknownReducerError):
        db.call_procedure("fetch_job_run", FetchJob(scheduled_id=0, scheduled_at=ScheduleAt(TimeDuration(1)), url="x"))
    raw = decode_module_def_bsatn(SCHEDULED.raw_module_def_bsatn())
    sections = {s.tag: s.value for s in raw.sections}  # type: ignore[union-attr]
    [proc] = sections["Procedures"]
    assert proc.visibility.tag == "Private"
    [sched] = sections["Schedules"]
    assert sched.function_name == "fetch_job_run"


def test_a_scheduled_procedure_must_take_its_row() -> None:
    @table(name="bad_job", scheduled="bad_job_run")
    class BadJob:
        scheduled_id: Annotated[u64, primary_key, auto_inc]
        scheduled_at: ScheduleAt

    @procedure(name="bad_job_run")
    def bad_job_run(ctx: ProcedureContext) -> None:
        pass

    with pytest.raises(SchemaError, match="must take exactly one argument"):
        ModuleDef.build([BadJob, bad_job_run], "bad")
