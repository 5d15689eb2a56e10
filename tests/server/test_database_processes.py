"""Each database in a process of its own (`--database-processes`, control/process_database.py and
control/database_process.py): the real host behind the front, a crash of one database process under
load, and what the other database and the clients see."""

from __future__ import annotations

import asyncio
import os
import signal
import struct
from pathlib import Path

import aiohttp
import pytest

from spacetimedb.control.errors import DatabaseStopped
from spacetimedb.control.process_database import RESTARTED_CLOSE_REASON, DatabaseProcess
from spacetimedb.server.app import Server

from .harness import RawClient, call, subscribe
from .server_messages import decode_frame

BANK = Path(__file__).resolve().parents[2] / "examples" / "bank.py"
ACCOUNTS = 10
START_BALANCE = 1_000_000


def _transfer(request_id: int, src: int, dst: int, amount: int) -> bytes:
    return call(request_id, "transfer", struct.pack("<IIq", src, dst, amount))


def run(tmp_path: Path, scenario, **kw):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        kw.setdefault("database_processes", True)
        server = Server(tmp_path / "data", **kw)
        port = await server.start()
        try:
            return await asyncio.wait_for(scenario(server, f"http://127.0.0.1:{port}"), 180)
        finally:
            await server.stop()

    return asyncio.run(main())


async def _seed(s: aiohttp.ClientSession, base: str, db: str, token: str) -> None:
    async with s.post(
        f"{base}/v1/database/{db}/call/seed", json=[ACCOUNTS, START_BALANCE], headers={"Authorization": f"Bearer {token}"}
    ) as r:
        assert r.status == 200, await r.text()


async def _balances(s: aiohttp.ClientSession, base: str, db: str, token: str) -> dict[int, int]:
    async with s.post(
        f"{base}/v1/database/{db}/sql", data="SELECT * FROM accounts", headers={"Authorization": f"Bearer {token}"}
    ) as r:
        assert r.status == 200, await r.text()
        [answer] = await r.json()
    return {int(row[0]): int(row[1]) for row in answer["rows"]}


async def _until_serving(s: aiohttp.ClientSession, base: str, db: str, token: str) -> dict[int, int]:
    for _ in range(300):
        try:
            return await _balances(s, base, db, token)
        except AssertionError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"{db} did not come back")


async def _publish_two_banks(server: Server) -> DatabaseProcess:
    """Publish the bank module as databases `a` and `b`; `a`'s process handle."""
    await server.publish_path("a", BANK)
    await server.publish_path("b", BANK)
    a = server.registry.databases["a"]
    assert isinstance(a, DatabaseProcess)
    return a


def test_databases_run_in_their_own_processes_and_serve_websocket_and_http(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        await server.publish_path("a", BANK)
        await server.publish_path("b", BANK)
        a, b = server.registry.databases["a"], server.registry.databases["b"]
        assert isinstance(a, DatabaseProcess) and isinstance(b, DatabaseProcess)
        assert a.pid != b.pid != os.getpid()
        token = server.owner.token
        async with aiohttp.ClientSession() as s:
            await _seed(s, base, "a", token)
            watcher = await RawClient.connect(s, base, db="a")
            await watcher.next()
            await watcher.send(subscribe(1, 1, "SELECT * FROM accounts WHERE id = 1"))
            applied = await watcher.next()
            assert applied["type"] == "SubscribeApplied"
            caller = await RawClient.connect(s, base, db="a")
            await caller.next()
            # Pipelined: 20 calls in one frame, each answered, in order.
            await caller.send(*[_transfer(i, 0, 1, 1) for i in range(20)])
            answers: list[dict[str, object]] = []
            while len(answers) < 20:
                answers += await caller.frame()
            assert [m["request_id"] for m in answers] == list(range(20))
            assert all("ok" in m for m in answers)
            updates = 0
            while updates < 20:
                updates += len(await watcher.frame())
            balances = await _balances(s, base, "a", token)
            assert balances[0] == START_BALANCE - 20 and balances[1] == START_BALANCE + 20
            # The other database is its own: it was never seeded.
            assert await _balances(s, base, "b", token) == {}
            async with s.get(f"{base}/v1/database/a/logs?num_lines=5", headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 200
            await caller.ws.close()
            await watcher.ws.close()

    run(tmp_path, scenario)


def test_a_killed_database_process_restarts_without_losing_acknowledged_transfers(tmp_path: Path) -> None:
    """kill -9 one database process under a bounded load of confirmed transfers: its clients are
    closed with 1011, the other database keeps answering, and after the restart every transfer that
    was acknowledged is in the data (confirmed reads: acknowledged only once durable)."""

    async def scenario(server: Server, base: str) -> None:
        a = await _publish_two_banks(server)
        token = server.owner.token
        async with aiohttp.ClientSession() as s:
            await _seed(s, base, "a", token)
            await _seed(s, base, "b", token)
            client = await RawClient.connect(s, base, db="a", query="compression=None&confirmed=true")
            await client.next()
            acknowledged = 0
            sent = 0
            killed = False
            closed: aiohttp.WSMessage | None = None
            request_id = 0
            for _ in range(400):  # bounded: at most 400 frames of 5 calls
                batch = [_transfer(request_id + i, 0, 1, 1) for i in range(5)]
                try:
                    await client.send(*batch)
                except ConnectionError:
                    pass  # closed meanwhile: the close frame is next
                else:
                    sent += 5
                request_id += 5
                if acknowledged >= 50 and not killed:
                    os.kill(a.pid, signal.SIGKILL)  # with these 5 in flight
                    killed = True
                    # The other database answers while this one is down.
                    for _ in range(5):
                        balances = await _balances(s, base, "b", token)
                        assert balances[0] == START_BALANCE
                got = 0
                while got < 5:
                    msg = await client.ws.receive(30)
                    if msg.type != aiohttp.WSMsgType.BINARY:
                        closed = msg
                        break
                    frame = decode_frame(msg.data)
                    got += len(frame)
                    acknowledged += sum(1 for m in frame if "ok" in m)
                if closed is not None:
                    break
            assert killed and closed is not None, "the client was not closed after the kill"
            if closed.type == aiohttp.WSMsgType.CLOSE:
                assert closed.data == 1011 and closed.extra == RESTARTED_CLOSE_REASON
            balances = await _until_serving(s, base, "a", token)
            applied = balances[1] - START_BALANCE
            print("acknowledged", acknowledged, "applied", applied, "sent", sent)
            assert acknowledged <= applied <= sent, (acknowledged, applied, sent)
            assert balances[0] + balances[1] == 2 * START_BALANCE
            assert a.generation == 2
            # And it serves clients again.
            again = await RawClient.connect(s, base, db="a")
            await again.next()
            await again.send(_transfer(7, 4, 5, 3))
            [result] = await again.frame()
            assert "ok" in result
            await again.ws.close()

    run(tmp_path, scenario)


def test_a_module_that_fails_to_load_is_a_publish_error_and_no_process_is_left(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('no such luck')\n")

    async def scenario(server: Server, base: str) -> None:
        with pytest.raises(Exception, match="no such luck"):
            await server.publish_path("bad", bad)
        assert "bad" not in server.registry.databases

    run(tmp_path, scenario)


DIES = '''
import os

from spacetimedb import ReducerContext, primary_key, reducer, table, u32
from typing import Annotated


@table(public=True)
class Hit:
    id: Annotated[u32, primary_key]


@reducer
def hit(ctx: ReducerContext, id: u32) -> None:
    ctx.db.hit.insert(Hit(id=id))


@reducer
def die(ctx: ReducerContext) -> None:
    os._exit(3)
'''


def test_a_process_that_keeps_dying_is_restarted_a_few_times_then_out_of_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spacetimedb.control import process_database

    monkeypatch.setattr(process_database, "RESTART_BACKOFF", (0.05, 0.05, 0.05))
    module = tmp_path / "dies.py"
    module.write_text(DIES)

    async def scenario(server: Server, base: str) -> None:
        await server.publish_path("dies", module)
        await server.publish_path("fine", BANK)
        owner = {"Authorization": f"Bearer {server.owner.token}"}
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{base}/v1/database/dies/call/hit", json=[1], headers=owner) as r:
                assert r.status == 200
            for attempt in range(process_database.MAX_RESTARTS + 1):
                async with s.post(f"{base}/v1/database/dies/call/die", json=[], headers=owner) as r:
                    assert r.status == 503, await r.text()
                if attempt < process_database.MAX_RESTARTS:
                    # Back, with the committed row recovered from its log.
                    for _ in range(100):
                        async with s.post(f"{base}/v1/database/dies/sql", data="SELECT * FROM hit", headers=owner) as r:
                            if r.status == 200:
                                [answer] = await r.json()
                                assert answer["rows"] == [[1]]
                                break
                        await asyncio.sleep(0.05)
                    else:
                        raise AssertionError("the database did not come back")
            await asyncio.sleep(0.5)
            async with s.post(f"{base}/v1/database/dies/sql", data="SELECT * FROM hit", headers=owner) as r:
                assert r.status == 503
                assert "out of service" in await r.text()
            # The other database never noticed.
            await _seed(s, base, "fine", server.owner.token)
            assert len(await _balances(s, base, "fine", server.owner.token)) == ACCOUNTS

    run(tmp_path, scenario)


@pytest.mark.parametrize("direction", ["to the database process", "to the front"])
def test_an_invalid_record_ends_only_that_link_and_the_database_restarts(tmp_path: Path, direction: str) -> None:
    """A record that is not valid (here: an unknown kind) ends that database's link on either side:
    the front keeps serving, the other database never notices, and the database comes back."""
    from spacetimedb.control import records

    async def scenario(server: Server, base: str) -> None:
        a = await _publish_two_banks(server)
        token = server.owner.token
        async with aiohttp.ClientSession() as s:
            await _seed(s, base, "a", token)
            client = await RawClient.connect(s, base, db="a")
            await client.next()
            link = a._link
            assert link is not None
            garbage = records.HEADER.pack(3, 250, 0) + b"bad"
            if direction == "to the database process":
                link.transport.write(garbage)
            else:  # as if the database process had written it
                link.transport.get_protocol().data_received(garbage)  # type: ignore[attr-defined]
            msg = await client.ws.receive(30)
            assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1011 and msg.extra == RESTARTED_CLOSE_REASON
            await _seed(s, base, "b", token)  # the other database serves throughout
            balances = await _until_serving(s, base, "a", token)
            assert len(balances) == ACCOUNTS and a.generation == 2

    run(tmp_path, scenario)


HOG = '''
from spacetimedb import ReducerContext, reducer


@reducer
def hog(ctx: ReducerContext) -> None:
    ballast = bytearray(16 * 1024 * 1024 * 1024)
    ballast[-1] = 1


@reducer
def fine(ctx: ReducerContext) -> None:
    pass
'''


def test_a_database_process_memory_limit_fails_the_call_that_exceeds_it(tmp_path: Path) -> None:
    """`--database-memory-limit`: an allocation past the cap fails that call (MemoryError, rolled
    back); the database keeps serving."""
    from spacetimedb.control.process_database import ProcessOptions

    module = tmp_path / "hog.py"
    module.write_text(HOG)

    async def scenario(server: Server, base: str) -> None:
        await server.publish_path("hog", module)
        owner = {"Authorization": f"Bearer {server.owner.token}"}
        db = server.registry.databases["hog"]
        assert isinstance(db, DatabaseProcess)
        with open(f"/proc/{db.pid}/limits") as f:
            [line] = [x for x in f if x.startswith("Max address space")]
        assert line.split()[3] == str(2 * 1024 * 1024 * 1024)
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{base}/v1/database/hog/call/hog", json=[], headers=owner) as r:
                assert r.status >= 500 and "MemoryError" in await r.text()
            async with s.post(f"{base}/v1/database/hog/call/fine", json=[], headers=owner) as r:
                assert r.status == 200
        assert db.generation == 1

    run(tmp_path, scenario, database_processes=ProcessOptions(memory_limit=2 * 1024 * 1024 * 1024))


class _Session:
    """A client as the front holds it, with a ClientSession's confirmed-read rule: a message waits
    until its commit's offset is durable (`ConfirmedReads.hold`)."""

    def __init__(self, db: DatabaseProcess) -> None:
        self.reads = db.confirmed_reads
        self.outbox: list[tuple[int, bytes]] = []
        self.delivered: list[bytes] = []
        self.closed: tuple[int, str] | None = None

    def enqueue(self, message: bytes, tx_offset: int | None = None) -> bool:
        self.outbox.append((-1 if tx_offset is None else tx_offset, message))
        return tx_offset is not None

    def flush(self) -> None:
        while self.outbox:
            offset = self.outbox[0][0]
            if offset > self.reads.durable_offset:
                self.reads.hold(self, offset)
                return
            self.delivered.append(self.outbox.pop(0)[1])

    confirmed = True

    def send_shared(self, message: bytes, tx_offset: int | None = None, flush: bool = True) -> None:
        self.outbox.append((-1, message))  # its commit is durable: it waits only behind the others
        if flush:
            self.flush()

    def fail(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def handled(self, count: int) -> None:
        pass


@pytest.mark.parametrize("direct", [True, False], ids=["callback", "future"])
def test_the_front_releases_a_message_only_once_durable_says_its_commit_is(direct: bool) -> None:
    """Confirmed reads across the process boundary: a SEND for tx offset 5 reaches the client only
    after a DURABLE record of at least 5 (the database process sends its messages before the fsync).
    The front's waiter is the link's `RemoteDurability` (its `call_when_durable` callback, released
    as the record is read) or, as before, a future per offset."""
    from types import SimpleNamespace

    from spacetimedb.control import records
    from spacetimedb.control.hosted_database import DatabaseInfo
    from spacetimedb.control.process_database import ProcessOptions, _Link

    async def main() -> None:
        spec = SimpleNamespace(info=DatabaseInfo("x", b"\x01" * 32, b"\x02" * 32))
        db = DatabaseProcess(spec, ProcessOptions())
        link = _Link(SimpleNamespace(), SimpleNamespace(), SimpleNamespace())  # type: ignore[arg-type]
        db._link = link
        db.confirmed_reads.rebind(link.durability if direct else link.durability.wait)
        db.confirmed_reads.durable_now = link.durability.now
        session = _Session(db)
        unconfirmed = _Session(db)
        link.conns[1] = session  # type: ignore[assignment]
        link.conns[2] = unconfirmed  # type: ignore[assignment]
        K = records.Kind
        db._received(link, [(K.SEND, 0, records.send_payload(5, [1], b"reply")),
                            (K.SEND, 0, records.send_payload(None, [2], b"no offset"))])
        await asyncio.sleep(0)
        assert session.delivered == [] and unconfirmed.delivered == [b"no offset"]
        db._received(link, [(K.DURABLE, 0, records.i64_payload(4))])
        for _ in range(3):
            await asyncio.sleep(0)
        assert session.delivered == []
        db._received(link, [(K.DURABLE, 0, records.i64_payload(5))])
        for _ in range(3):
            await asyncio.sleep(0)
        assert session.delivered == [b"reply"]
        # An update for several clients crosses once and reaches each.
        link.conns[3] = third = _Session(db)  # type: ignore[assignment]
        db._received(link, [(K.SEND, 0, records.send_payload(5, [1, 3], b"update"))])
        assert session.delivered[-1] == b"update" and third.delivered == [b"update"]
        # A reply that crosses with the DURABLE record covering it leaves at once (no loop turn later);
        # one for a newer commit in the same batch still waits.
        db._received(link, [(K.SEND, 0, records.send_payload(6, [1], b"six")),
                            (K.SEND, 0, records.send_payload(7, [3], b"seven")),
                            (K.DURABLE, 0, records.i64_payload(6))])  # fmt: skip
        assert session.delivered[-1] == b"six" and third.delivered == [b"update"]
        db._received(link, [(K.DURABLE, 0, records.i64_payload(7))])
        if not direct:
            for _ in range(3):
                await asyncio.sleep(0)
        assert third.delivered == [b"update", b"seven"]
        # The link ends: what still waits is failed, not released.
        db._received(link, [(K.SEND, 0, records.send_payload(9, [3], b"nine"))])
        link.durability.fail(DatabaseStopped("gone"))  # (as `_link_down` does)
        for _ in range(3):
            await asyncio.sleep(0)
        assert third.delivered == [b"update", b"seven"] and third.closed is not None

    asyncio.run(main())
