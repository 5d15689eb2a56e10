"""A commit's TransactionUpdate is built once for all subscribers of the same queries: they get the
very same message bytes object (which the session then frames once: test_shared_frames), while a
client with other query sets, or the same query in two of its sets, gets its own, correct message."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from tests.server.fake_backend import FakeBackend

from spacetimedb.control.backend import CallResult
from spacetimedb.control.fanout import broadcast
from spacetimedb.control.subscriptions import SubscriptionManager

CALLER = bytes(31) + b"\x07"


@dataclass(eq=False)
class _Client:
    name: str
    identity: bytes = CALLER
    connection_id: int = 1


def _setup() -> tuple[FakeBackend, SubscriptionManager]:
    backend = FakeBackend()
    subs = SubscriptionManager(backend.tables)
    backend.set_commit_listener(subs)
    return backend, subs


def _subscribe(backend: FakeBackend, subs: SubscriptionManager, client: object, qs: int, *queries: str) -> None:
    plans = [p for q in queries for p in backend.compile_subscription(q, CALLER, False)]
    subs.add(client, qs, plans, queries, with_rows=False)


def _add(backend: FakeBackend, name: str) -> CallResult:
    result = backend.call_reducer("add", [name], caller=CALLER, connection_id=None, timestamp_us=1, args_format="json")
    assert result.committed
    return result


def _sent(subs: SubscriptionManager, result: CallResult) -> dict[object, bytes]:
    out: dict[object, bytes] = {}

    def send(sub: object, message: bytes, offset: int | None) -> None:
        assert sub not in out
        out[sub] = message

    broadcast(send, subs, result)  # type: ignore[arg-type]
    return out


def _query_set_ids(message: bytes) -> list[int]:
    """The query set ids of a TransactionUpdate, in order (enough of a decoder for these tests)."""
    assert message[0] == 4
    (count,) = struct.unpack_from("<I", message, 1)
    ids, pos = [], 5
    for _ in range(count):
        (qs,) = struct.unpack_from("<I", message, pos)
        ids.append(qs)
        (tables,) = struct.unpack_from("<I", message, pos + 4)
        pos += 8
        for _ in range(tables):
            (n,) = struct.unpack_from("<I", message, pos)
            pos += 4 + n
            (pieces,) = struct.unpack_from("<I", message, pos)
            pos += 4
            for _ in range(pieces):
                pos += 1 + _row_list_len(message, pos + 1) + _row_list_len(message, pos + 1 + _row_list_len(message, pos + 1))
    assert pos == len(message)
    return ids


def _row_list_len(data: bytes, pos: int) -> int:
    if data[pos] == 0:  # FixedSize(u16), rows: len-prefixed bytes
        (n,) = struct.unpack_from("<I", data, pos + 3)
        return 7 + n
    (offsets,) = struct.unpack_from("<I", data, pos + 1)
    (n,) = struct.unpack_from("<I", data, pos + 5 + 8 * offsets)
    return 9 + 8 * offsets + n


def test_subscribers_of_the_same_query_get_one_message_object() -> None:
    backend, subs = _setup()
    clients = [_Client(f"c{i}") for i in range(5)]
    for c in clients:
        _subscribe(backend, subs, c, 1, "SELECT * FROM person")
    sent = _sent(subs, _add(backend, "ann"))
    assert set(sent) == set(clients)
    first = sent[clients[0]]
    assert all(sent[c] is first for c in clients)
    assert _query_set_ids(first) == [1]


def test_different_query_sets_get_their_own_messages_in_query_set_order() -> None:
    backend, subs = _setup()
    same = [_Client("a"), _Client("b")]
    for c in same:
        _subscribe(backend, subs, c, 1, "SELECT * FROM person")
    other = _Client("other-qs")
    _subscribe(backend, subs, other, 9, "SELECT * FROM person")
    twice = _Client("twice")  # the same query in two of its sets: both sets are told, in order
    _subscribe(backend, subs, twice, 5, "SELECT * FROM person")
    _subscribe(backend, subs, twice, 2, "SELECT * FROM person WHERE name = 'ann'", "SELECT * FROM person")
    sent = _sent(subs, _add(backend, "ann"))
    assert sent[same[0]] is sent[same[1]]
    assert _query_set_ids(sent[same[0]]) == [1]
    assert _query_set_ids(sent[other]) == [9]
    assert _query_set_ids(sent[twice]) == [2, 5]
    # One query changed, two clients on query set 1 and one on 9: the fast path shares per set.
    sent = _sent(subs, _add(backend, "bob"))
    assert sent[same[0]] is sent[same[1]] and _query_set_ids(sent[other]) == [9]
    assert _query_set_ids(sent[twice]) == [2, 5]


def test_a_query_counted_twice_in_one_set_sends_its_rows_twice() -> None:
    backend, subs = _setup()
    client = _Client("dup")
    plans = backend.compile_subscription("SELECT * FROM person", CALLER, False)
    subs.add(client, 3, plans, ["SELECT * FROM person"], with_rows=False)
    entry = next(iter(subs._entries.values()))
    entry.subscribers[(client, 3)] = 2  # as two identical queries in two Subscribes would count
    sent = _sent(subs, _add(backend, "cy"))
    assert _query_set_ids(sent[client]) == [3]
    assert sent[client].count(b"cy") == 2  # the row, once per count


def test_the_shared_grouping_follows_every_change_of_a_querys_subscribers() -> None:
    """The one-list grouping of a query's subscribers is kept between commits (`QueryEntry.grouping`)
    and made again after each subscribe and unsubscribe: a new subscriber is sent the next update, a
    gone one is not, and one on another query set gets its own."""
    backend, subs = _setup()
    a, b, c, d = (_Client(n) for n in "abcd")
    for client in (a, b):
        _subscribe(backend, subs, client, 1, "SELECT * FROM person")
    assert set(_sent(subs, _add(backend, "ann"))) == {a, b}
    _subscribe(backend, subs, c, 1, "SELECT * FROM person")
    sent = _sent(subs, _add(backend, "bob"))
    assert set(sent) == {a, b, c} and sent[a] is sent[c]
    subs.remove(b, 1, with_rows=False)
    assert set(_sent(subs, _add(backend, "cy"))) == {a, c}
    _subscribe(backend, subs, d, 4, "SELECT * FROM person")
    sent = _sent(subs, _add(backend, "dee"))
    assert set(sent) == {a, c, d} and _query_set_ids(sent[d]) == [4] and _query_set_ids(sent[a]) == [1]
    subs.remove(d, 4, with_rows=False)
    subs.remove_subscriber(c)
    sent = _sent(subs, _add(backend, "eve"))
    assert set(sent) == {a} and _query_set_ids(sent[a]) == [1]
