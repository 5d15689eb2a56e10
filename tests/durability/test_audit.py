import os

from spacetimedb.durability.audit import read_transactions
from spacetimedb.durability.database_durability import LOG_DIR, DatabaseDurability
from spacetimedb.durability.policy import FsyncPolicy
from spacetimedb.durability.segment_format import list_segments
from spacetimedb.durability.tx_payload import ReducerCallInfo

from .bank import CODECS, new_db, open_accounts, transfer


def test_audit_reads_calls_and_never_modifies_a_torn_log(tmp_path) -> None:
    d = str(tmp_path)
    dur = DatabaseDurability.open(d, policy=FsyncPolicy.off())
    db = new_db()
    dur.attach(db, CODECS)
    dur.record_commit(0, open_accounts(db, 3, 10))
    for off in range(1, 6):
        dur.record_commit(off, transfer(db, 0, 1, 1), ReducerCallInfo("transfer", 5, 6, 1000 + off, b"args"))
    dur.close()
    txs = list(read_transactions(d))
    assert [o for o, _ in txs] == list(range(6))
    assert txs[0][1].reducer is None
    assert txs[3][1].reducer == ReducerCallInfo("transfer", 5, 6, 1003, b"args")
    assert [o for o, _ in read_transactions(d, after_offset=3)] == [4, 5]
    seg = os.path.join(d, LOG_DIR, list_segments(os.path.join(d, LOG_DIR))[-1][1])
    size = os.path.getsize(seg)
    os.truncate(seg, size - 3)
    assert [o for o, _ in read_transactions(d)] == list(range(5))
    assert os.path.getsize(seg) == size - 3, "an audit read must not cut the log"
