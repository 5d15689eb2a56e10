"""DatabaseDurability as a ModuleHost commit listener: recovery restores the module's data,
and the log is an audit trail of every committed call."""

import os
import struct
from pathlib import Path

from spacetimedb.durability.database_durability import LOG_DIR, DatabaseDurability
from spacetimedb.durability.log_reader import replay_log
from spacetimedb.durability.row_codecs import row_codecs
from spacetimedb.durability.tx_payload import decode_tx_payload
from spacetimedb.engine import Database
from spacetimedb.host.module_host import ModuleHost
from spacetimedb.module.loader import load_module
from spacetimedb.sats.special import ConnectionId, Identity, Timestamp

BANK = Path(__file__).resolve().parents[2] / "examples" / "bank.py"


def start(d: str) -> tuple[DatabaseDurability, ModuleHost]:
    module = load_module(BANK)
    dur = DatabaseDurability.open(d)
    db = Database(module.table_schemas)
    dur.attach(db, row_codecs(module.table_schemas, module.typespace))  # load before the host reads it
    host = ModuleHost(module, db, next_tx_offset=dur.next_tx_offset)
    host.add_commit_listener(dur.on_reducer_result)
    return dur, host


def balances(host: ModuleHost) -> dict[int, int]:
    table_id = host.module.table_schemas[0].table_id
    return {r[0]: r[1] for r in host.db.scan(table_id)}


def test_host_commits_are_recovered_and_audited(tmp_path) -> None:
    d = str(tmp_path)
    alice = Identity(12345)
    dur, host = start(d)
    host.call_reducer("seed", struct.pack("<Iq", 4, 100), caller=alice)
    conn = ConnectionId(99)
    for i in range(10):
        res = host.call_reducer("transfer", struct.pack("<IIq", i % 4, (i + 1) % 4, 5), caller=alice,
                                connection_id=conn, timestamp=Timestamp(1_000 + i))
        assert res.committed
    failed = host.call_reducer("transfer", struct.pack("<IIq", 1, 1, 5), caller=alice)
    assert not failed.committed  # rolled back: not logged
    expected = balances(host)
    last = host.next_tx_offset - 1
    dur.close()

    dur2, host2 = start(d)
    assert balances(host2) == expected
    assert dur2.recovered.tx_offset == last and host2.next_tx_offset == last + 1
    dur2.close()

    audit = []
    replay_log(os.path.join(d, LOG_DIR), lambda off, p: audit.append((off, decode_tx_payload(p))))
    calls = [p.reducer for _, p in audit if p.reducer is not None and p.reducer.name == "transfer"]
    assert len(calls) == 10
    assert calls[3].caller_identity == 12345 and calls[3].caller_connection_id == 99
    assert calls[3].timestamp_us == 1_003 and calls[3].args == struct.pack("<IIq", 3, 0, 5)
